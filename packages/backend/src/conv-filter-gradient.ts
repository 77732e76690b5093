/**
 * Conv2DBackpropFilter in our wasm SIMD module (simd-kernels.ts):
 * dW[(ky, kx, ci), co] = Σ_p col[(ky, kx, ci), p] · dy[p, co] over the pixels
 * p = (n, i, j), where col holds the input's patches, written transposed by
 * `im2colT`, and `matmulRows` multiplies it with dy read in place. The result is
 * already in tfjs's [kh, kw, Cin, Cout] layout, so no transposes.
 *
 * Not wasm's BatchMatMul (XNNPACK): it packs its right operand, here dy with
 * N·Ho·Wo rows, anew for every fresh dy, which cost more than the product
 * itself on the small CNNs (bench/kernels-ab.ts; see the package's notes).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { address, convGeometry, type SimdKernels, type WasmHeap } from './simd-kernels';
import type { Scratch, Shape4 } from './wasm-scratch';

export function filterGradientBySimd(
  s: Scratch,
  simd: SimdKernels,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  filterShape: Shape4,
): tf.TensorInfo {
  const [kh, kw, cin, cout] = filterShape;
  const [n] = x.shape as Shape4;
  const [, ho, wo] = dy.shape as Shape4;
  const pixels = n * ho * wo;
  const backend = s.backend as unknown as WasmHeap;
  const col = s.alloc([kh * kw * cin, pixels]);
  simd.im2colT(address(backend, x), address(backend, col), ...convGeometry(info, [ho, wo]));
  const dw = s.alloc(filterShape);
  // dw = col · dy: col [kh·kw·Cin, pixels] row-major, dy [pixels, Cout].
  simd.matmul(
    address(backend, col),
    pixels * 4,
    4,
    address(backend, dy),
    address(backend, dw),
    kh * kw * cin,
    pixels,
    cout,
    false,
  );
  return dw;
}
