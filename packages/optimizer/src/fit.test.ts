import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, expect, it } from 'vitest';
import { asTfOptimizer } from './fit';
import { frobSam } from './instances';
import { sam } from './sam';
import { batchNormModel } from './test-helpers';

beforeAll(async () => {
  await initBackend('cpu');
});

const setup = batchNormModel;

const xs = () => tf.randomNormal([16, 4], 0, 1, 'float32', 5);
const ys = () => tf.randomNormal([16, 3], 0, 1, 'float32', 6);

it('one model.fit epoch with Frob-SAM equals the same steps by hand, BatchNorm statistics included, bit for bit', async () => {
  const [x, y] = [xs(), ys()];
  const options = { base: tf.train.sgd(0.1), rho: 0.05, lambda: 0.1, samples: 2, seed: 3 };

  const fitted = setup();
  const optimizer = frobSam({ ...options, params: fitted.m });
  fitted.m.compile({
    optimizer: asTfOptimizer(optimizer),
    loss: 'meanSquaredError',
    metrics: ['mse'],
  });
  const history = await fitted.m.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });

  // The same two batches through step, with tfjs-layers' mean squared error written out.
  const stepped = setup();
  const reference = frobSam({ ...options, base: tf.train.sgd(0.1), params: stepped.m });
  const losses: number[] = [];
  for (const start of [0, 8]) {
    const xb = tf.slice(x, start, 8);
    const yb = tf.slice(y, start, 8);
    const stats = await reference.step(() =>
      tf.tidy(() => {
        const out = stepped.m.apply(xb, { training: true }) as tf.Tensor;
        return tf.mean(tf.mean(tf.square(tf.sub(out, yb)), -1)) as tf.Scalar;
      }),
    );
    losses.push(stats.loss);
    tf.dispose([xb, yb]);
  }
  expect(fitted.weights()).toEqual(stepped.weights()); // moving mean and variance included
  expect(optimizer.counters).toEqual(reference.counters);
  expect(optimizer.counters.gradientEvaluations).toBe(2 * 3);
  // fit reports the mean of the clean batch losses, and the clean pass's metrics.
  expect(history.history.loss![0]).toBeCloseTo((losses[0]! + losses[1]!) / 2, 6);
  expect(history.history.mse![0]).toBeCloseTo((losses[0]! + losses[1]!) / 2, 6);
  tf.dispose([x, y]);
  fitted.m.dispose();
  stepped.m.dispose();
});

it('fit and fitDataset hold no tensors across epochs (the perturbed passes’ metrics are disposed)', async () => {
  const [x, y] = [xs(), ys()];
  const { m } = setup();
  m.compile({
    optimizer: asTfOptimizer(sam({ params: m, base: tf.train.sgd(0.05) })),
    loss: 'meanSquaredError',
    metrics: ['mse', 'mae'],
  });
  await m.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
  const before = tf.memory().numTensors;
  await m.fit(x, y, { epochs: 3, batchSize: 4, verbose: 0 });
  // The smallest Dataset fitDataset reads: an iterator of { xs, ys } batches (tfjs-data is not needed).
  const dataset = {
    iterator: async () => {
      let start = 0;
      return {
        next: async () => {
          if (start === 16) return { done: true, value: null };
          const value = { xs: tf.slice(x, start, 4), ys: tf.slice(y, start, 4) };
          start += 4;
          return { done: false, value };
        },
      };
    },
  };
  await m.fitDataset(dataset as never, { epochs: 2, verbose: 0 });
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose([x, y]);
  m.dispose();
});

it('m-sharpness cannot go through fit, and applyGradients is refused with the reason', () => {
  const { m } = setup();
  expect(() => asTfOptimizer(sam({ params: m, base: tf.train.sgd(0.1), mSharpness: 2 }))).toThrow(
    /mSharpness = 2 needs a loss closure that can be split/,
  );
  expect(() => asTfOptimizer(sam({ params: m, base: tf.train.sgd(0.1) })).applyGradients()).toThrow(
    /needs the loss closure, not gradients; call minimize/,
  );
  m.dispose();
});
