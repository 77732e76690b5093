/**
 * Sum and Mean over leading axes as a matrix product on XNNPACK.
 *
 * tfjs-backend-wasm 4.22 reduces by first transposing the reduced axes to the
 * end, then summing contiguous runs. For the reductions training does most
 * (bias and BatchNorm gradients: Σ over N, H, W of an [N, H, W, C] tensor),
 * the transpose costs more than the sum: about 15 ms for 2M values, where the
 * product 1ᵀX of a row of ones and X as an [N·H·W, C] matrix takes under 2 ms.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type KernelArgs, withScratch } from './wasm-scratch';

/**
 * Wraps wasm's Sum (`mean` false) or Mean (`mean` true): float32 reductions
 * over a prefix of the axes, leaving more than one value, become a product;
 * every other one goes to wasm's own kernel.
 */
export const leadingAxesAsProduct =
  (mean: boolean) =>
  (original: tf.KernelFunc): tf.KernelFunc =>
  (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const rows = axes.reduce((n, a) => n * x.shape[a]!, 1);
    const columns = tf.util.sizeFromShape(x.shape) / rows;
    const prefix = axes.every((a, i) => a === i);
    if (x.dtype !== 'float32' || !prefix || rows < 2 || columns < 2) return original(args);
    const outShape = keepDims
      ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : x.shape.filter((_, i) => !axes.includes(i));
    return withScratch(args.backend as tf.KernelBackend, (s) => {
      const ones = s.run(
        'Fill',
        {},
        { shape: [1, rows], value: mean ? 1 / rows : 1, dtype: 'float32' },
      );
      // A copy as the right operand: XNNPACK keeps a packed copy of that operand
      // until its tensor is freed, and x may live long; the copy goes right after.
      const matrix = s.reshape(s.run('Identity', { x }, {}), [rows, columns]);
      const product = s.run(
        'BatchMatMul',
        { a: ones, b: matrix },
        { transposeA: false, transposeB: false },
      );
      return s.reshape(product, outShape);
    });
  };
