import * as tf from '@tensorflow/tfjs-core';
import { MeasureError, show } from './errors';
import type { Rng, Sampler } from './types';

/**
 * Operations on parameter-shaped lists of tensors: a vector x ∈ R^d held as one
 * tensor per parameter (docs/measures.md). Norms and dot products are over the whole
 * concatenated vector. The one implementation the samplers, the evaluators,
 * @usam/estimators and @usam/optimizer share.
 *
 * Every function returning tensors returns new ones, owned by the caller; none
 * disposes its inputs. Call them inside `tf.tidy` or dispose the results.
 */

/** A vector in R^d as parameter-shaped tensors. */
export type TensorList = readonly tf.Tensor[];

/** Shapes of the tensors a vector is split into (shaped like the parameters). */
export type Shapes = readonly (readonly number[])[];

/** Number of entries of one tensor of this shape. */
export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** d, the length of the whole concatenated vector. */
export const dimensionOf = (shapes: Shapes): number =>
  shapes.reduce((sum, shape) => sum + sizeOf(shape), 0);

/** The shapes of a list's tensors. */
export const shapesOf = (list: TensorList): number[][] => list.map((t) => [...t.shape]);

/** Checks that `shapes` is a non-empty list of shapes of natural numbers with d ≥ 1; returns d. */
export function checkShapes(shapes: Shapes, where: string): number {
  if (!Array.isArray(shapes) || shapes.length === 0) {
    throw new MeasureError(
      `${where}: shapes must be a non-empty list of tensor shapes, e.g. [[784, 128], [128]], got ${show(shapes)}.`,
    );
  }
  for (const shape of shapes) {
    if (!Array.isArray(shape) || !shape.every((n) => Number.isInteger(n) && n >= 0)) {
      throw new MeasureError(
        `${where}: every shape must be a list of non-negative integers, got ${JSON.stringify(shape)}.`,
      );
    }
  }
  const d = dimensionOf(shapes);
  if (d < 1) throw new MeasureError(`${where}: the shapes hold no entries (d = 0).`);
  return d;
}

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((n, i) => n === b[i]);

/** True when `list` is an array of tensors with exactly these shapes. */
export const hasShapes = (list: unknown, shapes: Shapes): list is tf.Tensor[] =>
  Array.isArray(list) &&
  list.length === shapes.length &&
  list.every((t, k) => t instanceof tf.Tensor && sameShape(t.shape, shapes[k]!));

/** Checks that `tensors` has exactly the given shapes (what a sampler or an hvp returned). */
export function checkTensorShapes(tensors: TensorList, shapes: Shapes, what: string) {
  if (!Array.isArray(tensors) || tensors.length !== shapes.length) {
    throw new MeasureError(
      `${what} returned ${Array.isArray(tensors) ? tensors.length : 'no list of'} tensors, expected ${shapes.length} (one per shape).`,
    );
  }
  tensors.forEach((t, i) => {
    const shape = shapes[i]!;
    if (!(t instanceof tf.Tensor) || !sameShape(t.shape, shape)) {
      throw new MeasureError(
        `${what} returned a tensor of shape [${t instanceof tf.Tensor ? t.shape : '?'}] at position ${i}, expected [${shape}]; dimension mismatch between v and the shapes.`,
      );
    }
  });
}

/**
 * The list kernels a backend may register (@usam/backend does on wasm;
 * docs/optimizer-kernels.md): each takes a whole parameter list in one
 * dispatch, where tfjs's ops take one kernel per tensor per op. The names and
 * contracts are shared with @usam/backend; nothing here imports a backend.
 */
export const LIST_KERNELS = {
  /** Σ_j w_j·t_j per tensor k: inputs `t${j}_${k}`, attrs `{ weights }`; one output per k. */
  linearCombination: 'UsamLinearCombination',
  /** Over inputs `t${k}`: attrs `{ which: 'nonFinite' | 'squaredNorm' }` (or `'adaptiveSquares'`, `c`, with inputs `g${k}`); a float32 scalar. */
  finiteSquares: 'UsamFiniteSquares',
  /** No inputs: a sampler's draw into tensors of attrs `shapes` (the samplers' `drawn`). */
  draws: 'UsamDraws',
  /** Entrywise: attrs `{ op: 'mul' }`, a_k ⊙ b_k (inputs `a${k}`, `b${k}`), `{ op: 'absAdd', c }`, |a_k| + c, or `{ op: 'adaptiveDirection', c }`. */
  entrywise: 'UsamEntrywise',
  /** Adam's update (`adam` below): inputs `x${k}`, `g${k}`, `m${k}`, `v${k}`; outputs every x′, then m′, then v′. */
  adam: 'UsamAdam',
  /** The momentum update (`momentum` below): inputs `x${k}`, `g${k}`, `a${k}`; outputs every x′, then a′. */
  momentum: 'UsamMomentum',
} as const;

/**
 * Whether the current backend has this list kernel and may run it on these
 * float32 tensors now. Not while a gradient tape records: the kernels have no
 * registered gradient, and tfjs's ops (which have) give the same values
 * (docs/optimizer-kernels.md), so code differentiated through tensorList works
 * on every backend.
 */
function fused(kernel: string, lists: readonly TensorList[]): boolean {
  if (tf.getKernel(kernel, tf.getBackend()) === undefined || tf.engine().isTapeOn()) return false;
  return lists.every((list) => list.every((t) => t.dtype === 'float32'));
}

/**
 * Σ_j w_j·t_j per tensor in one dispatch (LIST_KERNELS.linearCombination),
 * rounding as tf.mul then tf.addN; with `countNonFinite`, the count of the
 * results' NaN or ±∞ entries as one more (last) tensor.
 */
function fusedCombination(
  lists: readonly TensorList[],
  weights: readonly number[],
  countNonFinite = false,
): tf.Tensor[] {
  const inputs: tf.NamedTensorMap = {};
  lists.forEach((list, j) => {
    list.forEach((t, k) => {
      inputs[`t${j}_${k}`] = t;
    });
  });
  const attrs = { weights: [...weights], ...(countNonFinite && { countNonFinite }) };
  const out = tf.engine().runKernel(LIST_KERNELS.linearCombination, inputs, attrs) as
    | tf.Tensor
    | tf.Tensor[];
  return Array.isArray(out) ? out : [out]; // tfjs returns a lone output unwrapped
}

/** One output per tensor of the list kernel `kernel` over the lists, named `${prefix}${k}`. */
function fusedEntrywise(
  kernel: string,
  lists: Readonly<Record<string, TensorList>>,
  attrs: tf.NamedAttrMap,
): tf.Tensor[] {
  const inputs: tf.NamedTensorMap = {};
  for (const [prefix, list] of Object.entries(lists)) {
    list.forEach((t, k) => {
      inputs[`${prefix}${k}`] = t;
    });
  }
  const out = tf.engine().runKernel(kernel, inputs, attrs) as tf.Tensor | tf.Tensor[];
  return Array.isArray(out) ? out : [out]; // tfjs returns a lone output unwrapped
}

function fusedFiniteSquares(a: TensorList, which: 'nonFinite' | 'squaredNorm'): tf.Scalar {
  const inputs = Object.fromEntries(a.map((t, k) => [`t${k}`, t]));
  return tf.engine().runKernel(LIST_KERNELS.finiteSquares, inputs, { which }) as tf.Scalar;
}

/** aᵀb over the concatenated vectors, as a scalar tensor. */
export const dot = (a: TensorList, b: TensorList): tf.Scalar =>
  tf.tidy(() => tf.addN(a.map((ak, k) => tf.sum(tf.mul(ak, b[k]!)))) as tf.Scalar);

/**
 * ‖a‖² over the concatenated vector. With the list kernel the float32 squares
 * are summed in float64 (at least as accurate as tfjs's float32 sums).
 */
export const squaredNorm = (a: TensorList): tf.Scalar =>
  fused(LIST_KERNELS.finiteSquares, [a]) && a.length > 0
    ? fusedFiniteSquares(a, 'squaredNorm')
    : tf.tidy(() => tf.addN(a.map((ak) => tf.sum(tf.square(ak)))) as tf.Scalar);

/** ‖a‖ over the concatenated vector (the global norm). */
export const norm = (a: TensorList): tf.Scalar => tf.tidy(() => tf.sqrt(squaredNorm(a)));

/** max_i |a_i| over the concatenated vector. */
export const maxAbs = (a: TensorList): tf.Scalar =>
  tf.tidy(() => tf.max(tf.stack(a.map((ak) => tf.max(tf.abs(ak))))) as tf.Scalar);

/**
 * Σ_i a_i, one sum per tensor added up. Not a finiteness test: large finite
 * entries of one sign overflow it (use `countNonFinite`).
 */
export const sum = (a: TensorList): tf.Scalar =>
  tf.tidy(() => tf.addN(a.map((ak) => tf.sum(ak))) as tf.Scalar);

/**
 * How many entries are NaN or ±∞, as a float32 scalar: 0 exactly when every
 * entry is finite. Tested entry by entry with tfjs's IsFinite kernel, so finite
 * entries of any size pass and no backend's NaN handling in Max matters
 * (docs/det-sam-stability.md); a count of ones cannot round to 0.
 */
export const countNonFinite = (a: TensorList): tf.Scalar =>
  fused(LIST_KERNELS.finiteSquares, [a]) && a.length > 0
    ? fusedFiniteSquares(a, 'nonFinite')
    : tf.tidy(
        () =>
          tf.addN(
            a.map((ak) => tf.sum(tf.cast(tf.logicalNot(tf.isFinite(ak)), 'float32'))),
          ) as tf.Scalar,
      );

/**
 * s·a, s a number or a scalar tensor. With the list kernel a float32 scalar
 * tensor is read back and applied as its number (the same float32 product).
 */
export function scale(a: TensorList, s: number | tf.Scalar): tf.Tensor[] {
  if (a.length > 0 && fused(LIST_KERNELS.linearCombination, [a])) {
    if (typeof s === 'number') return fusedCombination([a], [s]);
    if (s.dtype === 'float32' && s.size === 1) return fusedCombination([a], [s.dataSync()[0]!]);
  }
  return tf.tidy(() => {
    const factor = typeof s === 'number' ? tf.scalar(s) : s; // uploaded once, not per tensor
    return a.map((ak) => tf.mul(ak, factor));
  });
}

/**
 * Whether a and b are lists of equal shapes the list kernel can take (else
 * tfjs's ops, which broadcast or fail).
 */
const combinable = (
  a: TensorList,
  b: TensorList,
  kernel: string = LIST_KERNELS.linearCombination,
) =>
  a.length > 0 &&
  a.length === b.length &&
  a.every((ak, k) => sameShape(ak.shape, b[k]!.shape)) &&
  fused(kernel, [a, b]);

/** a + b. */
export const add = (a: TensorList, b: TensorList): tf.Tensor[] =>
  combinable(a, b)
    ? fusedCombination([a, b], [1, 1])
    : tf.tidy(() => a.map((ak, k) => tf.add(ak, b[k]!)));

/** a − b (as a + (−1)·b: the same bits, IEEE subtraction is addition of the negation). */
export const sub = (a: TensorList, b: TensorList): tf.Tensor[] =>
  combinable(a, b)
    ? fusedCombination([a, b], [1, -1])
    : tf.tidy(() => a.map((ak, k) => tf.sub(ak, b[k]!)));

/** a ⊙ b, entrywise. */
export const mul = (a: TensorList, b: TensorList): tf.Tensor[] =>
  combinable(a, b, LIST_KERNELS.entrywise)
    ? fusedEntrywise(LIST_KERNELS.entrywise, { a, b }, { op: 'mul' })
    : tf.tidy(() => a.map((ak, k) => tf.mul(ak, b[k]!)));

/** |a| + c entrywise, c a number (ASAM's T = |x| + η). */
export function absPlus(a: TensorList, c: number): tf.Tensor[] {
  if (a.length > 0 && fused(LIST_KERNELS.entrywise, [a])) {
    return fusedEntrywise(LIST_KERNELS.entrywise, { a }, { op: 'absAdd', c });
  }
  return tf.tidy(() => {
    const shift = tf.scalar(c); // uploaded once, not per tensor
    return a.map((ak) => tf.add(tf.abs(ak), shift));
  });
}

/** The momentum update's constants (`momentum`): float32 numbers, as tfjs's scalar tensors hold them. */
export interface MomentumConstants {
  /** The momentum m. */
  readonly m: number;
  /** c = −lr. */
  readonly c: number;
  readonly nesterov: boolean;
}

/**
 * One heavy-ball momentum step over a list, rounded as tfjs's
 * MomentumOptimizer.applyGradients: a′ = m·a + g, then x′ = x + c·a′
 * (Nesterov: x′ = x + c·(g + m·a′)), c = −lr. New tensors; in one pass per
 * tensor where the backend has the list kernel (LIST_KERNELS.momentum), tfjs's
 * own ops elsewhere.
 */
export function momentum(
  x: TensorList,
  g: TensorList,
  a: TensorList,
  c: MomentumConstants,
): { x: tf.Tensor[]; a: tf.Tensor[] } {
  const n = x.length;
  if (sameShapes(x, [g, a]) && fused(LIST_KERNELS.momentum, [x, g, a])) {
    const out = fusedEntrywise(LIST_KERNELS.momentum, { x, g, a }, { ...c });
    return { x: out.slice(0, n), a: out.slice(n) };
  }
  return tf.tidy(() => {
    const [m, step] = [tf.scalar(c.m), tf.scalar(c.c)];
    const out = x.map((xk, k) => {
      const ak = tf.add(tf.mul(a[k]!, m), g[k]!);
      const direction = c.nesterov ? tf.add(g[k]!, tf.mul(ak, m)) : ak;
      return [tf.add(tf.mul(step, direction), xk), ak] as const;
    });
    return { x: out.map((o) => o[0]), a: out.map((o) => o[1]) };
  });
}

/** Whether every list has the tensor shapes of `x` (and x is not empty). */
const sameShapes = (x: TensorList, lists: readonly TensorList[]) =>
  x.length > 0 &&
  lists.every(
    (list) => list.length === x.length && list.every((t, k) => sameShape(t.shape, x[k]!.shape)),
  );

/**
 * ‖T ⊙ g‖² with T = |x| + c entrywise (ASAM's ‖Tg‖², Kwon et al. 2021), as
 * `squaredNorm(mul(absPlus(x, c), g))` computes it, bit for bit; in one pass
 * without forming T or Tg where the backend has the list kernel.
 */
export function adaptiveSquaredNorm(x: TensorList, g: TensorList, c: number): tf.Scalar {
  if (sameShapes(x, [g]) && fused(LIST_KERNELS.finiteSquares, [x, g])) {
    const inputs: tf.NamedTensorMap = {};
    x.forEach((t, k) => {
      inputs[`t${k}`] = t;
      inputs[`g${k}`] = g[k]!;
    });
    const attrs = { which: 'adaptiveSquares', c };
    return tf.engine().runKernel(LIST_KERNELS.finiteSquares, inputs, attrs) as tf.Scalar;
  }
  return tf.tidy(() => squaredNorm(mul(absPlus(x, c), g)));
}

/**
 * T ⊙ (T ⊙ g) with T = |x| + c entrywise (ASAM's T²g), as `mul(t, mul(t, g))`
 * with t = `absPlus(x, c)` computes it, bit for bit; in one pass where the
 * backend has the list kernel.
 */
export function adaptiveDirection(x: TensorList, g: TensorList, c: number): tf.Tensor[] {
  if (sameShapes(x, [g]) && fused(LIST_KERNELS.entrywise, [x, g])) {
    return fusedEntrywise(LIST_KERNELS.entrywise, { a: x, b: g }, { op: 'adaptiveDirection', c });
  }
  return tf.tidy(() => {
    const t = absPlus(x, c);
    return mul(t, mul(t, g));
  });
}

/** Adam's hyperparameters and bias corrections for one step (`adam`). */
export interface AdamConstants {
  readonly learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** 1 − β₁ᵗ as a float32 number (tfjs: 1 − accBeta1). */
  readonly a1: number;
  /** 1 − β₂ᵗ as a float32 number. */
  readonly a2: number;
}

/**
 * One Adam step (Kingma & Ba 2015, Algorithm 1) over a list, rounded as
 * tfjs's AdamOptimizer.applyGradients: m′ = β₁m + (1 − β₁)g,
 * v′ = β₂v + (1 − β₂)g², x′ = x − lr·(m′/a₁)/(√(v′/a₂) + ε). New tensors; in one
 * pass per tensor where the backend has the list kernel (LIST_KERNELS.adam),
 * tfjs's own ops elsewhere.
 */
export function adam(
  x: TensorList,
  g: TensorList,
  m: TensorList,
  v: TensorList,
  c: AdamConstants,
): { x: tf.Tensor[]; m: tf.Tensor[]; v: tf.Tensor[] } {
  const n = x.length;
  if (sameShapes(x, [g, m, v]) && fused(LIST_KERNELS.adam, [x, g, m, v])) {
    const out = fusedEntrywise(LIST_KERNELS.adam, { x, g, m, v }, { ...c });
    return { x: out.slice(0, n), m: out.slice(n, 2 * n), v: out.slice(2 * n) };
  }
  return tf.tidy(() => {
    const a1 = tf.scalar(c.a1);
    const a2 = tf.scalar(c.a2);
    const out = x.map((xk, k) => {
      const mk = tf.add(tf.mul(m[k]!, c.beta1), tf.mul(g[k]!, 1 - c.beta1));
      const vk = tf.add(tf.mul(v[k]!, c.beta2), tf.mul(tf.square(g[k]!), 1 - c.beta2));
      const step = tf.div(tf.div(mk, a1), tf.add(tf.sqrt(tf.div(vk, a2)), c.epsilon));
      return [tf.add(tf.mul(step, -c.learningRate), xk), mk, vk] as const;
    });
    return { x: out.map((o) => o[0]), m: out.map((o) => o[1]), v: out.map((o) => o[2]) };
  });
}

/** y + α·x (BLAS axpy), α a number or a scalar tensor. */
export const axpy = (alpha: number | tf.Scalar, x: TensorList, y: TensorList): tf.Tensor[] =>
  typeof alpha === 'number' && combinable(y, x)
    ? fusedCombination([y, x], [1, alpha])
    : tf.tidy(() => {
        const factor = typeof alpha === 'number' ? tf.scalar(alpha) : alpha; // uploaded once
        return y.map((yk, k) => tf.add(yk, tf.mul(x[k]!, factor)));
      });

/** One term w·a of a `linearCombination`. */
export interface Term {
  readonly tensors: TensorList;
  readonly weight: number;
}

/**
 * Σ_j w_j·a_j in one pass per tensor: zero weights skipped, unit weights not
 * multiplied, zeros (shaped like `like`) when nothing is left. Always new
 * tensors, so the caller may dispose the terms.
 */
export function linearCombination(terms: readonly Term[], like: TensorList): tf.Tensor[] {
  const live = terms.filter(({ weight }) => weight !== 0);
  if (live.length === 0) return tf.tidy(() => like.map((x) => tf.zerosLike(x)));
  return weightedSum(
    live.map(({ tensors }) => tensors),
    live.map(({ weight }) => weight),
  );
}

/**
 * `linearCombination(terms, like)` and `countNonFinite` of it: where the
 * backend has the list kernel, counted entry by entry while each tensor is
 * written (one pass, not two: the step engine's g and its finiteness test).
 */
export function checkedCombination(
  terms: readonly Term[],
  like: TensorList,
): { sum: tf.Tensor[]; nonFinite: tf.Scalar } {
  const live = terms.filter(({ weight }) => weight !== 0);
  const lists = live.map(({ tensors }) => tensors);
  if (live.length > 0 && combinableLists(lists)) {
    const out = fusedCombination(
      lists,
      live.map(({ weight }) => weight),
      true,
    );
    return { sum: out.slice(0, -1), nonFinite: out[out.length - 1] as tf.Scalar };
  }
  const sum = linearCombination(terms, like);
  return { sum, nonFinite: countNonFinite(sum) };
}

/** Whether the lists have equal tensor shapes the linear-combination kernel can take now. */
const combinableLists = (lists: readonly TensorList[]) =>
  lists.length > 0 &&
  sameShapes(lists[0]!, lists.slice(1)) &&
  fused(LIST_KERNELS.linearCombination, lists);

/**
 * Σ_j w_j·a_j for each tensor, every term computed (zero weights too: 0·∞ is
 * NaN here, as in tfjs): each w_j·a_j rounded as tf.mul, added in order as
 * tf.add. So tfjs's own updates, e.g. SGD's x + (−lr)·g, come out bit for
 * bit, in one kernel over the whole list where the backend has the list
 * kernel. Every list has the tensor shapes of the first.
 */
export function weightedSum(lists: readonly TensorList[], weights: readonly number[]): tf.Tensor[] {
  const first = lists[0];
  if (first === undefined || lists.length !== weights.length) {
    throw new MeasureError(
      `weightedSum: give one weight per list and at least one list, got ${lists.length} lists and ${weights.length} weights.`,
    );
  }
  if (
    first.length > 0 &&
    lists.every((list) => list.length === first.length) &&
    first.every((x, k) => lists.every((list) => sameShape(list[k]!.shape, x.shape))) &&
    fused(LIST_KERNELS.linearCombination, lists)
  ) {
    return fusedCombination(lists, weights);
  }
  return tf.tidy(() => {
    // One scalar upload per term, not per tensor (a number operand uploads a scalar each call).
    const scalars = weights.map((w) => (w === 1 ? undefined : tf.scalar(w)));
    return first.map((_, k) => {
      const parts = lists.map((list, j) =>
        scalars[j] === undefined ? list[k]! : tf.mul(list[k]!, scalars[j]!),
      );
      return parts.length === 1 ? tf.clone(parts[0]!) : tf.addN(parts);
    });
  });
}

/**
 * Whether the current backend runs this list kernel (LIST_KERNELS; by default
 * the linear combination, so that `weightedSum` is one dispatch).
 */
export const hasListKernels = (kernel: string = LIST_KERNELS.linearCombination): boolean =>
  tf.getKernel(kernel, tf.getBackend()) !== undefined;

/** Zeros shaped like `a`. */
export const zerosLike = (a: TensorList): tf.Tensor[] => a.map((ak) => tf.zerosLike(ak));

/** Copies of `a`. */
export const clone = (a: TensorList): tf.Tensor[] => a.map((ak) => tf.clone(ak));

/** Disposes every tensor of the list (undefined is fine). */
export function dispose(a: TensorList | undefined): void {
  for (const t of a ?? []) t.dispose();
}

/** The concatenated vector as one 1-D tensor. */
export const flatten = (a: TensorList): tf.Tensor1D =>
  tf.tidy(() => tf.concat(a.map((ak) => tf.reshape(ak, [-1]))) as tf.Tensor1D);

/** A 1-D tensor of length d split back into tensors of these shapes (`flatten`'s inverse). */
export function split(flat: tf.Tensor, shapes: Shapes): tf.Tensor[] {
  return tf.tidy(() =>
    tf
      .split(tf.reshape(flat, [-1]), shapes.map(sizeOf))
      .map((part, k) => tf.reshape(part, [...shapes[k]!])),
  );
}

/**
 * Tensors shaped like `shapes` from a flat JavaScript array, each uploaded
 * from a view of it, with no split op on the device (tfjs's split cost
 * 0.6–5 ms on wasm for a 168k-entry vector).
 */
export function fromFlat(flat: Float32Array | readonly number[], shapes: Shapes): tf.Tensor[] {
  const values = flat instanceof Float32Array ? flat : Float32Array.from(flat);
  let offset = 0;
  return shapes.map((shape) => {
    const size = sizeOf(shape);
    const t = tf.tensor(values.subarray(offset, offset + size), [...shape], 'float32');
    offset += size;
    return t;
  });
}

/** The concatenated values, read back into one Float32Array. */
export async function read(a: TensorList): Promise<Float32Array> {
  const parts = await Promise.all(a.map((t) => t.data() as Promise<Float32Array>));
  return concatenate(parts);
}

/** `read`, synchronously. */
export const readSync = (a: TensorList): Float32Array =>
  concatenate(a.map((t) => t.dataSync() as Float32Array));

/** The arrays joined end to end, as float32. */
export function concatenate(parts: readonly ArrayLike<number>[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A draw v ~ μ shaped like `a` (the caller owns it). */
export const randomLike = (a: TensorList, mu: Sampler, rng: Rng): tf.Tensor[] =>
  mu.sample(shapesOf(a), rng);
