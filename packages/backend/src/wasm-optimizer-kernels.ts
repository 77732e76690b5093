/**
 * The optimizer's element-wise chains over a whole parameter list as single
 * wasm kernels (docs/optimizer-kernels.md). tfjs dispatches one kernel per
 * tensor per op, and a step's fixed work (g + wd·x, the finiteness test,
 * ‖g‖²) was dozens of small kernels. Registered on wasm under the names below;
 * @usam/measures' tensorList runs them where the current backend has them and
 * its tfjs ops elsewhere. Each runs in our SIMD module, or as JavaScript over
 * wasm's heap where that cannot run (`kernels: 'tfjs'`, an engine without SIMD).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { simdKernels, type WasmHeap } from './simd-kernels';
import type { KernelArgs } from './wasm-scratch';

/**
 * Σ_j w_j·t_j for each of `tensors` tensors: inputs `t${j}_${k}` (term j, tensor
 * k, float32, the shapes of term 0), attrs `weights` (one per term, at least one).
 * Outputs one new tensor per k. Rounds as tfjs's Mul then AddN, term by term in order.
 * With attr `countNonFinite: true`, one more output: the number of NaN or ±∞
 * entries of the results (a float32 scalar), each tensor counted while it is
 * still in cache (the engine's finiteness test folded into g's pass).
 */
export const LINEAR_COMBINATION = 'UsamLinearCombination';

/**
 * Over inputs `t${k}` (float32): with attr `which` 'nonFinite', the number of
 * entries that are NaN or ±∞ (each tested on its own: 0 exactly when all are
 * finite); 'squaredNorm', Σ t² (summed in float64); 'adaptiveSquares', with
 * inputs `g${k}` and attr `c` too, Σ (T·g)² with T = |t| + c (ASAM's ‖Tg‖², the
 * same float64 sum as 'squaredNorm' of the products); as float32 scalars.
 */
export const FINITE_SQUARES = 'UsamFiniteSquares';

/**
 * Entrywise over lists: attr `op` 'mul', a_k ⊙ b_k (inputs `a${k}`, `b${k}`, equal
 * shapes), 'absAdd', |a_k| + c (inputs `a${k}`, attr `c`, rounded to float32 as
 * tfjs uploads a number), or 'adaptiveDirection', T ⊙ (T ⊙ b_k) with T = |a_k| + c
 * (ASAM's T²g); float32, rounded as tfjs's Mul, Abs and Add. One output per k.
 */
export const ENTRYWISE = 'UsamEntrywise';

/**
 * Adam's update over a list in one pass per tensor, rounded as tfjs's
 * AdamOptimizer.applyGradients: inputs `x${k}`, `g${k}`, `m${k}`, `v${k}` (the
 * variable, its gradient and its two moments), attrs `beta1`, `beta2`, `epsilon`,
 * `learningRate` (the optimizer's numbers) and `a1`, `a2` (1 − βᵢᵗ as float32, what
 * tfjs computes from its accBeta variables). Outputs the new x for every k, then
 * every new m, then every new v.
 */
export const ADAM = 'UsamAdam';

/**
 * The momentum update over a list in one pass per tensor, rounded as tfjs's
 * MomentumOptimizer.applyGradients: inputs `x${k}`, `g${k}`, `a${k}` (the
 * variable, its gradient, its accumulation), attrs `m` and `c` (the float32
 * values of its m and c = −lr tensors) and `nesterov`. Outputs every new x, then
 * every new a.
 */
export const MOMENTUM = 'UsamMomentum';

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function input(inputs: tf.NamedTensorInfoMap, name: string, kernel: string): tf.TensorInfo {
  const t = inputs[name];
  if (t === undefined || t.dtype !== 'float32') {
    throw new Error(
      `@usam/backend: ${kernel}: input '${name}' is ${t === undefined ? 'missing' : t.dtype}, expected a float32 tensor.`,
    );
  }
  return t;
}

export function linearCombination({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const weights = (attrs as { weights?: number[] }).weights;
  const count = Object.keys(inputs).length / (weights?.length ?? 1);
  if (!Array.isArray(weights) || weights.length === 0 || !Number.isInteger(count)) {
    throw new Error(
      `@usam/backend: ${LINEAR_COMBINATION}: attrs.weights must list one weight per term, got ${JSON.stringify(weights)} for ${Object.keys(inputs).length} inputs.`,
    );
  }
  const check = (attrs as { countNonFinite?: boolean }).countNonFinite === true;
  const heap = backend as unknown as WasmHeap;
  const simd = simdKernels(heap);
  const outs: tf.TensorInfo[] = [];
  // A float64 accumulator for countNonFinite (the heap aligns allocations to 8 bytes).
  const acc = check && simd !== undefined ? heap.makeOutput([2], 'float32') : undefined;
  if (acc !== undefined) heap.typedArrayFromHeap(acc).fill(0);
  let nonFinite = 0;
  for (let k = 0; k < count; k++) {
    const terms = weights.map((_, j) => input(inputs, `t${j}_${k}`, LINEAR_COMBINATION));
    const shape = terms[0]!.shape;
    for (const t of terms) {
      if (t.shape.join() !== shape.join()) {
        throw new Error(
          `@usam/backend: ${LINEAR_COMBINATION}: tensor ${k} has shapes [${shape.join(', ')}] and [${t.shape.join(', ')}] in different terms.`,
        );
      }
    }
    const out = heap.makeOutput([...shape], 'float32');
    const n = sizeOf(shape);
    if (simd !== undefined) {
      // The first two terms in one pass (axpby), any others added one by one.
      if (terms.length >= 2) simd.axpby(terms[0]!, terms[1]!, out, n, weights[0]!, weights[1]!);
      for (let j = terms.length >= 2 ? 2 : 0; j < terms.length; j++) {
        simd.axpy(terms[j]!, out, n, weights[j]!, j > 0);
      }
    } else {
      // Views after makeOutput: allocating may grow (and so detach) the heap.
      const o = heap.typedArrayFromHeap(out);
      terms.forEach((t, j) => {
        const x = heap.typedArrayFromHeap(t);
        const w = Math.fround(weights[j]!);
        // The first term written, not added to 0: 0 + (−0) would lose the sign, as the SIMD path does not.
        if (j === 0) for (let i = 0; i < n; i++) o[i] = w * x[i]!;
        else for (let i = 0; i < n; i++) o[i] = o[i]! + Math.fround(w * x[i]!);
      });
      if (check) for (let i = 0; i < n; i++) if (o[i]! - o[i]! !== 0) nonFinite += 1;
    }
    if (acc !== undefined) simd!.countNonFinite(out, n, acc);
    outs.push(out);
  }
  if (check) {
    if (acc !== undefined) {
      const view = heap.typedArrayFromHeap(acc);
      nonFinite = new Float64Array(view.buffer, view.byteOffset, 1)[0]!;
      heap.disposeData(acc.dataId);
    }
    const total = heap.makeOutput([], 'float32');
    heap.typedArrayFromHeap(total)[0] = nonFinite;
    outs.push(total);
  }
  return outs;
}

export function finiteSquares({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { which, c } = attrs as { which?: string; c?: number };
  const adaptive = which === 'adaptiveSquares';
  if (which !== 'nonFinite' && which !== 'squaredNorm' && !(adaptive && typeof c === 'number')) {
    throw new Error(
      `@usam/backend: ${FINITE_SQUARES}: attrs.which must be 'nonFinite', 'squaredNorm' or 'adaptiveSquares' (with a number c), got ${JSON.stringify(attrs)}.`,
    );
  }
  const heap = backend as unknown as WasmHeap;
  const simd = simdKernels(heap);
  const tensors = listed(inputs, 't', FINITE_SQUARES);
  const gs = adaptive ? listed(inputs, 'g', FINITE_SQUARES) : [];
  if (adaptive) sameShapes(FINITE_SQUARES, tensors, gs);
  const shift = Math.fround(c ?? 0);
  let nonFinite = 0;
  let squares = 0;
  if (simd !== undefined) {
    // Two float64 accumulators in a 4-float tensor (the heap aligns allocations to 8 bytes).
    const acc = heap.makeOutput([4], 'float32');
    heap.typedArrayFromHeap(acc).fill(0);
    tensors.forEach((t, k) => {
      // The count alone where only it is asked for (no float64 squares to add up).
      if (which === 'nonFinite') simd.countNonFinite(t, sizeOf(t.shape), acc);
      else if (adaptive) simd.adaptiveSquares(t, gs[k]!, sizeOf(t.shape), shift, acc);
      else simd.finiteSquares(t, sizeOf(t.shape), acc);
    });
    const view = heap.typedArrayFromHeap(acc);
    const sums = new Float64Array(view.buffer, view.byteOffset, 2);
    [nonFinite, squares] = [sums[0]!, sums[1]!];
    heap.disposeData(acc.dataId);
  } else {
    tensors.forEach((t, k) => {
      const x = heap.typedArrayFromHeap(t);
      const g = adaptive ? heap.typedArrayFromHeap(gs[k]!) : undefined;
      for (let i = 0; i < x.length; i++) {
        // ASAM's T·g rounded as tfjs's Abs, Add and Mul, then squared as the plain case.
        const v =
          g === undefined ? x[i]! : Math.fround(Math.fround(Math.abs(x[i]!) + shift) * g[i]!);
        if (v - v !== 0) nonFinite += 1;
        squares += Math.fround(v * v);
      }
    });
  }
  const out = heap.makeOutput([], 'float32');
  heap.typedArrayFromHeap(out)[0] = which === 'nonFinite' ? nonFinite : squares;
  return out;
}

/** The tensors `${prefix}${k}`, k = 0, 1, …, in order. */
function listed(inputs: tf.NamedTensorInfoMap, prefix: string, kernel: string): tf.TensorInfo[] {
  const out: tf.TensorInfo[] = [];
  while (inputs[`${prefix}${out.length}`] !== undefined) {
    out.push(input(inputs, `${prefix}${out.length}`, kernel));
  }
  return out;
}

function sameShapes(kernel: string, ...lists: tf.TensorInfo[][]) {
  const [first] = lists;
  for (const list of lists) {
    list.forEach((t, k) => {
      if (list.length !== first!.length || t.shape.join() !== first![k]!.shape.join()) {
        throw new Error(
          `@usam/backend: ${kernel}: tensor ${k} has shapes [${first![k]?.shape.join(', ')}] and [${t.shape.join(', ')}]; every list needs the same shapes.`,
        );
      }
    });
  }
}

export function entrywise({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const { op, c } = attrs as { op?: string; c?: number };
  const shifted = op === 'absAdd' || op === 'adaptiveDirection';
  if (op !== 'mul' && !(shifted && typeof c === 'number')) {
    throw new Error(
      `@usam/backend: ${ENTRYWISE}: attrs must be { op: 'mul' } or { op: 'absAdd' | 'adaptiveDirection', c: number }, got ${JSON.stringify(attrs)}.`,
    );
  }
  const a = listed(inputs, 'a', ENTRYWISE);
  const b = op !== 'absAdd' ? listed(inputs, 'b', ENTRYWISE) : [];
  if (op !== 'absAdd') sameShapes(ENTRYWISE, a, b);
  const heap = backend as unknown as WasmHeap;
  const simd = simdKernels(heap);
  const shift = Math.fround(c ?? 0);
  return a.map((ak, k) => {
    const out = heap.makeOutput([...ak.shape], 'float32');
    const n = sizeOf(ak.shape);
    if (simd !== undefined) {
      if (op === 'mul') simd.mulEntries(ak, b[k]!, out, n);
      else if (op === 'absAdd') simd.absAdd(ak, out, n, shift);
      else simd.adaptiveDirection(ak, b[k]!, out, n, shift);
    } else {
      // Views after makeOutput: allocating may grow (and so detach) the heap.
      const o = heap.typedArrayFromHeap(out);
      const x = heap.typedArrayFromHeap(ak);
      const f = Math.fround;
      if (op === 'mul') {
        const y = heap.typedArrayFromHeap(b[k]!);
        for (let i = 0; i < n; i++) o[i] = x[i]! * y[i]!;
      } else if (op === 'absAdd') {
        for (let i = 0; i < n; i++) o[i] = Math.abs(x[i]!) + shift;
      } else {
        const y = heap.typedArrayFromHeap(b[k]!);
        for (let i = 0; i < n; i++) {
          const t = f(Math.abs(x[i]!) + shift);
          o[i] = t * f(t * y[i]!);
        }
      }
    }
    return out;
  });
}

interface AdamAttrs {
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
  a1: number;
  a2: number;
}

export function adam({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const a = attrs as Partial<AdamAttrs>;
  const names = ['beta1', 'beta2', 'epsilon', 'learningRate', 'a1', 'a2'] as const;
  const bad = names.find((name) => typeof a[name] !== 'number');
  if (bad !== undefined) {
    throw new Error(
      `@usam/backend: ${ADAM}: attrs.${bad} must be a number, got ${JSON.stringify(a[bad])}.`,
    );
  }
  const [x, g, m, v] = ['x', 'g', 'm', 'v'].map((p) => listed(inputs, p, ADAM)) as [
    tf.TensorInfo[],
    tf.TensorInfo[],
    tf.TensorInfo[],
    tf.TensorInfo[],
  ];
  sameShapes(ADAM, x, g, m, v);
  // The constants as tfjs's ops see them: numbers uploaded as float32 scalars (1 − β in float64 first).
  const f = Math.fround;
  const [b1, c1, b2, c2] = [f(a.beta1!), f(1 - a.beta1!), f(a.beta2!), f(1 - a.beta2!)];
  const [d1, d2, eps, s] = [f(a.a1!), f(a.a2!), f(a.epsilon!), f(-a.learningRate!)];
  const heap = backend as unknown as WasmHeap;
  const simd = simdKernels(heap);
  const outs = [x, m, v].map((list) =>
    list.map((t) => heap.makeOutput([...t.shape], 'float32')),
  ) as [tf.TensorInfo[], tf.TensorInfo[], tf.TensorInfo[]];
  x.forEach((xk, k) => {
    const n = sizeOf(xk.shape);
    const [ox, om, ov] = [outs[0][k]!, outs[1][k]!, outs[2][k]!];
    if (simd !== undefined) {
      simd.adam(xk, g[k]!, m[k]!, v[k]!, ox, om, ov, n, b1, c1, b2, c2, d1, d2, eps, s);
      return;
    }
    const [X, G, M, V, OX, OM, OV] = [xk, g[k]!, m[k]!, v[k]!, ox, om, ov].map((t) =>
      heap.typedArrayFromHeap(t),
    ) as Float32Array[];
    for (let i = 0; i < n; i++) {
      const gi = G![i]!;
      const mi = f(f(M![i]! * b1) + f(gi * c1));
      const vi = f(f(V![i]! * b2) + f(f(gi * gi) * c2));
      const step = f(f(mi / d1) / f(f(Math.sqrt(f(vi / d2))) + eps));
      OM![i] = mi;
      OV![i] = vi;
      OX![i] = f(step * s) + X![i]!;
    }
  });
  return [...outs[0], ...outs[1], ...outs[2]];
}

export function momentum({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const { m, c, nesterov } = attrs as { m?: number; c?: number; nesterov?: boolean };
  if (typeof m !== 'number' || typeof c !== 'number' || typeof nesterov !== 'boolean') {
    throw new Error(
      `@usam/backend: ${MOMENTUM}: attrs must be { m: number, c: number, nesterov: boolean }, got ${JSON.stringify(attrs)}.`,
    );
  }
  const [x, g, a] = ['x', 'g', 'a'].map((p) => listed(inputs, p, MOMENTUM)) as [
    tf.TensorInfo[],
    tf.TensorInfo[],
    tf.TensorInfo[],
  ];
  sameShapes(MOMENTUM, x, g, a);
  const f = Math.fround;
  const [mf, cf] = [f(m), f(c)];
  const heap = backend as unknown as WasmHeap;
  const simd = simdKernels(heap);
  const outs = [x, a].map((list) => list.map((t) => heap.makeOutput([...t.shape], 'float32'))) as [
    tf.TensorInfo[],
    tf.TensorInfo[],
  ];
  x.forEach((xk, k) => {
    const n = sizeOf(xk.shape);
    const [ox, oa] = [outs[0][k]!, outs[1][k]!];
    if (simd !== undefined) {
      simd.momentum(xk, g[k]!, a[k]!, ox, oa, n, mf, cf, nesterov);
      return;
    }
    const [X, G, A, OX, OA] = [xk, g[k]!, a[k]!, ox, oa].map((t) =>
      heap.typedArrayFromHeap(t),
    ) as Float32Array[];
    for (let i = 0; i < n; i++) {
      const gi = G![i]!;
      const ai = f(f(A![i]! * mf) + gi);
      const step = nesterov ? f(gi + f(ai * mf)) : ai;
      OA![i] = ai;
      OX![i] = f(cf * step) + X![i]!;
    }
  });
  return [...outs[0], ...outs[1]];
}
