/**
 * Sum and Mean over leading axes for the wasm backend, without a transpose.
 *
 * tfjs-backend-wasm 4.22 reduces by first transposing the reduced axes to the
 * end, then summing contiguous runs. For the reductions training does most
 * (bias and BatchNorm gradients: Σ over N, H, W of an [N, H, W, C] tensor) the
 * transpose is most of the cost. Read as an [R, C] matrix, the sum over its
 * rows is one streaming pass that adds each row into C accumulators (float64,
 * so at least as exact as wasm's float32 sums): our wasm SIMD kernel
 * (simd-kernels.ts; float32 blocks of 16 rows into float64), or JavaScript
 * where that cannot run.
 */
import * as tf from '@tensorflow/tfjs-core';
import { simdKernels, type WasmHeap } from './simd-kernels';
import type { KernelArgs } from './wasm-scratch';

/**
 * Wraps wasm's Sum (`mean` false) or Mean (`mean` true): float32 reductions
 * over a prefix of the axes that leave more than one value run here; every
 * other one goes to wasm's own kernel.
 */
export const leadingAxesByRows =
  (mean: boolean) =>
  (original: tf.KernelFunc): tf.KernelFunc =>
  (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const rows = axes.reduce((n, a) => n * x.shape[a]!, 1);
    const columns = tf.util.sizeFromShape(x.shape) / rows;
    const prefix = axes.every((a, i) => a === i);
    const outShape = keepDims
      ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : x.shape.filter((_, i) => !axes.includes(i));
    const backend = args.backend as unknown as WasmHeap;
    if (x.dtype === 'float32' && tf.util.sizeFromShape(x.shape) === 0) {
      // wasm leaves the output uninitialised (or divides by zero); cpu gives 0 (a mean too).
      const out = backend.makeOutput(outShape, 'float32');
      backend.typedArrayFromHeap(out).fill(0);
      return out;
    }
    if (x.dtype !== 'float32' || !prefix || rows < 2 || columns < 2) return original(args);
    const out = backend.makeOutput(outShape, 'float32');
    const scale = mean ? 1 / rows : 1;
    const simd = simdKernels(backend);
    if (simd !== undefined) {
      const acc = backend.makeOutput([2 * columns], 'float32'); // float64 accumulators
      simd.sumRows(x, out, acc, rows, columns, scale);
      backend.disposeData(acc.dataId);
      return out;
    }
    // Views after makeOutput: allocating may grow (and so detach) the heap.
    const values = backend.typedArrayFromHeap(x);
    const acc = new Float64Array(columns);
    for (let r = 0, i = 0; r < rows; r++) {
      for (let c = 0; c < columns; c++, i++) acc[c]! += values[i];
    }
    const result = backend.typedArrayFromHeap(out);
    for (let c = 0; c < columns; c++) result[c] = acc[c]! * scale;
    return out;
  };
