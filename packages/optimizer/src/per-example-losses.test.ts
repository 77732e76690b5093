import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { perExampleLosses } from './per-example-losses';
import { ssamF } from './sam';
import { batchNormModel } from './test-helpers';

beforeAll(async () => {
  await initBackend('cpu');
});

const batchOf = (n: number) =>
  tf.tidy(() => ({
    xs: tf.randomNormal([n, 4], 0, 1, 'float32', 7),
    ys: tf.oneHot(
      tf.tensor1d(
        Array.from({ length: n }, (_, i) => i % 3),
        'int32',
      ),
      3,
    ),
  }));

describe('perExampleLosses', () => {
  it("gives each example's cross-entropy alone, in eval mode, and frees the batch after", () => {
    const { m, weights } = batchNormModel();
    const batch = batchOf(5);
    // The reference: −log softmax(logits)[label] per example from one eval-mode pass.
    const logits = m.apply(batch.xs, { training: false }) as tf.Tensor2D;
    const expected = tf.tidy(() =>
      Array.from(tf.neg(tf.sum(tf.mul(batch.ys, tf.logSoftmax(logits)), 1)).dataSync()),
    );
    logits.dispose();
    const before = weights();
    const tensors = tf.memory().numTensors;
    // Each closure is called as iteration reaches it (the batch is freed when iteration ends).
    const losses: number[] = [];
    for (const loss of perExampleLosses(m, batch)) {
      const value = loss();
      losses.push(value.dataSync()[0]!);
      value.dispose();
    }
    // float32 softmax over 3 logits of order 1: a few ulps, 1e-6 is ample.
    losses.forEach((l, i) => {
      expect(l).toBeCloseTo(expected[i]!, 6);
    });
    expect(losses).toHaveLength(5);
    expect(weights()).toEqual(before); // eval mode: BatchNorm's statistics untouched
    expect(batch.xs.isDisposed && batch.ys.isDisposed).toBe(true);
    expect(tf.memory().numTensors).toBe(tensors - 2); // the batch, and nothing else
    m.dispose();
  });

  it('frees the batch when iteration stops early, as SSAM-F does after numSamples', async () => {
    const { m } = batchNormModel();
    const x = m.trainableWeights.map((w) => w.read() as tf.Variable);
    const loss = () =>
      tf.tidy(() => tf.sum(tf.square(m.apply(tf.ones([2, 4])) as tf.Tensor)) as tf.Scalar);
    const batches: { xs: tf.Tensor; ys: tf.Tensor }[] = [];
    const opt = ssamF({
      params: x,
      base: tf.train.sgd(0.01),
      numSamples: 2,
      fisherLosses: (count) => {
        const batch = batchOf(count + 3); // more than it takes
        batches.push(batch);
        return perExampleLosses(m, batch);
      },
    });
    await opt.step(loss, { epoch: 0 }); // the first mask
    const tensors = tf.memory().numTensors;
    for (let epoch = 1; epoch < 4; epoch++) await opt.step(loss, { epoch });
    expect(batches).toHaveLength(4); // a new mask every epoch (updateFreq 1)
    expect(batches.every((b) => b.xs.isDisposed && b.ys.isDisposed)).toBe(true);
    expect(tf.memory().numTensors).toBe(tensors);
    opt.dispose();
    m.dispose();
  });

  it('refuses what is not a model or a labelled batch, naming it', () => {
    const { m } = batchNormModel();
    const batch = batchOf(2);
    expect(() => perExampleLosses({} as never, batch)).toThrow(
      /^perExampleLosses: model must be a tfjs-layers model \(something with apply\), got/,
    );
    expect(() => perExampleLosses(m, { xs: batch.xs } as never)).toThrow(
      /^perExampleLosses: batch must be \{ xs, ys \}/,
    );
    const ys = tf.oneHot(tf.tensor1d([0, 1, 2], 'int32'), 3);
    expect(() => perExampleLosses(m, { xs: batch.xs, ys })).toThrow(
      'perExampleLosses: batch.xs has 2 examples but batch.ys has 3; pass one label per example.',
    );
    tf.dispose([batch.xs, batch.ys, ys]);
    m.dispose();
  });
});
