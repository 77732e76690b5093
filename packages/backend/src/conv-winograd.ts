/**
 * Stride-1, undilated 3×3 convolutions on wasm by Winograd's F(2×2, 3×3)
 * (docs/conv-kernels.md): 2.25× fewer multiplications than the direct
 * convolution, in our SIMD module (assembly/kernels.ts). The forward Conv2D
 * and FusedConv2D (bias, linear or ReLU); Conv2DBackpropInput, which at
 * stride 1 is the same convolution of dy with the flipped filter, channel axes
 * swapped; and Conv2DBackpropFilter by F(3×3, 2×2) on the same input tiles.
 * Everything else goes to the kernel these wrap.
 *
 * The tiles go in chunks whose transformed input and products stay in cache.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  CONV_CHUNKING,
  type SimdKernels,
  simdKernels,
  type WasmHeap,
  winogradFloats,
} from './simd-kernels';
import { type KernelArgs, type Pair, type Shape4, withScratch } from './wasm-scratch';

/**
 * `use`: whether the kernels below take the convolutions they can (false for
 * same-process A/B benchmarks, bench/kernels-ab.ts). `floats`: the floats of
 * transformed input and products per chunk of tiles (1 MiB: L2-sized;
 * CONV_CHUNKING.floats caps it, so that the differential harness crosses
 * chunk boundaries with small tensors). `minTiles`: the fewest tiles a chunk
 * holds (but for the harness's small chunks), a multiple of 4; `minGradientTiles`
 * the same for the filter gradient, whose products sum over the tiles. `minTiles`: the fewest tiles a chunk
 * holds (but for the harness's small chunks), multiples of 4.
 */
export const WINOGRAD = { use: true, floats: 1 << 18, minTiles: 64, minGradientTiles: 256 };

/**
 * Whether a convolution with `cin` input and `cout` output channels is worth
 * the transforms: with few channels the 16 products are too thin to run at
 * the matmul's speed, and the transforms (16 floats per 4 pixels of x and of
 * dy) cost more than the products save. The forward products (tiles × cin ×
 * cout) lost at 8 → 16 channels (0.93×), the filter gradient's (cin × tiles ×
 * cout) won 2.3× there but lost at 3 → 32 (0.55×: dy's transform dominates)
 * (bench/kernels-ab.ts, docs/conv-kernels.md).
 */
const worthIt = (cin: number, cout: number, least: number) => cin >= least && cout >= least;

/**
 * y[n, i, j, co] = Σ x[n, i − top + a, j − left + b, ci] · g[a, b, ci, co] (+ bias,
 * ReLU) for an output of [ho, wo], zero outside x; with `flip`, g is the input
 * gradient's filter: `filter` flipped, its channel axes swapped.
 */
function winograd(
  s: { alloc(shape: number[]): tf.TensorInfo },
  simd: SimdKernels,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  flip: boolean,
  [ho, wo]: Pair,
  [top, left]: Pair,
  bias: tf.TensorInfo | undefined,
  relu: boolean,
  y: tf.TensorInfo,
): tf.TensorInfo {
  const [n, h, w, cin] = x.shape as Shape4;
  const [, , fin, fout] = filter.shape as Shape4;
  const cout = flip ? fin : fout;
  // The input gradient's filter: flipped, channel axes swapped ([3, 3, Cout, Cin]).
  let g = filter;
  if (flip) {
    g = s.alloc([3, 3, fout, fin]);
    simd.flipSwapFilter(filter, g, 9, fin, fout);
  }
  const u = s.alloc([winogradFloats(cin, cout)]);
  simd.winogradFilter(g, u, cin, cout);
  const tilesH = Math.ceil(ho / 2);
  const tilesW = Math.ceil(wo / 2);
  const tiles = n * tilesH * tilesW;
  const chunk = chunkOf(tiles, cin + cout, WINOGRAD.minTiles);
  const v = s.alloc([winogradFloats(chunk, cin)]);
  const m = s.alloc([winogradFloats(chunk, cout)]);
  for (let t0 = 0; t0 < tiles; t0 += chunk) {
    const t1 = Math.min(tiles, t0 + chunk);
    simd.winogradInput(x, v, n, h, w, cin, cin, tilesH, tilesW, top, left, t0, t1);
    simd.winogradProducts(v, u, m, t1 - t0, cin, cout);
    simd.winogradOutput(m, y, bias ?? m, n, ho, wo, cout, tilesH, tilesW, t0, t1, !!bias, relu);
  }
  return y;
}

/** Tiles per chunk: whole blocks of 4 for the products, `floats` of them with `width` floats each. */
function chunkOf(tiles: number, width: number, least: number): number {
  const floats = Math.min(WINOGRAD.floats, CONV_CHUNKING.floats);
  const fit = Math.floor(floats / (16 * width) / 4) * 4;
  // At least `least` tiles, so that wide layers still multiply tall blocks (but for the
  // harness's small chunks).
  return Math.min(tiles, Math.max(4, floats < WINOGRAD.floats ? fit : least, fit));
}

const isPlain = (
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  strides: number | Pair,
  dilations: number | Pair | undefined,
  dataFormat: string | undefined,
) =>
  x.shape.length === 4 &&
  x.dtype === 'float32' &&
  filter.dtype === 'float32' &&
  filter.shape[0] === 3 &&
  filter.shape[1] === 3 &&
  (dataFormat ?? 'NHWC') === 'NHWC' &&
  [strides, dilations ?? 1].every((v) => (Array.isArray(v) ? v.every((d) => d === 1) : v === 1));

/**
 * Wraps Conv2D (`fused` false) or FusedConv2D: stride-1, undilated 3×3
 * convolutions in NHWC with a [Cout] bias or none and a linear or ReLU
 * activation run here; the rest goes to `next`.
 */
export const winogradConv2D =
  (fused: boolean) =>
  (next: tf.KernelFunc): tf.KernelFunc =>
  (args: KernelArgs) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs as Record<
      string,
      tf.TensorInfo | undefined
    >;
    const attrs = args.attrs as unknown as tf.Conv2DAttrs & { activation?: string };
    const activation = fused ? (attrs.activation ?? 'linear') : 'linear';
    const backend = args.backend as unknown as WasmHeap;
    const simd =
      WINOGRAD.use &&
      x !== undefined &&
      filter !== undefined &&
      preluActivationWeights === undefined &&
      (activation === 'linear' || activation === 'relu') &&
      (bias === undefined ||
        (bias.dtype === 'float32' &&
          bias.shape.length === 1 &&
          bias.shape[0] === filter.shape[3])) &&
      isPlain(x, filter, attrs.strides, attrs.dilations, attrs.dataFormat) &&
      x.shape[3] === filter.shape[2] &&
      worthIt(filter.shape[2]!, filter.shape[3]!, 16)
        ? simdKernels(backend)
        : undefined;
    if (simd === undefined) return next(args);
    const info = tf.backend_util.computeConv2DInfo(
      x!.shape as Shape4,
      filter!.shape as Shape4,
      1,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const out: Pair = [info.outHeight, info.outWidth];
    const y = backend.makeOutput([info.batchSize, ...out, info.outChannels], 'float32');
    if (tf.util.sizeFromShape(y.shape) === 0) return y;
    try {
      return withScratch(args.backend as tf.KernelBackend, (s) =>
        winograd(
          s,
          simd,
          x!,
          filter!,
          false,
          out,
          [info.padInfo.top, info.padInfo.left],
          bias,
          activation === 'relu',
          y,
        ),
      );
    } catch (error) {
      backend.disposeData(y.dataId);
      throw error;
    }
  };

/**
 * Conv2DBackpropInput at stride 1, undilated, 3×3, NHWC: dx[n, y, x, ci] =
 * Σ dy[n, y + top − a, x + left − b, co] · W[a, b, ci, co], a convolution of dy
 * with the flipped filter and padding 2 − top, 2 − left; undefined where it
 * does not apply (the caller's own kernel then runs).
 */
export function winogradInputGradient(
  args: KernelArgs,
  info: tf.backend_util.Conv2DInfo,
): tf.TensorInfo | undefined {
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs & {
    dilations?: number | Pair;
  };
  const backend = args.backend as unknown as WasmHeap;
  if (
    !WINOGRAD.use ||
    dy.dtype !== 'float32' ||
    !isPlain(dy, filter, attrs.strides, attrs.dilations, attrs.dataFormat) ||
    !worthIt(filter.shape[3]!, filter.shape[2]!, 16)
  ) {
    return undefined;
  }
  const simd = simdKernels(backend);
  if (simd === undefined) return undefined;
  const dx = backend.makeOutput(
    [info.batchSize, info.inHeight, info.inWidth, info.inChannels],
    'float32',
  );
  if (tf.util.sizeFromShape(dx.shape) === 0) return dx;
  try {
    return withScratch(args.backend as tf.KernelBackend, (s) =>
      winograd(
        s,
        simd,
        dy,
        filter,
        true,
        [info.inHeight, info.inWidth],
        [2 - info.padInfo.top, 2 - info.padInfo.left],
        undefined,
        false,
        dx,
      ),
    );
  } catch (error) {
    backend.disposeData(dx.dataId);
    throw error;
  }
}

/**
 * Conv2DBackpropFilter at stride 1, undilated, 3×3, NHWC, by F(3×3, 2×2) over
 * dy's 2×2 tiles (assembly/kernels.ts): dW = Aᵀ·(Σ_t V_t ⊙ U_t)·A, the sum
 * over tiles as 16 products accumulated chunk by chunk; undefined where it
 * does not apply (the caller's own kernel then runs).
 */
export function winogradFilterGradient(
  args: KernelArgs,
  info: tf.backend_util.Conv2DInfo,
  filterShape: Shape4,
): tf.TensorInfo | undefined {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs & {
    dilations?: number | Pair;
  };
  const [, , cin, cout] = filterShape;
  const backend = args.backend as unknown as WasmHeap;
  if (
    !WINOGRAD.use ||
    dy.dtype !== 'float32' ||
    !isPlain(x, { ...x, shape: filterShape }, attrs.strides, attrs.dilations, attrs.dataFormat) ||
    !worthIt(cin, cout, 8)
  ) {
    return undefined;
  }
  const simd = simdKernels(backend);
  if (simd === undefined) return undefined;
  const [n, h, w] = x.shape as Shape4;
  const [, ho, wo] = dy.shape as Shape4;
  const tilesH = Math.ceil(ho / 2);
  const tilesW = Math.ceil(wo / 2);
  const tiles = n * tilesH * tilesW;
  if (tiles === 0) return undefined;
  // Input channels in whole blocks of 4 (zeros past cin): the products' rows are channels.
  const vc = Math.ceil(cin / 4) * 4;
  const dw = backend.makeOutput([...filterShape], 'float32');
  try {
    return withScratch(args.backend as tf.KernelBackend, (s) => {
      const m = s.alloc([winogradFloats(vc, cout)]);
      const chunk = chunkOf(tiles, vc + cout, WINOGRAD.minGradientTiles);
      const v = s.alloc([winogradFloats(chunk, vc)]);
      const u = s.alloc([winogradFloats(chunk, cout)]);
      const [top, left] = [info.padInfo.top, info.padInfo.left];
      for (let t0 = 0; t0 < tiles; t0 += chunk) {
        const t1 = Math.min(tiles, t0 + chunk);
        simd.winogradInput(x, v, n, h, w, cin, vc, tilesH, tilesW, top, left, t0, t1);
        simd.winogradGradientTiles(dy, u, n, ho, wo, cout, tilesH, tilesW, t0, t1);
        simd.winogradGradientProducts(v, u, m, t1 - t0, vc, cout, t0 > 0);
      }
      if (vc === cin) {
        simd.winogradFilterGradient(m, dw, cin * cout);
        return dw;
      }
      // [9, vc, cout] → [9, cin, cout]: each tap's first cin rows.
      const padded = s.alloc([9, vc, cout]);
      simd.winogradFilterGradient(m, padded, vc * cout);
      const from = backend.typedArrayFromHeap(padded);
      const to = backend.typedArrayFromHeap(dw);
      for (let tap = 0; tap < 9; tap++) {
        to.set(from.subarray(tap * vc * cout, (tap * vc + cin) * cout), tap * cin * cout);
      }
      return dw;
    });
  } catch (error) {
    backend.disposeData(dw.dataId);
    throw error;
  }
}
