import * as tf from '@tensorflow/tfjs-core';
import { OptimizerError } from './errors';
import type { BatchPart } from './types';

/** Part `index` of `count` of a batch, cut along its first axis (m-sharpness). */
export function batchPart(index: number, count: number): BatchPart {
  return {
    index,
    count,
    slice<T extends tf.Tensor>(batch: T): T {
      if (count === 1) return batch;
      if (!(batch instanceof tf.Tensor) || batch.rank < 1) {
        throw new OptimizerError(
          `mSharpness: part.slice needs a tensor whose first axis is the batch, got ${batch instanceof tf.Tensor ? `a scalar` : typeof batch}.`,
        );
      }
      const n = batch.shape[0]!;
      if (n < count) {
        throw new OptimizerError(
          `mSharpness: a batch of ${n} cannot be split into ${count} parts; use a batch of at least mSharpness examples.`,
        );
      }
      const start = Math.floor((index * n) / count);
      const end = Math.floor(((index + 1) * n) / count);
      return tf.slice(batch, start, end - start) as T;
    },
  };
}
