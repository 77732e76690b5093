/**
 * Conv2DBackpropInput in our wasm SIMD module (simd-kernels.ts), for any
 * stride, padding and dilation without work on zeros: the patch gradients
 * col[p, (ky, kx, ci)] = Σ_co dy[p, co] · W[ky, kx, ci, co] for the output
 * pixels p, a product of dy read in place with Wᵀ ([Cout, kh·kw·Cin]), then
 * added into dx where each patch came from (`col2imAdd`, the adjoint of
 * im2col). The pixels go in chunks so that col stays a few MiB.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { CONV_CHUNKING, convGeometry, type SimdKernels } from './simd-kernels';
import type { Scratch, Shape4 } from './wasm-scratch';

export function inputGradientBySimd(
  s: Scratch,
  simd: SimdKernels,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  inputShape: Shape4,
): tf.TensorInfo {
  const [kh, kw, cin, cout] = filter.shape as Shape4;
  const [n] = inputShape;
  const [, ho, wo] = dy.shape as Shape4;
  const patch = kh * kw * cin;
  const pixels = n * ho * wo;
  const filterT = s.transpose(s.reshape(filter, [patch, cout]), [1, 0]); // [Cout, kh·kw·Cin]
  const dx = s.alloc(inputShape);
  const chunk = Math.min(pixels, Math.max(4, Math.floor(CONV_CHUNKING.floats / patch)));
  const col = s.alloc([chunk, patch]);
  const geometry = convGeometry(info, [ho, wo]);
  for (let p0 = 0; p0 < pixels; p0 += chunk) {
    const p1 = Math.min(pixels, p0 + chunk);
    // col = dy[p0..p1] · Wᵀ: dy rows [pixels, Cout], Wᵀ [Cout, kh·kw·Cin].
    simd.matmul([dy, p0 * cout], cout * 4, 4, filterT, col, p1 - p0, cout, patch, false);
    simd.col2imAdd(col, dx, ...geometry, p0, p1, p0 === 0);
  }
  return dx;
}
