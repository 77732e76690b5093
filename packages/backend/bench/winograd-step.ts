/**
 * Same-process A/B of whole training steps with the Winograd convolutions
 * (src/conv-winograd.ts) on and off (`WINOGRAD.use`), on bench:peer's small
 * CNN (conv 3×3×32, pool, conv 3×3×64, pool, dense 128, dense 10; batch 128)
 * built with tfjs-layers and tfjs's SGD. Rounds alternate the order; the figure
 * is the median over rounds of off ms / on ms. Usage:
 * `tsx bench/bundled.ts winograd-step` (from packages/backend). Prints JSON lines.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { WINOGRAD } from '../src/conv-winograd';
import { initBackend } from '../src/node';

await initBackend('wasm');

function cnn(shape: number[]): tfl.Sequential {
  const m = tfl.sequential();
  m.add(tfl.layers.conv2d({ inputShape: shape, filters: 32, kernelSize: 3, activation: 'relu' }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.flatten());
  m.add(tfl.layers.dense({ units: 128, activation: 'relu' }));
  m.add(tfl.layers.dense({ units: 10 }));
  return m;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const rounds = Number(process.env.AB_ROUNDS ?? 15);

for (const shape of [
  [28, 28, 1],
  [32, 32, 3],
]) {
  const model = cnn(shape);
  const xs = tf.randomUniform([128, ...shape]);
  const ys = tf.tidy(() => tf.oneHot(tf.randomUniform([128], 0, 10, 'int32'), 10).toFloat());
  const opt = tf.train.sgd(0.01);
  const time = (use: boolean) => {
    WINOGRAD.use = use;
    const start = performance.now();
    const loss = opt.minimize(
      () => tf.losses.softmaxCrossEntropy(ys, model.apply(xs) as tf.Tensor) as tf.Scalar,
      true,
    );
    loss!.dataSync();
    loss!.dispose();
    return performance.now() - start;
  };
  for (let i = 0; i < 3; i++) time(i % 2 === 0);
  const on: number[] = [];
  const off: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      on.push(time(true));
      off.push(time(false));
    } else {
      off.push(time(false));
      on.push(time(true));
    }
    ratios.push(off.at(-1)! / on.at(-1)!);
  }
  WINOGRAD.use = true;
  console.log(
    JSON.stringify({
      step: `small CNN ${shape.join('×')}, batch 128`,
      onMs: +median(on).toFixed(1),
      offMs: +median(off).toFixed(1),
      speedup: +median(ratios).toFixed(2),
    }),
  );
  tf.dispose([xs, ys]);
  model.dispose();
  opt.dispose();
}
