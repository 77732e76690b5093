/**
 * Training kernels that @tensorflow/tfjs-backend-wasm 4.22 lacks (SPEC §8):
 * Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter and
 * DepthwiseConv2dNativeBackpropInput. Each is rewritten as convolutions and
 * layout changes that wasm does have (XNNPACK Conv2D / DepthwiseConv2dNative,
 * Transpose, PadV2, Slice, Sum, Reverse), so the heavy part runs in wasm.
 *
 * The kernels call wasm's kernel functions directly on the backend (as tfjs
 * backends do internally) rather than through tf ops: no engine bookkeeping,
 * and each intermediate is freed with `backend.disposeData` before returning.
 */
import * as tf from '@tensorflow/tfjs-core';

const BACKEND = 'wasm';

type Pair = [number, number];
type Shape4 = [number, number, number, number];
type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type RoundingMode = 'floor' | 'round' | 'ceil' | undefined;
type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Runs wasm kernels and remembers their outputs, so all but the result can be freed. */
class Scratch {
  private readonly made: tf.TensorInfo[] = [];

  constructor(private readonly backend: tf.KernelBackend) {}

  run(kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
    const kernel = tf.getKernel(kernelName, BACKEND);
    if (kernel === undefined) {
      throw new Error(`@usam/backend: wasm kernel '${kernelName}' is not registered.`);
    }
    const out = kernel.kernelFunc({ inputs, backend: this.backend, attrs }) as tf.TensorInfo;
    this.made.push(out);
    return out;
  }

  reshape(x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  /** Transpose, as a free reshape when only size-1 axes move (wasm would copy). */
  transpose(x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
    const shape = perm.map((axis) => x.shape[axis]!);
    const moved = perm.filter((axis) => x.shape[axis] !== 1);
    if (moved.every((axis, i) => i === 0 || axis > moved[i - 1]!)) {
      return this.reshape(x, shape);
    }
    return this.run('Transpose', { x }, { perm });
  }

  /** Crops axes 1 and 2 of a rank-4 tensor to `begin` + `size`, copying only if needed. */
  crop(x: tf.TensorInfo, begin: Pair, size: Pair): tf.TensorInfo {
    if (begin[0] === 0 && begin[1] === 0 && size[0] === x.shape[1] && size[1] === x.shape[2]) {
      return x;
    }
    return this.run('Slice', { x }, { begin: [0, ...begin, 0], size: [-1, ...size, -1] });
  }

  /** Frees every intermediate except `result`, which the engine takes over. */
  finish(result: tf.TensorInfo): tf.TensorInfo {
    this.release(result);
    return result;
  }

  /** Frees every intermediate (except `keep`); reshapes share data, hence reference counts. */
  release(keep?: tf.TensorInfo): void {
    for (const info of this.made) {
      if (info !== keep) this.backend.disposeData(info.dataId);
    }
    this.made.length = 0;
  }
}

/** Runs `body` with a scratch space that is freed even when a kernel throws. */
function withScratch(
  backend: tf.KernelBackend,
  body: (scratch: Scratch) => tf.TensorInfo,
): tf.TensorInfo {
  const scratch = new Scratch(backend);
  try {
    return scratch.finish(body(scratch));
  } catch (error) {
    scratch.release();
    throw error;
  }
}

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
  const padH = filterGradPadding(
    h,
    ho,
    kh,
    info.strideHeight,
    info.dilationHeight,
    info.padInfo.top,
  );
  const padW = filterGradPadding(
    w,
    wo,
    kw,
    info.strideWidth,
    info.dilationWidth,
    info.padInfo.left,
  );
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
  const padH = filterGradPadding(
    h,
    ho,
    kh,
    info.strideHeight,
    info.dilationHeight,
    info.padInfo.top,
  );
  const padW = filterGradPadding(
    w,
    wo,
    kw,
    info.strideWidth,
    info.dilationWidth,
    info.padInfo.left,
  );
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
 * dx[n,y,x,c] = Σ_kh,kw,m dy[n,i,j,c·M+m] · W[kh,kw,c,m] where y = i·sh + kh·rh − top:
 * dy with sh−1 zeros between rows (sw−1 between columns), convolved depthwise
 * with the spatially flipped filter at dilation r and stride 1, then summed over
 * the channel multiplier.
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
  const [dyn, ho, wo, channels] = dy.shape as Shape4;
  assertSizes('DepthwiseConv2dNativeBackpropInput', [
    ['the batch of dy', dyn, n],
    ['the depth of the input', xc, cin],
    ['the depth of dy', channels, cin * mult],
  ]);
  const { strideHeight: sh, strideWidth: sw, dilationHeight: rh, dilationWidth: rw } = info;
  // Rows of the zero-stuffed dy that output row y reads: y + top − (kh−1)·rh … y + top.
  const before: Pair = [(kh - 1) * rh - info.padInfo.top, (kw - 1) * rw - info.padInfo.left];
  const after: Pair = [h + info.padInfo.top - ho * sh, w + info.padInfo.left - wo * sw];
  return withScratch(args.backend as tf.KernelBackend, (s) => {
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
    // Negative padding means rows no output reads (e.g. an explicit pad larger than the filter).
    const cropBegin: Pair = [Math.max(0, -before[0]), Math.max(0, -before[1])];
    const cropped = s.crop(up, cropBegin, [
      ho * sh - cropBegin[0] - Math.max(0, -after[0]),
      wo * sw - cropBegin[1] - Math.max(0, -after[1]),
    ]);
    const flipped = s.reshape(s.run('Reverse', { x: filter }, { dims: [0, 1] }), [
      kh,
      kw,
      cin * mult,
      1,
    ]);
    const conv = s.run(
      'DepthwiseConv2dNative',
      { x: cropped, filter: flipped },
      {
        strides: 1,
        dilations: [rh, rw],
        pad: [
          [0, 0],
          [Math.max(0, before[0]), Math.max(0, after[0])],
          [Math.max(0, before[1]), Math.max(0, after[1])],
          [0, 0],
        ],
        dataFormat: 'NHWC',
      },
    ); // [N, H, W, Cin·M]
    return mult === 1
      ? s.reshape(conv, [n, h, w, cin])
      : s.run('Sum', { x: s.reshape(conv, [n, h, w, cin, mult]) }, { axis: 4 });
  });
}

const KERNELS: readonly tf.KernelConfig[] = [
  {
    kernelName: tf.Conv2DBackpropFilter,
    backendName: BACKEND,
    kernelFunc: conv2DBackpropFilter,
  },
  {
    kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
    backendName: BACKEND,
    kernelFunc: depthwiseConv2dNativeBackpropFilter,
  },
  {
    kernelName: tf.DepthwiseConv2dNativeBackpropInput,
    backendName: BACKEND,
    kernelFunc: depthwiseConv2dNativeBackpropInput,
  },
];

/** Names of the kernels `registerWasmTrainingKernels` adds. */
export const WASM_TRAINING_KERNELS: readonly string[] = KERNELS.map((k) => k.kernelName);

/**
 * Registers the training kernels the wasm backend lacks. Idempotent, and a
 * kernel wasm already has (a later tfjs-backend-wasm may add them) is left alone.
 */
export function registerWasmTrainingKernels(): void {
  for (const config of KERNELS) {
    if (tf.getKernel(config.kernelName, BACKEND) === undefined) tf.registerKernel(config);
  }
}
