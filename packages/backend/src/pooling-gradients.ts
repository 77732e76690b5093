/**
 * MaxPoolGrad for the wasm backend, replacing tfjs-backend-wasm 4.22's.
 *
 * wasm's kernel first finds every window's argmax, then, for every input
 * pixel, loops over the windows that might contain it with divisions and
 * bounds checks per step: about a quarter of a small CNN's training step. It
 * also starts each window's search at the smallest positive float rather than
 * −∞, so a window whose values are all ≤ 0 passes no gradient at all (harmless
 * after a ReLU, wrong on raw inputs). This one makes a single pass over the
 * windows, keeping the running maximum of all channels of a window position at
 * once (NHWC: channels are contiguous), and adds each window's dy to its
 * argmax: dx = Σ_w dy_w · e_argmax(w). Ties go to the first maximum in
 * row-major window order, as on the cpu backend; overlapping windows add up.
 *
 * The pass runs in our wasm SIMD kernel (four channels at a time, on wasm's
 * heap; simd-kernels.ts), or as JavaScript where that cannot run.
 */
import * as tf from '@tensorflow/tfjs-core';
import { simdKernels, type WasmHeap } from './simd-kernels';
import type { KernelArgs } from './wasm-scratch';

interface PoolAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

export function maxPoolGrad(args: KernelArgs): tf.TensorInfo {
  const { dy, input } = args.inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as PoolAttrs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  if (dy.shape.join() !== [batchSize, outHeight, outWidth, channels].join()) {
    throw new Error(
      `@usam/backend: MaxPoolGrad: dy has shape [${dy.shape.join(', ')}], expected [${[batchSize, outHeight, outWidth, channels].join(', ')}].`,
    );
  }
  const backend = args.backend as unknown as WasmHeap;
  const dxInfo = backend.makeOutput([...input.shape], 'float32');
  const { strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const { top, left } = info.padInfo;
  const simd = simdKernels(backend);
  if (simd !== undefined) {
    simd.maxPoolGrad(
      input,
      dy,
      dxInfo,
      batchSize,
      inHeight,
      inWidth,
      channels,
      outHeight,
      outWidth,
      filterHeight,
      filterWidth,
      strideHeight,
      strideWidth,
      top,
      left,
    );
    return dxInfo;
  }
  // Views after makeOutput: allocating may grow (and so detach) the heap.
  const x = backend.typedArrayFromHeap(input);
  const g = backend.typedArrayFromHeap(dy);
  const dx = backend.typedArrayFromHeap(dxInfo);
  dx.fill(0);
  const best = new Float32Array(channels);
  const at = new Int32Array(channels);
  let gOffset = 0;
  for (let n = 0; n < batchSize; n++) {
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = oy * strideHeight - top;
      const yStart = Math.max(0, y0);
      const yEnd = Math.min(inHeight, y0 + filterHeight);
      for (let ox = 0; ox < outWidth; ox++) {
        const x0 = ox * strideWidth - left;
        const xStart = Math.max(0, x0);
        const xEnd = Math.min(inWidth, x0 + filterWidth);
        best.fill(Number.NEGATIVE_INFINITY);
        at.fill(-1);
        for (let iy = yStart; iy < yEnd; iy++) {
          for (let ix = xStart; ix < xEnd; ix++) {
            const base = ((n * inHeight + iy) * inWidth + ix) * channels;
            for (let c = 0; c < channels; c++) {
              const v = x[base + c]!;
              if (v > best[c]!) {
                best[c] = v;
                at[c] = base + c;
              }
            }
          }
        }
        for (let c = 0; c < channels; c++) {
          const i = at[c]!;
          if (i >= 0) dx[i] = dx[i]! + g[gOffset + c]!;
        }
        gOffset += channels;
      }
    }
  }
  return dxInfo;
}
