import * as tf from '@tensorflow/tfjs-core';
import { TWICE_DIFFERENTIABLE_SCOPE } from './second-order';

/**
 * tfjs's softmax cross-entropy (`tf.losses.softmaxCrossEntropy`, `tf.logSoftmax`)
 * is a customGrad whose gradient reuses saved intermediates, so its second
 * derivative is lost: `method: 'exact'` throws or, behind hidden layers,
 * silently drops terms. These replacements recompute from their inputs and can
 * be differentiated any number of times. (@usam/backend's `initBackend` fixes
 * exp, tanh, sigmoid and softmax themselves.)
 */

/**
 * Runs one of our customGrad ops in a named scope: the engine records it
 * under that name, which is how createHvp's check for customGrad ops that
 * drop second-order terms tells ours (which keep them) apart.
 */
const inOurScope =
  (op: (x: tf.Tensor) => tf.Tensor) =>
  (x: tf.Tensor): tf.Tensor =>
    tf.tidy(TWICE_DIFFERENTIABLE_SCOPE, () => op(x));

/** eˣ whose gradient dy·eˣ is recomputed from x (differentiable to any order). */
export const twiceDifferentiableExp: (x: tf.Tensor) => tf.Tensor = inOurScope(
  tf.customGrad(
    // The saved input, not the closure's x: tfjs keeps it alive and records it on
    // the tape, so the second pass reaches x through it.
    (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
      save([x]);
      return {
        value: tf.exp(x),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          tf.mul(dy, twiceDifferentiableExp(saved[0]!)),
      };
    },
  ) as (x: tf.Tensor) => tf.Tensor,
);

/**
 * The row maximum as a constant (zero gradient). Computed inside customGrad
 * so that max's own gradient, which needs Equal's (missing in tfjs), is never
 * recorded for the second pass.
 */
const rowMax: (x: tf.Tensor) => tf.Tensor = inOurScope(
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    return { value: tf.max(x, -1, true), gradFunc: () => tf.zeros(x.shape) };
  }) as (x: tf.Tensor) => tf.Tensor,
);

/**
 * Mean softmax cross-entropy over the batch, −(1/N) Σ_n Σ_k y_nk log softmax(z_n)_k,
 * equal to `tf.losses.softmaxCrossEntropy(labels, logits)` (no label
 * smoothing, mean reduction) but usable with `method: 'exact'`. Stabilised by
 * subtracting the row maximum as a constant (the loss does not depend on it).
 */
export function twiceDifferentiableSoftmaxCrossEntropy(
  labels: tf.Tensor,
  logits: tf.Tensor,
): tf.Scalar {
  return tf.tidy(() => {
    const top = rowMax(logits);
    const shifted = tf.sub(logits, top);
    const logSumExp = tf.log(tf.sum(twiceDifferentiableExp(shifted), -1, true));
    const logSoftmax = tf.sub(shifted, logSumExp);
    return tf.neg(tf.mean(tf.sum(tf.mul(labels, logSoftmax), -1))) as tf.Scalar;
  });
}

/** max(x, 0) elementwise as a constant (zero gradient), for the softplus shift below. */
const positivePart: (x: tf.Tensor) => tf.Tensor = inOurScope(
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    return { value: tf.relu(x), gradFunc: () => tf.zeros(x.shape) };
  }) as (x: tf.Tensor) => tf.Tensor,
);

/**
 * Mean sigmoid (binary) cross-entropy over every entry, mean of softplus(z) − y·z,
 * equal to `tf.losses.sigmoidCrossEntropy(labels, logits)` (no label smoothing,
 * mean reduction) but usable with `method: 'exact'`. softplus(z) is written
 * m + log(e^{−m} + e^{z−m}) with the constant m = max(z, 0): exact for any m (so
 * no second-order term is lost), and no exponent is positive.
 */
export function twiceDifferentiableSigmoidCrossEntropy(
  labels: tf.Tensor,
  logits: tf.Tensor,
): tf.Scalar {
  return tf.tidy(() => {
    const m = positivePart(logits);
    const sum = tf.add(
      twiceDifferentiableExp(tf.neg(m)),
      twiceDifferentiableExp(tf.sub(logits, m)),
    );
    const softplus = tf.add(m, tf.log(sum));
    return tf.mean(tf.sub(softplus, tf.mul(labels, logits))) as tf.Scalar;
  });
}
