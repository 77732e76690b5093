/**
 * Conv2DBackpropFilter in our wasm SIMD module (simd-kernels.ts):
 * dW[(ky, kx, ci), co] = Σ_p col[(ky, kx, ci), p] · dy[p, co] over the pixels
 * p = (n, i, j), where col holds the input's patches, written transposed by
 * `im2colT`, and `matmul` multiplies it with dy read in place. The result is
 * already in tfjs's [kh, kw, Cin, Cout] layout, so no transposes. The pixels go
 * in chunks of whole output rows, so that col stays a few MiB.
 *
 * Not wasm's BatchMatMul (XNNPACK): it packs its right operand, here dy with
 * N·Ho·Wo rows, anew for every fresh dy, which cost more than the product
 * itself on the small CNNs (bench/kernels-ab.ts; see the package's notes).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { CONV_CHUNKING, convGeometry, type SimdKernels, type WasmHeap } from './simd-kernels';
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
  const patch = kh * kw * cin;
  // Whole output rows (n, i) per chunk, so that col stays a few MiB.
  const rows = n * ho;
  const chunk = Math.min(rows, Math.max(1, Math.floor(CONV_CHUNKING.floats / (patch * wo))));
  // Rows of col (and dw) in whole blocks of 4: matmul does rows past its last block of 4 with
  // scalar code, 3 of 27 rows of a first layer's 3×3×3 patches, which took half its time. The
  // extra rows are zeros, their products dropped.
  const rows4 = Math.ceil(patch / 4) * 4;
  const col = s.alloc([rows4, chunk * wo]);
  const dw = s.alloc(filterShape);
  const sum = rows4 === patch ? dw : s.alloc([rows4, cout]);
  const heap = s.backend as unknown as WasmHeap;
  const geometry = convGeometry(info, [ho, wo]);
  for (let r0 = 0; r0 < rows; r0 += chunk) {
    const r1 = Math.min(rows, r0 + chunk);
    const pixels = (r1 - r0) * wo;
    simd.im2colT(x, col, ...geometry, r0, r1);
    if (rows4 !== patch) heap.typedArrayFromHeap(col).fill(0, patch * pixels, rows4 * pixels);
    // dw += col · dy[rows r0..r1]: col [kh·kw·Cin, pixels] row-major, dy [pixels, Cout].
    simd.matmul(col, pixels * 4, 4, [dy, r0 * wo * cout], sum, rows4, pixels, cout, r0 > 0);
  }
  if (sum !== dw) {
    heap.typedArrayFromHeap(dw).set(heap.typedArrayFromHeap(sum).subarray(0, patch * cout));
  }
  return dw;
}
