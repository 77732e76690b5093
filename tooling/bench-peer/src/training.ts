/** Data and loss shared by bench:peer and bench:memory. */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { softmaxCrossEntropy } from '@usam/measures';

export const BATCH = 128;

/** `n` random inputs of `inputShape` and one-hot labels of 10 classes. */
export function batch(inputShape: number[], n = BATCH, seed = 1) {
  const xs = tf.randomUniform([n, ...inputShape], 0, 1, 'float32', seed);
  const ys = tf.tidy(() =>
    tf.cast(tf.oneHot(tf.randomUniform([n], 0, 10, 'int32', seed + 1), 10), 'float32'),
  );
  return { xs, ys };
}

/**
 * Softmax cross-entropy of the model on one batch, in training mode (BatchNorm on batch
 * statistics), as `usam train` computes it (@usam/measures' fused loss on wasm).
 */
export function trainingLoss(model: tfl.LayersModel, xs: tf.Tensor, ys: tf.Tensor) {
  const logits = () => model.apply(xs, { training: true }) as tf.Tensor;
  return () => tf.tidy(() => softmaxCrossEntropy(ys, logits()) as tf.Scalar);
}
