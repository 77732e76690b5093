/**
 * Add for the wasm backend when one operand is a bias: [..., C] + [C] (or
 * [1, …, 1, C]), as every conv and dense layer without a fused bias runs it.
 * tfjs-backend-wasm 4.22 runs broadcasting adds through a generic loop that
 * computes every element's broadcast index (≈ 3 ns an element, 5% of a small
 * CNN's step); our SIMD kernel adds the bias row by row. Every other Add goes
 * to wasm's own kernel, as does everything when our kernels cannot run
 * (simd-kernels.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { simdKernels, type WasmHeap } from './simd-kernels';
import type { KernelArgs } from './wasm-scratch';

/** Whether `bias` broadcasts along `x`'s last axis only, giving `x`'s shape. */
function isBias(x: tf.TensorInfo, bias: tf.TensorInfo): boolean {
  const columns = x.shape.at(-1);
  return (
    columns !== undefined &&
    bias.shape.length <= x.shape.length &&
    bias.shape.at(-1) === columns &&
    bias.shape.slice(0, -1).every((d) => d === 1) &&
    tf.util.sizeFromShape(x.shape) > columns!
  );
}

/** Wraps wasm's Add. */
export const biasAddByRows =
  (original: tf.KernelFunc): tf.KernelFunc =>
  (args: KernelArgs) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return original(args);
    const [x, bias] = isBias(a, b) ? [a, b] : isBias(b, a) ? [b, a] : [];
    const backend = args.backend as unknown as WasmHeap;
    const simd = x && simdKernels(backend);
    if (!x || !bias || !simd) return original(args);
    const out = backend.makeOutput([...x.shape], 'float32');
    const columns = x.shape.at(-1)!;
    simd.addRows(x, bias, out, tf.util.sizeFromShape(x.shape) / columns, columns);
    return out;
  };
