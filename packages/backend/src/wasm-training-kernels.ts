/**
 * Training kernels that @tensorflow/tfjs-backend-wasm 4.22 lacks (docs/backends.md):
 * Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter and
 * DepthwiseConv2dNativeBackpropInput; and a Conv2DBackpropInput to replace
 * wasm's own, a plain C++ loop up to 12× slower. Each is rewritten as
 * convolutions and layout changes that wasm does have (XNNPACK Conv2D /
 * DepthwiseConv2dNative, Transpose, PadV2, Slice, Sum, Reverse), so the heavy
 * part runs in XNNPACK. Where our wasm SIMD module runs (simd-kernels.ts), the
 * filter gradient, and the input gradient at strides > 1 or under 64 input
 * channels, run there instead (conv-filter-gradient.ts, conv-input-gradient.ts),
 * and stride-1 3×3 ones by Winograd (conv-winograd.ts, docs/conv-kernels.md).
 *
 * The kernels call wasm's kernel functions directly (see wasm-scratch.ts).
 */

import * as tf from '@tensorflow/tfjs-core';
import { filterGradientBySimd } from './conv-filter-gradient';
import { inputGradientBySimd } from './conv-input-gradient';
import { winogradConv2D, winogradFilterGradient, winogradInputGradient } from './conv-winograd';
import { maxPoolGrad } from './pooling-gradients';
import { setSimdKernelsDisabled, simdKernels, type WasmHeap } from './simd-kernels';
import {
  SOFTMAX_CROSS_ENTROPY,
  SOFTMAX_CROSS_ENTROPY_GRAD,
  softmaxCrossEntropy,
  softmaxCrossEntropyGrad,
} from './softmax-cross-entropy';
import { biasAddByRows } from './wasm-bias-add';
import { explicitSamePadding } from './wasm-conv-padding';
import { DRAWS, draws } from './wasm-draws';
import { sharedIdentity, sharedSameDtypeCast } from './wasm-identity';
import { transposeFirst } from './wasm-matmul';
import {
  ADAM,
  adam,
  ENTRYWISE,
  entrywise,
  FINITE_SQUARES,
  finiteSquares,
  LINEAR_COMBINATION,
  linearCombination,
  MOMENTUM,
  momentum,
} from './wasm-optimizer-kernels';
import { leadingAxesByRows } from './wasm-reduce';
import {
  BACKEND,
  type KernelArgs,
  type Pair,
  type Scratch,
  type Shape4,
  withScratch,
} from './wasm-scratch';
import { sliceWithoutCopy, splitWithoutCopy } from './wasm-slice';

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type RoundingMode = 'floor' | 'round' | 'ceil' | undefined;

function assertNhwc(kernelName: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(
      `@usam/backend: the wasm ${kernelName} kernel supports only dataFormat 'NHWC', got '${String(dataFormat)}'.`,
    );
  }
}

/**
 * Checks batch and channel sizes, which the wasm convolutions would otherwise
 * read past. Spatial sizes come from dy itself, so a dy produced with any
 * dimRoundingMode gets the gradient of the convolution that produced it.
 */
function assertSizes(kernelName: string, checks: [string, number, number][]): void {
  for (const [what, actual, expected] of checks) {
    if (actual !== expected) {
      throw new Error(`@usam/backend: ${kernelName}: ${what} is ${actual}, expected ${expected}.`);
    }
  }
}

/** A float32 tensor of zeros on wasm's heap. */
function zeros(args: KernelArgs, shape: number[]): tf.TensorInfo {
  const heap = args.backend as unknown as WasmHeap;
  const out = heap.makeOutput(shape, 'float32');
  heap.typedArrayFromHeap(out).fill(0);
  return out;
}

/**
 * The padding of the convolution that yields the filter gradient, along one
 * spatial axis. The forward pass reads x at i·s + k·r − padBefore (i < outSize,
 * k < filterSize); read as a convolution over x with stride r and dilation s,
 * it needs `before` = padBefore zeros in front and enough after to reach the
 * last index. `after` < 0 means x is longer than any read reaches, so the
 * convolution gives more than `filterSize` outputs and the extra are cropped.
 */
function filterGradPadding(
  inSize: number,
  outSize: number,
  filterSize: number,
  stride: number,
  dilation: number,
  padBefore: number,
): Pair {
  const lastRead = (filterSize - 1) * dilation + (outSize - 1) * stride - padBefore;
  return [padBefore, Math.max(0, lastRead + 1 - inSize)];
}

/** `filterGradPadding` along both spatial axes of a conv described by `info`. */
function filterGradPaddings(
  info: tf.backend_util.Conv2DInfo,
  [h, w]: Pair,
  [ho, wo]: Pair,
  [kh, kw]: Pair,
): [Pair, Pair] {
  return [
    filterGradPadding(h, ho, kh, info.strideHeight, info.dilationHeight, info.padInfo.top),
    filterGradPadding(w, wo, kw, info.strideWidth, info.dilationWidth, info.padInfo.left),
  ];
}

/**
 * dW[kh,kw,ci,co] = Σ_n Σ_i,j x[n, i·sh + kh·rh − top, j·sw + kw·rw − left, ci] · dy[n,i,j,co]:
 * a convolution of x as [Cin,H,W,N] with dy as a [Ho,Wo,N,Cout] filter, the
 * forward dilation as its stride and the forward stride as its dilation.
 */
function conv2DBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs & {
    dilations?: number | Pair;
  };
  assertNhwc('Conv2DBackpropFilter', attrs.dataFormat);
  const filterShape = attrs.filterShape;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad as Pad,
    attrs.dimRoundingMode as RoundingMode,
  );
  const [kh, kw, cin, cout] = filterShape;
  const [n, h, w, xc] = x.shape as Shape4;
  const [dyn, ho, wo, dyc] = dy.shape as Shape4;
  assertSizes('Conv2DBackpropFilter', [
    ['the batch of dy', dyn, n],
    ['the depth of x', xc, cin],
    ['the depth of dy', dyc, cout],
  ]);
  // Nothing to sum: zeros (the convolutions below would leave their output as the heap held it).
  if (tf.util.sizeFromShape(dy.shape) === 0 || tf.util.sizeFromShape(x.shape) === 0) {
    return zeros(args, [...filterShape]);
  }
  const winograd = winogradFilterGradient(args, info, filterShape);
  if (winograd !== undefined) return winograd;
  const simd = simdKernels(args.backend as unknown as WasmHeap);
  if (simd !== undefined) {
    return withScratch(args.backend as tf.KernelBackend, (s) =>
      filterGradientBySimd(s, simd, x, dy, info, filterShape),
    );
  }
  const [padH, padW] = filterGradPaddings(info, [h, w], [ho, wo], [kh, kw]);
  return withScratch(args.backend as tf.KernelBackend, (s) => {
    const xT = s.transpose(x, [3, 1, 2, 0]); // [Cin, H, W, N]
    const dyT = s.transpose(dy, [1, 2, 0, 3]); // [Ho, Wo, N, Cout]
    const conv = s.run(
      'Conv2D',
      { x: xT, filter: dyT },
      {
        strides: [info.dilationHeight, info.dilationWidth],
        dilations: [info.strideHeight, info.strideWidth],
        pad: [[0, 0], padH, padW, [0, 0]],
        dataFormat: 'NHWC',
      },
    ); // [Cin, >=kh, >=kw, Cout]
    const cropped = s.crop(conv, [0, 0], [kh, kw]);
    return s.transpose(cropped, [1, 2, 0, 3]);
  });
}

/**
 * dW[kh,kw,c,m] = Σ_n Σ_i,j x[n, i·sh + kh·rh − top, …, c] · dy[n,i,j,c·M+m]: the
 * same convolution as for Conv2D but channel by channel, so a depthwise
 * convolution over x as [1,H,W,N·Cin] with dy as a [Ho,Wo,N·Cin,M] filter,
 * summed over N afterwards.
 */
function depthwiseConv2dNativeBackpropFilter(args: KernelArgs): tf.TensorInfo {
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs & {
    dataFormat?: string;
  };
  assertNhwc('DepthwiseConv2dNativeBackpropFilter', attrs.dataFormat);
  const filterShape = attrs.filterShape;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad as Pad,
    attrs.dimRoundingMode as RoundingMode,
    true,
  );
  const [kh, kw, cin, mult] = filterShape;
  const [n, h, w, xc] = x.shape as Shape4;
  const [dyn, ho, wo, dyc] = dy.shape as Shape4;
  assertSizes('DepthwiseConv2dNativeBackpropFilter', [
    ['the batch of dy', dyn, n],
    ['the depth of x', xc, cin],
    ['the depth of dy', dyc, cin * mult],
  ]);
  const [padH, padW] = filterGradPaddings(info, [h, w], [ho, wo], [kh, kw]);
  return withScratch(args.backend as tf.KernelBackend, (s) => {
    const xT = s.reshape(s.transpose(x, [1, 2, 0, 3]), [1, h, w, n * cin]);
    const dyT = s.reshape(s.transpose(dy, [1, 2, 0, 3]), [ho, wo, n * cin, mult]);
    const conv = s.run(
      'DepthwiseConv2dNative',
      { x: xT, filter: dyT },
      {
        strides: [info.dilationHeight, info.dilationWidth],
        dilations: [info.strideHeight, info.strideWidth],
        pad: [[0, 0], padH, padW, [0, 0]],
        dataFormat: 'NHWC',
      },
    ); // [1, >=kh, >=kw, N·Cin·M]
    const cropped = s.crop(conv, [0, 0], [kh, kw]);
    const perExample = s.reshape(cropped, [kh, kw, n, cin * mult]);
    const summed = n === 1 ? perExample : s.run('Sum', { x: perExample }, { axis: 2 });
    return s.reshape(summed, [kh, kw, cin, mult]);
  });
}

/**
 * The input gradient of a convolution with stride s, dilation r and padding
 * `top`/`left` is a stride-1 convolution of dy with the spatially flipped filter
 * at dilation r, once dy has s−1 zeros between rows (columns): output row y
 * reads rows y + top − (kh−1)·r … y + top of that zero-stuffed dy. This returns
 * the zero-stuffed dy, cropped where the reads start inside it or end before its
 * end (explicit pads larger than the filter), and the zero padding the stride-1
 * convolution needs around it so that it yields exactly [H, W].
 */
function stuffedGradient(
  s: Scratch,
  dy: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  [h, w]: Pair,
  [kh, kw]: Pair,
): { up: tf.TensorInfo; pad: [Pair, Pair, Pair, Pair] } {
  const [n, ho, wo, channels] = dy.shape as Shape4;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: rh, dilationWidth: rw } = info;
  const before: Pair = [(kh - 1) * rh - info.padInfo.top, (kw - 1) * rw - info.padInfo.left];
  const after: Pair = [h + info.padInfo.top - ho * sh, w + info.padInfo.left - wo * sw];
  let up = dy;
  if (sh > 1 || sw > 1) {
    const spread = s.run(
      'PadV2',
      { x: s.reshape(dy, [n, ho, 1, wo, 1, channels]) },
      {
        paddings: [
          [0, 0],
          [0, 0],
          [0, sh - 1],
          [0, 0],
          [0, sw - 1],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
    up = s.reshape(spread, [n, ho * sh, wo * sw, channels]);
  }
  // Negative padding means rows no output reads.
  const cropBegin: Pair = [Math.max(0, -before[0]), Math.max(0, -before[1])];
  const cropped = s.crop(up, cropBegin, [
    ho * sh - cropBegin[0] - Math.max(0, -after[0]),
    wo * sw - cropBegin[1] - Math.max(0, -after[1]),
  ]);
  return {
    up: cropped,
    pad: [
      [0, 0],
      [Math.max(0, before[0]), Math.max(0, after[0])],
      [Math.max(0, before[1]), Math.max(0, after[1])],
      [0, 0],
    ],
  };
}

/**
 * The filter [kh, kw, Cin, Cout] flipped in both spatial axes, its channel axes
 * swapped: in our SIMD module, or as wasm's Reverse (≈ 70 ms for 3×3×512×512,
 * several times the rest of the input gradient's overhead) and Transpose.
 */
function flippedSwapped(s: Scratch, filter: tf.TensorInfo): tf.TensorInfo {
  const [kh, kw, cin, cout] = filter.shape as Shape4;
  const backend = s.backend as unknown as WasmHeap;
  const simd = simdKernels(backend);
  if (simd === undefined) {
    const flipped = s.run('Reverse', { x: filter }, { dims: [0, 1] });
    return s.transpose(flipped, [0, 1, 3, 2]);
  }
  const out = s.alloc([kh, kw, cout, cin]);
  simd.flipSwapFilter(filter, out, kh * kw, cin, cout);
  return out;
}

/**
 * dx[n,y,x,c] = Σ_kh,kw,m dy[n,i,j,c·M+m] · W[kh,kw,c,m] where y = i·sh + kh·rh − top:
 * the zero-stuffed dy (see `stuffedGradient`) convolved depthwise with the
 * flipped filter, then summed over the channel multiplier.
 */
function depthwiseConv2dNativeBackpropInput(args: KernelArgs): tf.TensorInfo {
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs & {
    dataFormat?: string;
  };
  assertNhwc('DepthwiseConv2dNativeBackpropInput', attrs.dataFormat);
  const inputShape = attrs.inputShape;
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as Shape4,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad as Pad,
    attrs.dimRoundingMode as RoundingMode,
    true,
  );
  const [kh, kw, cin, mult] = filter.shape as Shape4;
  const [n, h, w, xc] = inputShape;
  const [dyn, , , channels] = dy.shape as Shape4;
  assertSizes('DepthwiseConv2dNativeBackpropInput', [
    ['the batch of dy', dyn, n],
    ['the depth of the input', xc, cin],
    ['the depth of dy', channels, cin * mult],
  ]);
  return withScratch(args.backend as tf.KernelBackend, (s) => {
    const { up, pad } = stuffedGradient(s, dy, info, [h, w], [kh, kw]);
    const flipped = s.reshape(s.run('Reverse', { x: filter }, { dims: [0, 1] }), [
      kh,
      kw,
      cin * mult,
      1,
    ]);
    const conv = s.run(
      'DepthwiseConv2dNative',
      { x: up, filter: flipped },
      {
        strides: 1,
        dilations: [info.dilationHeight, info.dilationWidth],
        pad,
        dataFormat: 'NHWC',
      },
    ); // [N, H, W, Cin·M]
    return mult === 1
      ? s.reshape(conv, [n, h, w, cin])
      : s.run('Sum', { x: s.reshape(conv, [n, h, w, cin, mult]) }, { axis: 4 });
  });
}

/**
 * The filter of the strided input gradient, one convolution for all sh·sw
 * output phases (see `conv2DBackpropInput`): [Jh, Jw, Cout, sh·sw·Cin] with
 * F[t, ·, co, (p, ·, ci)] = Weff[(J−1−t)·s + p, ·, ci, co], where Weff is the
 * filter with its dilation's zeros in place and zeros after it up to J·s taps.
 */
function phaseFilter(s: Scratch, filter: tf.TensorInfo, info: tf.backend_util.Conv2DInfo) {
  const [kh, kw, cin, cout] = filter.shape as Shape4;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: rh, dilationWidth: rw } = info;
  const [jh, jw] = [Math.ceil((kh * rh) / sh), Math.ceil((kw * rw) / sw)];
  let w = filter;
  if (rh > 1 || rw > 1) {
    const spread = s.run(
      'PadV2',
      { x: s.reshape(w, [kh, 1, kw, 1, cin, cout]) },
      {
        paddings: [
          [0, 0],
          [0, rh - 1],
          [0, 0],
          [0, rw - 1],
          [0, 0],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
    w = s.reshape(spread, [kh * rh, kw * rw, cin, cout]);
  }
  if (jh * sh > kh * rh || jw * sw > kw * rw) {
    w = s.run(
      'PadV2',
      { x: w },
      {
        paddings: [
          [0, jh * sh - kh * rh],
          [0, jw * sw - kw * rw],
          [0, 0],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
  }
  // Tap index j·s + p → (j, p); reversing j gives t = J−1−j.
  let taps = s.reshape(w, [jh, sh, jw, sw, cin, cout]);
  if (jh > 1 || jw > 1) taps = s.run('Reverse', { x: taps }, { dims: [0, 2] });
  const phased = s.transpose(taps, [0, 2, 5, 1, 3, 4]); // [Jh, Jw, Cout, sh, sw, Cin]
  return s.reshape(phased, [jh, jw, cout, sh * sw * cin]);
}

/**
 * dx[n,y,x,ci] = Σ_kh,kw,co dy[n,i,j,co] · W[kh,kw,ci,co] where y = i·sh + kh·rh − top,
 * as XNNPACK convolutions.
 *
 * Stride 1: a convolution of dy with the flipped filter whose channel axes are
 * swapped, [kh,kw,Cout,Cin], at dilation r (`stuffedGradient` gives the padding).
 *
 * Stride s > 1: zero-stuffing dy would spend s² times the work on zeros, so the
 * rows are split by phase instead. With Y = y + top = q·s + p, only taps with
 * kh·r ≡ p (mod s) reach phase p, from dy row q − (kh·r − p)/s: for every phase
 * a stride-1 convolution of dy itself with a J-tap filter (J = ⌈kh·r/s⌉). All
 * phases run as one convolution with s²·Cin output channels (`phaseFilter`),
 * whose output is interleaved back and cropped to rows top … top+H.
 *
 * tfjs passes no dilations to this kernel (its conv2d gradient refuses
 * dilation > 1), but one given in the attributes is honoured. NCHW, which wasm's
 * own kernel accepts, is transposed to NHWC and back.
 */
function conv2DBackpropInput(args: KernelArgs): tf.TensorInfo {
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs & {
    dilations?: number | Pair;
  };
  const nchw = attrs.dataFormat === 'NCHW';
  if (!nchw) assertNhwc('Conv2DBackpropInput', attrs.dataFormat);
  const [a, b, c, d] = attrs.inputShape;
  const inputShape: Shape4 = nchw ? [a, c, d, b] : [a, b, c, d];
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as Shape4,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad as Pad,
    attrs.dimRoundingMode as RoundingMode,
  );
  const [kh, kw, cin, cout] = filter.shape as Shape4;
  const [n, h, w, xc] = inputShape;
  const [dyn, dy1, dy2, dy3] = dy.shape as Shape4;
  const [ho, wo, dyc] = nchw ? [dy2, dy3, dy1] : [dy1, dy2, dy3];
  assertSizes('Conv2DBackpropInput', [
    ['the batch of dy', dyn, n],
    ['the depth of the input', xc, cin],
    ['the depth of dy', dyc, cout],
  ]);
  // Nothing to sum: zeros (the convolutions below would leave their output as the heap held it).
  if (tf.util.sizeFromShape(dy.shape) === 0) return zeros(args, [...attrs.inputShape]);
  const { strideHeight: sh, strideWidth: sw, padInfo } = info;
  const winograd = nchw ? undefined : winogradInputGradient(args, info);
  if (winograd !== undefined) return winograd;
  // Ours where XNNPACK's way wastes work (the phase split's zero taps at stride
  // > 1) or runs below its speed (fewer than 64 output channels, Cin); XNNPACK
  // was as fast or faster otherwise (bench/kernels-ab.ts).
  const simd =
    nchw || (sh === 1 && sw === 1 && cin >= 64)
      ? undefined
      : simdKernels(args.backend as unknown as WasmHeap);
  if (simd !== undefined) {
    return withScratch(args.backend as tf.KernelBackend, (s) =>
      inputGradientBySimd(s, simd, dy, filter, info, inputShape),
    );
  }
  return withScratch(args.backend as tf.KernelBackend, (s) => {
    const dyNhwc = nchw ? s.transpose(dy, [0, 2, 3, 1]) : dy;
    let dx: tf.TensorInfo;
    if (sh === 1 && sw === 1) {
      const { up, pad } = stuffedGradient(s, dyNhwc, info, [h, w], [kh, kw]);
      dx = s.run(
        'Conv2D',
        { x: up, filter: flippedSwapped(s, filter) },
        {
          strides: 1,
          dilations: [info.dilationHeight, info.dilationWidth],
          pad,
          dataFormat: 'NHWC',
        },
      ); // [N, H, W, Cin]
    } else {
      const phases = phaseFilter(s, filter, info);
      const [jh, jw] = phases.shape as Shape4;
      // Rows q of each phase: enough to reach Y = top + H − 1, and at least dy's.
      const qh = Math.max(Math.ceil((padInfo.top + h) / sh), ho);
      const qw = Math.max(Math.ceil((padInfo.left + w) / sw), wo);
      const conv = s.run(
        'Conv2D',
        { x: dyNhwc, filter: phases },
        {
          strides: 1,
          dilations: 1,
          pad: [
            [0, 0],
            [jh - 1, qh - ho],
            [jw - 1, qw - wo],
            [0, 0],
          ],
          dataFormat: 'NHWC',
        },
      ); // [N, Qh, Qw, sh·sw·Cin]
      // Interleaves the phases; a transpose, as wasm's DepthToSpace is several times slower.
      const interleaved = s.reshape(
        s.transpose(s.reshape(conv, [n, qh, qw, sh, sw, cin]), [0, 1, 3, 2, 4, 5]),
        [n, qh * sh, qw * sw, cin],
      );
      dx = s.crop(interleaved, [padInfo.top, padInfo.left], [h, w]);
    }
    return nchw ? s.transpose(dx, [0, 3, 1, 2]) : dx;
  });
}

/** Marks our kernel configs, so that any copy of this module recognises them. */
const OURS = Symbol.for('@usam/backend/wasm-training-kernel');
/** On our configs that replace or wrap one of wasm's: wasm's own config, for `kernels: 'tfjs'`. */
const ORIGINAL = Symbol.for('@usam/backend/wasm-original-kernel');

type Config = tf.KernelConfig & { [OURS]?: true; [ORIGINAL]?: tf.KernelConfig };

interface Ours {
  readonly kernelName: string;
  /**
   * `fill`: only where wasm has no such kernel; `replace`: in place of wasm's
   * own; `wrap`: around wasm's own (left alone where wasm has none).
   */
  readonly mode: 'fill' | 'replace' | 'wrap';
  /** The kernel function, given wasm's own (for `wrap`). */
  readonly make: (original: tf.KernelFunc) => tf.KernelFunc;
}

const fill = (kernelName: string, kernelFunc: tf.KernelFunc): Ours => ({
  kernelName,
  mode: 'fill',
  make: () => kernelFunc,
});
/** `make` gets wasm's own kernel, for the inputs outside the shapes ours was written for. */
const replace = (kernelName: string, make: (original: tf.KernelFunc) => tf.KernelFunc): Ours => ({
  kernelName,
  mode: 'replace',
  make,
});
const wrap = (kernelName: string, make: (original: tf.KernelFunc) => tf.KernelFunc): Ours => ({
  kernelName,
  mode: 'wrap',
  make,
});

const KERNELS: readonly Ours[] = [
  fill(tf.Conv2DBackpropFilter, conv2DBackpropFilter),
  fill(tf.DepthwiseConv2dNativeBackpropFilter, depthwiseConv2dNativeBackpropFilter),
  fill(tf.DepthwiseConv2dNativeBackpropInput, depthwiseConv2dNativeBackpropInput),
  // wasm has this one, as a plain C++ loop: it took half of a small CNN's
  // training step. Rewritten as an XNNPACK convolution it is several times
  // faster (bench/train-step.ts measures both), so it replaces wasm's own.
  replace(tf.Conv2DBackpropInput, (original) => (args) => {
    const format = (args.attrs as { dataFormat?: string }).dataFormat;
    // Outside the layouts ours was written for: wasm's own kernel (and its message).
    if (format !== undefined && format !== 'NHWC' && format !== 'NCHW') return original(args);
    return conv2DBackpropInput(args);
  }),
  // wasm's loops over windows per input pixel; ours is one pass (pooling-gradients.ts).
  replace(tf.MaxPoolGrad, (original) => (args) => {
    const { input } = args.inputs as { input: tf.TensorInfo };
    return input.shape.length === 4 && input.dtype === 'float32'
      ? maxPoolGrad(args)
      : original(args);
  }),
  // Every float32 product in our SIMD module, XNNPACK without it (wasm-matmul.ts).
  wrap(tf.BatchMatMul, transposeFirst),
  wrap(tf._FusedMatMul, transposeFirst),
  // Reductions over leading axes in one pass, no transpose (wasm-reduce.ts).
  wrap(tf.Sum, leadingAxesByRows(false)),
  wrap(tf.Mean, leadingAxesByRows(true)),
  // Share data instead of copying it (wasm-identity.ts): every saved tensor is an Identity.
  wrap(tf.Identity, sharedIdentity),
  wrap(tf.Cast, sharedSameDtypeCast),
  // Slices read the input in place instead of copying all of it first (wasm-slice.ts).
  wrap(tf.Slice, sliceWithoutCopy),
  wrap(tf.SplitV, splitWithoutCopy),
  // 'same' padding as explicit pads: XNNPACK's own 'same' gives zeros at strides past the input.
  // Stride-1 3×3 convolutions by Winograd's F(2×2, 3×3) (conv-winograd.ts), the rest to XNNPACK.
  wrap(tf.Conv2D, (original) => winogradConv2D(false)(explicitSamePadding(false)(original))),
  wrap(tf.FusedConv2D, (original) => winogradConv2D(true)(explicitSamePadding(false)(original))),
  wrap(tf.DepthwiseConv2dNative, explicitSamePadding(true)),
  wrap(tf.FusedDepthwiseConv2D, explicitSamePadding(true)),
  // Bias adds row by row in our SIMD module, not wasm's broadcasting loop (wasm-bias-add.ts).
  wrap(tf.Add, biasAddByRows),
  // Softmax cross-entropy and its gradient, one kernel each (softmax-cross-entropy.ts).
  fill(SOFTMAX_CROSS_ENTROPY, softmaxCrossEntropy),
  fill(SOFTMAX_CROSS_ENTROPY_GRAD, softmaxCrossEntropyGrad),
  // The optimizer's chains over a parameter list, one kernel each (wasm-optimizer-kernels.ts).
  fill(LINEAR_COMBINATION, linearCombination as unknown as tf.KernelFunc),
  fill(FINITE_SQUARES, finiteSquares),
  fill(ENTRYWISE, entrywise as unknown as tf.KernelFunc),
  fill(ADAM, adam as unknown as tf.KernelFunc),
  fill(MOMENTUM, momentum as unknown as tf.KernelFunc),
  // The samplers' draws written into the tensors (wasm-draws.ts).
  fill(DRAWS, draws as unknown as tf.KernelFunc),
];

/** Names of the kernels `registerWasmTrainingKernels` adds, replaces or wraps. */
export const WASM_TRAINING_KERNELS: readonly string[] = KERNELS.map((k) => k.kernelName);

/**
 * Registers the training kernels the wasm backend lacks, our faster
 * Conv2DBackpropInput and MaxPoolGrad in place of wasm's, and wrappers around
 * wasm's BatchMatMul, _FusedMatMul, Sum, Mean, Identity, Cast and Add that take
 * their slow cases (see KERNELS). Idempotent: a kernel already ours
 * (from this or another copy of this module) stays, so nothing is registered
 * twice. Any other kernel wasm already has (a later tfjs-backend-wasm may add
 * the missing ones) is left alone, except the replaced and wrapped ones: those
 * are known to be slow in tfjs-backend-wasm 4.22, and ours compute the same
 * function for every input tfjs's gradients can give them.
 */
export function registerWasmTrainingKernels(): void {
  for (const { kernelName, mode, make } of KERNELS) {
    const current = tf.getKernel(kernelName, BACKEND) as Config | undefined;
    if (current?.[OURS]) continue;
    if (current === undefined ? mode === 'wrap' : mode === 'fill') continue;
    // registerKernel would warn about the existing kernel, so remove it first.
    if (current !== undefined) tf.unregisterKernel(kernelName, BACKEND);
    const config: Config = {
      kernelName,
      backendName: BACKEND,
      kernelFunc: make(current?.kernelFunc as tf.KernelFunc),
      [OURS]: true,
      ...(current === undefined ? {} : { [ORIGINAL]: current }),
    };
    // A wrapped kernel still needs wasm's setup (its bindings into the wasm module), and a
    // replaced one too, so that `kernels: 'tfjs'` can put wasm's back on a started backend.
    if (current?.setupFunc) config.setupFunc = current.setupFunc;
    if (current?.disposeFunc) config.disposeFunc = current.disposeFunc;
    tf.registerKernel(config);
  }
  setSimdKernelsDisabled(false);
}

/** Which kernels run on wasm (`InitBackendOptions.kernels`). */
export type WasmKernels = 'usam' | 'tfjs';

/**
 * 'usam' (`registerWasmTrainingKernels`), or 'tfjs': tfjs-backend-wasm's own
 * kernel wherever it has one, and no SIMD module. The kernels wasm lacks
 * (Conv2DBackpropFilter and the depthwise backprops) stay ours, built from
 * wasm's own convolutions, so that training still runs. For bisecting: a
 * result that changes with this is a kernel's fault (docs/kernels.md).
 */
export function useWasmKernels(kernels: WasmKernels): void {
  if (kernels === 'usam') {
    registerWasmTrainingKernels();
    return;
  }
  for (const { kernelName, mode } of KERNELS) {
    const current = tf.getKernel(kernelName, BACKEND) as Config | undefined;
    const original = current?.[ORIGINAL];
    if (mode === 'fill' || !current?.[OURS] || original === undefined) continue;
    tf.unregisterKernel(kernelName, BACKEND);
    tf.registerKernel(original);
  }
  setSimdKernelsDisabled(true);
}
