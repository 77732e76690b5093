import * as tf from '@tensorflow/tfjs-core';

/**
 * The paper's MNIST MLP (784 → 128 × `hidden` ReLU → 10) as raw variables,
 * with He-initialised weights and one batch of random inputs and labels, all
 * from fixed seeds.
 */
export function paperMlp(options: { hidden?: number; batch?: number; seed?: number } = {}) {
  const hidden = options.hidden ?? 6;
  const batch = options.batch ?? 128;
  const seed = options.seed ?? 0;
  const widths = [784, ...Array.from({ length: hidden }, () => 128), 10];
  const variables: tf.Variable[] = [];
  for (let l = 0; l + 1 < widths.length; l++) {
    const [fanIn, fanOut] = [widths[l]!, widths[l + 1]!];
    variables.push(
      tf.variable(tf.randomNormal([fanIn, fanOut], 0, Math.sqrt(2 / fanIn), 'float32', seed + l)),
      tf.variable(tf.zeros([fanOut])),
    );
  }
  const xs = tf.randomUniform([batch, 784], 0, 1, 'float32', seed + 1000);
  const ys = tf.oneHot(
    tf.randomUniform([batch], 0, 10, 'int32', seed + 1001) as tf.Tensor1D,
    10,
  ) as tf.Tensor2D;
  const loss = (b: { xs: tf.Tensor; ys: tf.Tensor }) =>
    tf.tidy(() => {
      let a: tf.Tensor = b.xs;
      for (let l = 0; l < variables.length; l += 2) {
        a = tf.add(tf.matMul(a as tf.Tensor2D, variables[l] as tf.Tensor2D), variables[l + 1]!);
        if (l + 2 < variables.length) a = tf.relu(a);
      }
      return tf.losses.softmaxCrossEntropy(b.ys, a) as tf.Scalar;
    });
  return { variables, loss, data: [{ xs, ys }], dispose: () => tf.dispose([...variables, xs, ys]) };
}
