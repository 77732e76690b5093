import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { createModel } from '@usam/models';
import { plain } from '@usam/optimizer';
await import('@tensorflow/tfjs-layers');
await initBackend('wasm');
const model = createModel('cnn', { inputShape: [28, 28, 1], seed: 1 });
const xs = tf.randomUniform([128, 28, 28, 1]);
const ys = tf.oneHot(tf.randomUniform([128], 0, 10, 'int32'), 10).toFloat();
const opt = plain({ params: model, base: tf.train.sgd(0.01) });
const loss = () => tf.tidy(() => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar);
for (let i = 0; i < 3; i++) await opt.step(loss);
const info = await tf.profile(() => opt.step(loss));
for (const k of info.kernels) {
  if (['Identity', 'Add', 'AddN', 'Conv2DBackpropFilter','Conv2D','Conv2DBackpropInput','MaxPoolGrad','Relu','BatchMatMul','Sum','Multiply','Sub'].includes(k.name))
    console.log(k.name, JSON.stringify(k.inputShapes), k.kernelTimeMs, (k as any).extraInfo ?? '');
}
