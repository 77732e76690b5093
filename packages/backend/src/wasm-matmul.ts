/**
 * Matrix products with a transpose flag on XNNPACK.
 *
 * tfjs-backend-wasm 4.22 runs BatchMatMul and _FusedMatMul on XNNPACK only
 * when neither operand is transposed and both have batch size 1; every other
 * product goes to a scalar triple loop, about 15× slower. The backward pass of
 * every dense layer is such a product (dW = xᵀ·dy, dx = dy·Wᵀ), so gradients,
 * SAM steps and Hessian-vector products spent most of their time there. These
 * wrappers transpose the flagged operand first (wasm's Transpose, O(size) against
 * the product's O(m·k·n)) and hand the product to wasm's own kernel without
 * flags. The result is the same product, up to float32 summation order.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { address, type SimdKernels, simdKernels, type WasmHeap } from './simd-kernels';
import { type KernelArgs, withScratch } from './wasm-scratch';

interface MatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
}

/** [0, …, r−3, r−1, r−2]: swaps the two innermost axes. */
const swapInner = (rank: number) => [
  ...Array.from({ length: rank - 2 }, (_, i) => i),
  rank - 1,
  rank - 2,
];

const batchSize = (shape: number[]) => shape.slice(0, -2).reduce((a, b) => a * b, 1);

/**
 * Wraps wasm's BatchMatMul or _FusedMatMul (same inputs `a`, `b` and flags;
 * _FusedMatMul's bias and activation pass through untouched). Products with a
 * batch larger than 1 stay on wasm's kernel: its XNNPACK path does not take them.
 */
export function transposeFirst(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as MatMulAttrs;
    const onXnnpack =
      a.dtype === 'float32' &&
      b.dtype === 'float32' &&
      batchSize(a.shape) === 1 &&
      batchSize(b.shape) === 1;
    if (!(transposeA || transposeB) || !onXnnpack) return original(args);
    const plain =
      transposeA &&
      !transposeB &&
      args.inputs.bias === undefined &&
      ((args.attrs as { activation?: string }).activation ?? 'linear') === 'linear';
    const simd = plain ? simdKernels(args.backend as unknown as WasmHeap) : undefined;
    if (simd !== undefined) return transposedLeft(args.backend as unknown as WasmHeap, simd, a, b);
    return withScratch(args.backend as tf.KernelBackend, (s) => {
      const inputs = {
        ...args.inputs,
        a: transposeA ? s.transpose(a, swapInner(a.shape.length)) : a,
        b: transposeB ? s.transpose(b, swapInner(b.shape.length)) : b,
      } as tf.NamedTensorInfoMap;
      const attrs = { ...args.attrs, transposeA: false, transposeB: false };
      return s.call(original, inputs, attrs);
    });
  };
}

/**
 * aᵀ·b for a [.., k, m] and b [.., k, n] (batch 1) in our SIMD module, which
 * reads a as it is: no transpose, and no XNNPACK packing of a fresh b.
 */
function transposedLeft(
  backend: WasmHeap,
  simd: SimdKernels,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
): tf.TensorInfo {
  const [k, m] = a.shape.slice(-2) as [number, number];
  const n = b.shape.at(-1)!;
  const rank = Math.max(a.shape.length, b.shape.length);
  const out = backend.makeOutput([...Array(rank - 2).fill(1), m, n], 'float32');
  // a [k, m] read as its transpose: a(i, kk) at i·4 + kk·4m.
  simd.matmul(
    address(backend, a),
    4,
    m * 4,
    address(backend, b),
    address(backend, out),
    m,
    k,
    n,
    false,
  );
  return out;
}
