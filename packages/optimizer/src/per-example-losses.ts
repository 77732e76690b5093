import * as tf from '@tensorflow/tfjs-core';
import { softmaxCrossEntropy } from '@usam/measures';
import { describe, OptimizerError } from './errors';

/** A classifier with a tfjs-layers `apply`: one tensor of logits out. */
export interface Classifier {
  apply(inputs: tf.Tensor, kwargs?: { training?: boolean }): unknown;
}

/** One minibatch: inputs and one-hot labels, examples along the first axis. */
export interface LabelledBatch {
  readonly xs: tf.Tensor;
  readonly ys: tf.Tensor;
}

const WHERE = 'perExampleLosses';
const isTensor = (x: unknown): x is tf.Tensor => x instanceof tf.Tensor;

/**
 * SSAM-F's per-example losses (`fisherLosses`) for a classifier: one closure
 * per example of `batch`, each the softmax cross-entropy of the model's logits
 * for that example alone. The passes run in eval mode (`training: false`): one
 * example has no batch statistics, and the Fisher passes must not move
 * BatchNorm's running statistics.
 *
 * The iterable owns the batch: `xs` and `ys` are disposed when iteration ends,
 * whether it runs to the end or stops early (SSAM-F takes `numSamples` and
 * stops), so call each closure as iteration reaches it, as SSAM-F does. Use it inside `fisherLosses: (count, epoch) => perExampleLosses(model,
 * batchOf(count, epoch))`.
 */
export function perExampleLosses(
  model: Classifier,
  batch: LabelledBatch,
): Iterable<() => tf.Scalar> {
  if (typeof model?.apply !== 'function') {
    throw new OptimizerError(
      `${WHERE}: model must be a tfjs-layers model (something with apply), got ${describe(model)}.`,
    );
  }
  const { xs, ys } = batch ?? {};
  if (!isTensor(xs) || !isTensor(ys) || xs.rank === 0 || ys.rank !== 2) {
    throw new OptimizerError(
      `${WHERE}: batch must be { xs, ys } with xs a tensor of examples and ys a [n, classes] one-hot tensor, got ${describe(xs)} and ${describe(ys)}.`,
    );
  }
  const size = xs.shape[0]!;
  if (ys.shape[0] !== size) {
    throw new OptimizerError(
      `${WHERE}: batch.xs has ${size} examples but batch.ys has ${ys.shape[0]}; pass one label per example.`,
    );
  }
  const closures = Array.from(
    { length: size },
    (_, i) => () =>
      tf.tidy(() => {
        const x = tf.slice(xs, [i], [1]);
        const y = tf.slice(ys, [i], [1]);
        const logits = model.apply(x, { training: false });
        if (!isTensor(logits)) {
          throw new OptimizerError(
            `${WHERE}: the model gave ${describe(logits)}; it must output one tensor of logits.`,
          );
        }
        return softmaxCrossEntropy(y, logits) as tf.Scalar;
      }),
  );
  return {
    *[Symbol.iterator]() {
      try {
        yield* closures;
      } finally {
        tf.dispose([xs, ys]);
      }
    },
  };
}
