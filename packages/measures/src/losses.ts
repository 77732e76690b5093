import * as tf from '@tensorflow/tfjs-core';
import { MeasureError, requireOptions, show } from './errors';

/**
 * The fused kernels a backend may register for this loss (@usam/backend does
 * on wasm, with their gradient; docs/kernels.md, "Softmax cross-entropy").
 * The names and contract are shared with @usam/backend; nothing here imports
 * a backend.
 */
const KERNEL = 'UsamSoftmaxCrossEntropy';

/** How the per-example losses are combined: their mean, their sum, or none ([n]). */
export type LossReduction = 'mean' | 'sum' | 'none';

const TFJS_REDUCTION = {
  mean: tf.Reduction.SUM_BY_NONZERO_WEIGHTS,
  sum: tf.Reduction.SUM,
  none: tf.Reduction.NONE,
} as const;

const WHERE = 'softmaxCrossEntropy';

/**
 * Softmax cross-entropy of logits z [n, classes] against labels y (one-hot or
 * any weights, same shape): L_n = −Σ_k y_nk log softmax(z_n)_k, reduced to
 * their mean (the default), their sum, or returned per example. The value of
 * `tf.losses.softmaxCrossEntropy(labels, logits)` (no weights, no label
 * smoothing); where the backend has @usam/backend's fused kernels (wasm) it is
 * one kernel forward and one backward instead of about twenty, and then also
 * differentiable twice (an exact Hessian-vector product may go through it).
 * Elsewhere it is tfjs's op, whose second derivative tfjs drops: for exact
 * HVPs on any backend use @usam/estimators' twiceDifferentiableSoftmaxCrossEntropy.
 */
export function softmaxCrossEntropy(
  labels: tf.Tensor,
  logits: tf.Tensor,
  options?: { reduction?: LossReduction },
): tf.Tensor {
  requireOptions(WHERE, options, ['reduction']);
  const reduction = options?.reduction ?? 'mean';
  if (!Object.hasOwn(TFJS_REDUCTION, reduction)) {
    throw new MeasureError(
      `${WHERE}: reduction must be 'mean', 'sum' or 'none', got ${show(reduction)}.`,
    );
  }
  for (const [name, t] of [
    ['logits', logits],
    ['labels', labels],
  ] as const) {
    if (!(t instanceof tf.Tensor) || t.rank !== 2) {
      throw new MeasureError(
        `${WHERE}: ${name} must be a [examples, classes] tensor, got ${show(t)}.`,
      );
    }
  }
  if (labels.shape.join() !== logits.shape.join()) {
    throw new MeasureError(
      `${WHERE}: labels [${labels.shape}] and logits [${logits.shape}] must have the same shape (one label weight per class).`,
    );
  }
  if (
    logits.dtype === 'float32' &&
    labels.dtype === 'float32' &&
    tf.getKernel(KERNEL, tf.getBackend()) !== undefined &&
    tf.getGradient(KERNEL) !== undefined
  ) {
    return tf.engine().runKernel(KERNEL, { logits, labels }, { reduction }) as tf.Tensor;
  }
  return tf.losses.softmaxCrossEntropy(labels, logits, undefined, 0, TFJS_REDUCTION[reduction]);
}
