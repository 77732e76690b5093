/**
 * Softmax cross-entropy and its gradient as one wasm kernel each
 * (docs/kernels.md, "Softmax cross-entropy"). tfjs's
 * `tf.losses.softmaxCrossEntropy` is about twenty small kernels forward and
 * backward (max, subtract, exp, sum, log, the weighted mean, and as many for the
 * gradient), about a tenth of an MLP gradient on wasm, nearly all dispatch.
 * @usam/measures' `softmaxCrossEntropy` runs these where the backend has them.
 *
 * The loss of row n is L_n = Σ_k y_nk (lse_n − z_nk), lse_n = log Σ_k e^{z_nk}
 * (computed as m + log Σ e^{z − m}, m the row maximum, in float64); its
 * gradient ∂L_n/∂z_nk = p_nk·Σ_j y_nj − y_nk with p = softmax(z_n). The gradient
 * registered here runs the gradient kernel when nothing records it, and
 * tfjs ops (softmax, sums, products) when a tape does, so that an exact
 * Hessian-vector product differentiates it once more.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WasmHeap } from './simd-kernels';
import type { KernelArgs } from './wasm-scratch';

/**
 * Inputs `logits` and `labels`, float32 [n, k]; attr `reduction`: 'mean' (a
 * scalar, Σ_n L_n / n, tf.losses' default), 'sum' (a scalar) or 'none' ([n]).
 */
export const SOFTMAX_CROSS_ENTROPY = 'UsamSoftmaxCrossEntropy';

/**
 * Inputs `logits`, `labels` ([n, k]) and `dy` (a scalar for 'mean' and 'sum',
 * [n] for 'none'); attr `reduction`. Output [n, k]: (p·Σy − y)·w_n with
 * w_n = dy/n, dy or dy_n.
 */
export const SOFTMAX_CROSS_ENTROPY_GRAD = 'UsamSoftmaxCrossEntropyGrad';

export type Reduction = 'mean' | 'sum' | 'none';
const REDUCTIONS: readonly string[] = ['mean', 'sum', 'none'];

function check(kernel: string, inputs: tf.NamedTensorInfoMap, attrs: unknown) {
  const { logits, labels } = inputs as { logits?: tf.TensorInfo; labels?: tf.TensorInfo };
  const reduction = (attrs as { reduction?: string } | undefined)?.reduction;
  if (reduction === undefined || !REDUCTIONS.includes(reduction)) {
    throw new Error(
      `@usam/backend: ${kernel}: attrs.reduction must be 'mean', 'sum' or 'none', got ${JSON.stringify(reduction)}.`,
    );
  }
  for (const [name, t] of [
    ['logits', logits],
    ['labels', labels],
  ] as const) {
    if (t === undefined || t.dtype !== 'float32' || t.shape.length !== 2) {
      throw new Error(
        `@usam/backend: ${kernel}: input '${name}' is ${t === undefined ? 'missing' : `${t.dtype} [${t.shape}]`}, expected a float32 [n, classes] tensor.`,
      );
    }
  }
  if (logits!.shape.join() !== labels!.shape.join()) {
    throw new Error(
      `@usam/backend: ${kernel}: logits [${logits!.shape}] and labels [${labels!.shape}] differ in shape.`,
    );
  }
  const [n, k] = logits!.shape as [number, number];
  return { logits: logits!, labels: labels!, reduction: reduction as Reduction, n, k };
}

/** log Σ_k e^{z_k} over z[at .. at + k), in float64. */
function logSumExp(z: Float32Array, at: number, k: number): number {
  let m = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < k; j++) m = Math.max(m, z[at + j]!);
  // All −∞ (or k = 0): the sum is 0, its log −∞; m − m would be NaN.
  if (m === Number.NEGATIVE_INFINITY) return m;
  let s = 0;
  for (let j = 0; j < k; j++) s += Math.exp(z[at + j]! - m);
  return m + Math.log(s);
}

export function softmaxCrossEntropy({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { logits, labels, reduction, n, k } = check(SOFTMAX_CROSS_ENTROPY, inputs, attrs);
  const heap = backend as unknown as WasmHeap;
  const out = heap.makeOutput(reduction === 'none' ? [n] : [], 'float32');
  // Views after makeOutput: allocating may grow (and so detach) the heap.
  const [z, y, o] = [logits, labels, out].map((t) => heap.typedArrayFromHeap(t)) as [
    Float32Array,
    Float32Array,
    Float32Array,
  ];
  let total = 0;
  for (let r = 0; r < n; r++) {
    const at = r * k;
    const lse = logSumExp(z, at, k);
    let loss = 0;
    // y·(lse − z) term by term, as tfjs's −Σ y·logSoftmax: 0·∞ stays NaN there too.
    for (let j = 0; j < k; j++) loss += y[at + j]! * (lse - z[at + j]!);
    if (reduction === 'none') o[r] = loss;
    else total += loss;
  }
  if (reduction !== 'none') o[0] = reduction === 'mean' ? total / n : total;
  return out;
}

export function softmaxCrossEntropyGrad({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { logits, labels, reduction, n, k } = check(SOFTMAX_CROSS_ENTROPY_GRAD, inputs, attrs);
  const { dy } = inputs as { dy?: tf.TensorInfo };
  const dyShape = reduction === 'none' ? [n] : [];
  if (dy === undefined || dy.dtype !== 'float32' || dy.shape.join() !== dyShape.join()) {
    throw new Error(
      `@usam/backend: ${SOFTMAX_CROSS_ENTROPY_GRAD}: input 'dy' is ${dy === undefined ? 'missing' : `${dy.dtype} [${dy.shape}]`}, expected float32 [${dyShape}].`,
    );
  }
  const heap = backend as unknown as WasmHeap;
  const out = heap.makeOutput([n, k], 'float32');
  const [z, y, d, g] = [logits, labels, dy, out].map((t) => heap.typedArrayFromHeap(t)) as [
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
  ];
  for (let r = 0; r < n; r++) {
    const at = r * k;
    const w = reduction === 'none' ? d[r]! : reduction === 'mean' ? d[0]! / n : d[0]!;
    const lse = logSumExp(z, at, k);
    let labelSum = 0;
    for (let j = 0; j < k; j++) labelSum += y[at + j]!;
    for (let j = 0; j < k; j++) {
      g[at + j] = (Math.exp(z[at + j]! - lse) * labelSum - y[at + j]!) * w;
    }
  }
  return out;
}

/** dy as the factor of each row: [n, 1], from a scalar (mean: divided by n) or [n]. */
function rowWeights(dy: tf.Tensor, reduction: Reduction, n: number): tf.Tensor {
  if (reduction === 'none') return tf.reshape(dy, [n, 1]);
  return reduction === 'mean' ? tf.div(dy, n) : dy;
}

/**
 * The kernel's gradient (registered on every backend; the kernel exists only
 * where @usam/backend registered it). With respect to the logits: the gradient
 * kernel where the backend has it and no tape records, else tfjs ops, each
 * differentiable again (softmax's gradient is our twice-differentiable one).
 */
export const softmaxCrossEntropyGradient: tf.GradConfig = {
  kernelName: SOFTMAX_CROSS_ENTROPY,
  inputsToSave: ['logits', 'labels'],
  gradFunc: (dy, saved, attrs) => {
    const [logits, labels] = saved as [tf.Tensor2D, tf.Tensor2D];
    const reduction = (attrs as unknown as { reduction: Reduction }).reduction;
    const n = logits.shape[0];
    const dyT = dy as tf.Tensor;
    return {
      logits: () => {
        const fused =
          !tf.engine().isTapeOn() &&
          tf.getKernel(SOFTMAX_CROSS_ENTROPY_GRAD, tf.getBackend()) !== undefined;
        if (fused) {
          return tf
            .engine()
            .runKernel(
              SOFTMAX_CROSS_ENTROPY_GRAD,
              { logits, labels, dy: dyT },
              { reduction },
            ) as tf.Tensor;
        }
        const p = tf.softmax(logits);
        const g = tf.sub(tf.mul(p, tf.sum(labels, -1, true)), labels);
        return tf.mul(g, rowWeights(dyT, reduction, n));
      },
      labels: () => tf.mul(tf.neg(tf.logSoftmax(logits)), rowWeights(dyT, reduction, n)),
    };
  },
};
