import * as tf from '@tensorflow/tfjs-core';
import { createRng } from '@usam/measures';
import { twiceDifferentiableSoftmaxCrossEntropy } from '../src/index';

/** A variable holding `initial`'s values; `initial` itself is disposed. */
function owned(initial: tf.Tensor): tf.Variable {
  const v = tf.variable(initial);
  initial.dispose();
  return v;
}

/** `count` equal slices along the first axis (new tensors unless count is 1). */
function splitBatches(xs: tf.Tensor, ys: tf.Tensor, count: number) {
  if (count === 1) return [{ xs, ys }];
  const xParts = tf.split(xs, count);
  const yParts = tf.split(ys, count);
  return xParts.map((x, i) => ({ xs: x, ys: yParts[i]! }));
}

/**
 * The paper's MNIST MLP (784 → 128 × `hidden` ReLU → 10, softmax
 * cross-entropy) as raw variables, with He-initialised weights and one batch
 * of uniform random inputs and random labels. All values are drawn in
 * JavaScript from a seeded stream, so every backend sees the same numbers.
 */
export function paperMlp(
  options: { hidden?: number; batch?: number; batches?: number; seed?: number } = {},
) {
  const hidden = options.hidden ?? 6;
  const batch = options.batch ?? 128;
  const rng = createRng(options.seed ?? 1);
  const gaussian = () =>
    Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const widths = [784, ...Array.from({ length: hidden }, () => 128), 10];
  const variables: tf.Variable[] = [];
  for (let l = 0; l + 1 < widths.length; l++) {
    const [fanIn, fanOut] = [widths[l]!, widths[l + 1]!];
    const std = Math.sqrt(2 / fanIn);
    const w = Float32Array.from({ length: fanIn * fanOut }, () => std * gaussian());
    variables.push(owned(tf.tensor2d(w, [fanIn, fanOut])), owned(tf.zeros([fanOut])));
  }
  const xs = tf.tensor2d(
    Float32Array.from({ length: batch * 784 }, () => rng.next()),
    [batch, 784],
  );
  const labels = Int32Array.from({ length: batch }, () => Math.floor(10 * rng.next()));
  const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 10));
  const logits = (b: { xs: tf.Tensor }) => {
    let a: tf.Tensor = b.xs;
    for (let l = 0; l < variables.length; l += 2) {
      a = tf.add(tf.matMul(a as tf.Tensor2D, variables[l] as tf.Tensor2D), variables[l + 1]!);
      if (l + 2 < variables.length) a = tf.relu(a);
    }
    return a;
  };
  type B = { xs: tf.Tensor; ys: tf.Tensor };
  const data = splitBatches(xs, ys, options.batches ?? 1);
  return {
    variables,
    dimension: variables.reduce((s, v) => s + v.size, 0),
    /** `batches` equal slices of the examples (the paper's Hessian subset is 10 × 128). */
    data,
    /** tf.losses.softmaxCrossEntropy: for central differences. */
    loss: (b: B) => tf.tidy(() => tf.losses.softmaxCrossEntropy(b.ys, logits(b)) as tf.Scalar),
    /** The same loss, differentiable twice: for the exact HVP. */
    lossTwice: (b: B) => tf.tidy(() => twiceDifferentiableSoftmaxCrossEntropy(b.ys, logits(b))),
    dispose: () =>
      tf.dispose([
        ...variables,
        xs,
        ys,
        ...(data.length > 1 ? data.flatMap((b) => [b.xs, b.ys]) : []),
      ]),
  };
}
