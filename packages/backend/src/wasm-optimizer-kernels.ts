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
 */
export const LINEAR_COMBINATION = 'UsamLinearCombination';

/**
 * Over inputs `t${k}` (float32): with attr `which` 'nonFinite', the number of
 * entries that are NaN or ±∞ (each tested on its own: 0 exactly when all are
 * finite); 'squaredNorm', Σ t² (summed in float64); as float32 scalars.
 */
export const FINITE_SQUARES = 'UsamFiniteSquares';

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
  const heap = backend as unknown as WasmHeap;
  const simd = simdKernels(heap);
  const outs: tf.TensorInfo[] = [];
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
    }
    outs.push(out);
  }
  return outs;
}

export function finiteSquares({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const which = (attrs as { which?: string }).which;
  if (which !== 'nonFinite' && which !== 'squaredNorm') {
    throw new Error(
      `@usam/backend: ${FINITE_SQUARES}: attrs.which must be 'nonFinite' or 'squaredNorm', got ${JSON.stringify(which)}.`,
    );
  }
  const heap = backend as unknown as WasmHeap;
  const simd = simdKernels(heap);
  const tensors = Object.keys(inputs).map((_, k) => input(inputs, `t${k}`, FINITE_SQUARES));
  let nonFinite = 0;
  let squares = 0;
  if (simd !== undefined) {
    // Two float64 accumulators in a 4-float tensor (the heap aligns allocations to 8 bytes).
    const acc = heap.makeOutput([4], 'float32');
    heap.typedArrayFromHeap(acc).fill(0);
    for (const t of tensors) simd.finiteSquares(t, sizeOf(t.shape), acc);
    const view = heap.typedArrayFromHeap(acc);
    const sums = new Float64Array(view.buffer, view.byteOffset, 2);
    [nonFinite, squares] = [sums[0]!, sums[1]!];
    heap.disposeData(acc.dataId);
  } else {
    for (const t of tensors) {
      const x = heap.typedArrayFromHeap(t);
      for (let i = 0; i < x.length; i++) {
        const v = x[i]!;
        if (v - v !== 0) nonFinite += 1;
        squares += Math.fround(v * v);
      }
    }
  }
  const out = heap.makeOutput([], 'float32');
  heap.typedArrayFromHeap(out)[0] = which === 'nonFinite' ? nonFinite : squares;
  return out;
}
