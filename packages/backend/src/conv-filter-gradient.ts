/**
 * Conv2DBackpropFilter as one matrix product on XNNPACK:
 * dW[(ky, kx, ci), co] = Σ_p col[(ky, kx, ci), p] · dy[p, co] over the pixels
 * p = (n, i, j), where col is the input's patches written transposed by our
 * SIMD module's `im2colT` (simd-kernels.ts). Already in tfjs's [kh, kw, Cin,
 * Cout] layout, so no transposes; wasm's BatchMatMul takes the product
 * without flags, hence its XNNPACK path.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { address, type SimdKernels, type WasmHeap } from './simd-kernels';
import type { Scratch, Shape4 } from './wasm-scratch';

export function filterGradientByProduct(
  s: Scratch,
  simd: SimdKernels,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  filterShape: Shape4,
): tf.TensorInfo {
  const [kh, kw, cin, cout] = filterShape;
  const [n, h, w] = x.shape as Shape4;
  const [, ho, wo] = dy.shape as Shape4;
  const pixels = n * ho * wo;
  const col = s.alloc([1, kh * kw * cin, pixels]);
  const backend = s.backend as unknown as WasmHeap;
  simd.im2colT(
    address(backend, x),
    address(backend, col),
    n,
    h,
    w,
    cin,
    ho,
    wo,
    kh,
    kw,
    info.strideHeight,
    info.strideWidth,
    info.dilationHeight,
    info.dilationWidth,
    info.padInfo.top,
    info.padInfo.left,
  );
  const product = s.run(
    'BatchMatMul',
    { a: col, b: s.reshape(dy, [1, pixels, cout]) },
    { transposeA: false, transposeB: false },
  );
  return s.reshape(product, filterShape);
}
