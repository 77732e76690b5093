import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultBatchSize, firstBatches } from './data';

beforeAll(async () => {
  await initBackend('cpu');
});

describe('firstBatches', () => {
  it('keeps the first 1280 examples in batches of 128 by default', async () => {
    const xs = tf.reshape(tf.range(0, 2000), [1000, 2]);
    const big = tf.concat([xs, xs]); // 2000 rows
    const ys = tf.range(0, 2000);
    const batches = firstBatches(big, ys);
    expect(batches).toHaveLength(10);
    expect(batches.every((b) => b.xs.shape[0] === 128 && b.ys.shape[0] === 128)).toBe(true);
    expect(Array.from(await batches[1]!.ys.data()).slice(0, 2)).toEqual([128, 129]);
    expect(Array.from(await batches[9]!.ys.data()).at(-1)).toBe(1279);
    expect(batches[0]!.xs.shape).toEqual([128, 2]);
    tf.dispose([xs, big, ys, ...batches.flatMap((b) => [b.xs, b.ys])]);
  });

  it('takes all rows when there are fewer, with a smaller last batch', () => {
    const xs = tf.zeros([10, 3]);
    const ys = tf.zeros([10]);
    const batches = firstBatches(xs, ys, { examples: 1280, batchSize: 4 });
    expect(batches.map((b) => b.xs.shape[0])).toEqual([4, 4, 2]);
    expect(batches.map(defaultBatchSize)).toEqual([4, 4, 2]);
  });

  it('rejects mismatched or empty inputs and bad sizes', () => {
    expect(() => firstBatches(tf.zeros([3, 2]), tf.zeros([4]))).toThrow(
      /xs has 3 examples but ys has 4; pass matching xs and ys/,
    );
    expect(() => firstBatches(tf.zeros([0, 2]), tf.zeros([0]))).toThrow(/xs has no examples/);
    expect(() => firstBatches(tf.zeros([3, 2]), tf.zeros([3]), { batchSize: 0 })).toThrow(
      /batchSize must be an integer ≥ 1/,
    );
  });
});

describe('defaultBatchSize', () => {
  it('reads a tensor batch or a { xs } batch, and is 1 otherwise', () => {
    expect(defaultBatchSize(tf.zeros([7, 2]))).toBe(7);
    expect(defaultBatchSize({ xs: tf.zeros([5, 2]), ys: tf.zeros([5]) })).toBe(5);
    expect(defaultBatchSize(3)).toBe(1);
    expect(defaultBatchSize(undefined)).toBe(1);
  });
});
