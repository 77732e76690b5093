import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend, registerWasmTrainingKernels } from './node';
import { on, relativeError, values } from './test-helpers';
import { WASM_TRAINING_KERNELS } from './wasm-training-kernels';

/** How our kernel configs are marked (see wasm-training-kernels.ts). */
const OURS = Symbol.for('@usam/backend/wasm-training-kernel');
const isOurs = (name: string) =>
  (tf.getKernel(name, 'wasm') as (tf.KernelConfig & { [OURS]?: true }) | undefined)?.[OURS] ===
  true;

/** wasm's own Conv2DBackpropInput, captured before initBackend replaces it. */
let original: tf.KernelConfig;

/*
 * Tolerance: wasm (XNNPACK) accumulates in float32, the cpu backend in float64
 * (JS numbers) before storing float32. Each gradient entry here sums at most a
 * few hundred products of values in [-1, 1] (an input-gradient entry only
 * kh·kw·Cout ≤ 36 of them, a filter-gradient entry N·Ho·Wo); float32 rounding over n terms stays
 * below about n·2⁻²⁴ ≈ 2e-5 of the sum's scale for n = 300, so 1e-4 of the
 * largest entry leaves margin while still catching any wrong index or padding
 * (those give errors of order 1).
 */
const TOLERANCE = 1e-4;

type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;
type Shape4 = [number, number, number, number];
type Pair = [number, number];

/** Gradients of Σ forward(x, w) · r with respect to x and w (r fixed, so dy is random). */
function gradients(
  forward: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D,
  xShape: Shape4,
  wShape: Shape4,
): [Float32Array, Float32Array] {
  return tf.tidy(() => {
    const x = tf.tensor4d(values(xShape, 1), xShape);
    const w = tf.tensor4d(values(wShape, 2), wShape);
    const loss = (a: tf.Tensor, b: tf.Tensor) => {
      const y = forward(a as tf.Tensor4D, b as tf.Tensor4D);
      return tf.sum(tf.mul(y, tf.tensor(values(y.shape, 3), y.shape)));
    };
    const [dx, dw] = tf.grads(loss)([x, w]);
    return [dx!.dataSync() as Float32Array, dw!.dataSync() as Float32Array];
  });
}

/** Runs one kernel on the active backend and returns its output's values. */
function kernel(
  name: string,
  inputs: Record<string, [Float32Array, Shape4]>,
  attrs: tf.NamedAttrMap,
): Float32Array {
  return tf.tidy(() => {
    const tensors: tf.NamedTensorMap = {};
    for (const [key, [data, shape]] of Object.entries(inputs))
      tensors[key] = tf.tensor4d(data, shape);
    return (tf.engine().runKernel(name, tensors, attrs) as tf.Tensor).dataSync() as Float32Array;
  });
}

const dilatedShape = ([kh, kw, a, b]: Shape4, r: number): Shape4 => [
  (kh - 1) * r + 1,
  (kw - 1) * r + 1,
  a,
  b,
];

/** A filter [kh,kw,a,b] dilated by r: zeros between taps, so dilation 1 on it equals dilation r. */
function dilateFilter(filter: Float32Array, shape: Shape4, r: number): [Float32Array, Shape4] {
  const [kh, kw, a, b] = shape;
  const big = dilatedShape(shape, r);
  const out = new Float32Array(big.reduce((p, q) => p * q, 1));
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const from = (i * kw + j) * a * b;
      out.set(filter.subarray(from, from + a * b), (i * r * big[1] + j * r) * a * b);
    }
  }
  return [out, big];
}

/** The taps of a dilated filter's gradient that belong to the original filter. */
function undilateFilter(big: Float32Array, shape: Shape4, r: number): Float32Array {
  const [kh, kw, a, b] = shape;
  const bigWidth = (kw - 1) * r + 1;
  const out = new Float32Array(kh * kw * a * b);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const from = (i * r * bigWidth + j * r) * a * b;
      out.set(big.subarray(from, from + a * b), (i * kw + j) * a * b);
    }
  }
  return out;
}

const explicit = (t: number, b: number, l: number, r: number): Pad => [
  [0, 0],
  [t, b],
  [l, r],
  [0, 0],
];

/** Strides × paddings, each with its own batch, channels, input and filter size. */
const CASES = [1, 2, 3].flatMap((stride) =>
  (['same', 'valid', explicit(1, 2, 2, 0), explicit(0, 1, 3, 1)] as Pad[]).map((pad, i) => {
    const k = stride + i;
    return {
      stride,
      pad,
      x: [1 + (k % 3), 7 + (k % 3), 9 - (k % 2), 1 + (k % 3)] as Shape4,
      filter: [3 - (k % 2), 2 + (k % 2), 0, 2 + (k % 3)] as const,
    };
  }),
);
const label = (c: (typeof CASES)[number]) =>
  `stride ${c.stride}, pad ${JSON.stringify(c.pad)}, x [${c.x}], filter ${c.filter[0]}×${c.filter[1]}`;

beforeAll(async () => {
  await import('@tensorflow/tfjs-backend-wasm');
  original = tf.getKernel('Conv2DBackpropInput', 'wasm')!;
  expect(original).toBeDefined();
  await initBackend('cpu'); // registers cpu, the reference the tests compare against
  await initBackend('wasm');
  // Makes the engine throw when a kernel leaves data behind in its backend.
  tf.env().set('IS_TEST', true);
});

/** dx and dw of `forward` on wasm equal the cpu backend's within TOLERANCE. */
async function expectGradientsEqualCpu(
  forward: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D,
  xShape: Shape4,
  wShape: Shape4,
): Promise<void> {
  const [cpuDx, cpuDw] = await on('cpu', () => gradients(forward, xShape, wShape));
  const [wasmDx, wasmDw] = await on('wasm', () => gradients(forward, xShape, wShape));
  expect(relativeError(wasmDw, cpuDw)).toBeLessThan(TOLERANCE);
  expect(relativeError(wasmDx, cpuDx)).toBeLessThan(TOLERANCE);
}

describe('wasm Conv2DBackpropFilter and Conv2DBackpropInput', () => {
  // dx is Conv2DBackpropInput (ours: stride 1 and the phase split of strides > 1), dw the filter gradient.
  it.each(CASES.map((c) => [label(c), c] as const))(
    'conv2d gradients equal cpu: %s',
    async (_, c) => {
      const [kh, kw, , cout] = c.filter;
      const wShape: Shape4 = [kh, kw, c.x[3], cout];
      const forward = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.conv2d(x, w, c.stride, c.pad);
      await expectGradientsEqualCpu(forward, c.x, wShape);
    },
  );

  it.each([
    [1, 'same'],
    [1, 'valid'],
    [2, 'same'],
    [2, explicit(2, 1, 0, 3)],
  ] as [number, Pad][])('honours dilation 2 at stride %i, pad %j', async (stride, pad) => {
    // tfjs has no gradient for dilated conv2d, so the kernel is called directly
    // and compared with cpu on the equivalent zero-stuffed filter (dilation 1).
    const xShape: Shape4 = [2, 11, 10, 3];
    const wShape: Shape4 = [3, 2, 3, 4];
    const dilation = 2;
    const info = tf.backend_util.computeConv2DInfo(xShape, wShape, stride, dilation, pad);
    const dyShape = info.outShape as Shape4;
    const inputs = { x: [values(xShape, 4), xShape], dy: [values(dyShape, 5), dyShape] } as Record<
      string,
      [Float32Array, Shape4]
    >;
    const attrs = { strides: stride, pad, dataFormat: 'NHWC' };
    const reference = await on('cpu', () =>
      kernel('Conv2DBackpropFilter', inputs, {
        ...attrs,
        filterShape: dilatedShape(wShape, dilation),
      }),
    );
    const actual = await on('wasm', () =>
      kernel('Conv2DBackpropFilter', inputs, { ...attrs, filterShape: wShape, dilations: 2 }),
    );
    expect(relativeError(actual, undilateFilter(reference, wShape, dilation))).toBeLessThan(
      TOLERANCE,
    );
  });

  it.each(['floor', 'ceil'] as const)(
    'follows dy for numeric padding with dimRoundingMode %s',
    async (mode) => {
      const xShape: Shape4 = [2, 8, 9, 2];
      const wShape: Shape4 = [3, 3, 2, 3];
      const dyShape = tf.backend_util.computeConv2DInfo(xShape, wShape, 2, 1, 1, mode)
        .outShape as Shape4;
      const inputs = {
        x: [values(xShape, 6), xShape],
        dy: [values(dyShape, 7), dyShape],
      } as Record<string, [Float32Array, Shape4]>;
      const attrs = {
        strides: 2,
        pad: 1,
        dimRoundingMode: mode,
        dataFormat: 'NHWC',
        filterShape: wShape,
      };
      const reference = await on('cpu', () => kernel('Conv2DBackpropFilter', inputs, attrs));
      const actual = await on('wasm', () => kernel('Conv2DBackpropFilter', inputs, attrs));
      expect(relativeError(actual, reference)).toBeLessThan(TOLERANCE);
    },
  );

  it.each([
    [[1, 2], 'same', [2, 9, 8, 3], [3, 3, 3, 2]],
    [[2, 3], 'valid', [1, 10, 11, 2], [2, 3, 2, 3]],
    [[3, 1], explicit(2, 0, 1, 1), [2, 8, 7, 1], [3, 2, 1, 4]],
    [[2, 2], 'same', [1, 7, 7, 2], [1, 1, 2, 3]],
    [[3, 3], explicit(4, 3, 0, 5), [1, 9, 6, 2], [2, 2, 2, 2]],
  ] as [Pair, Pad, Shape4, Shape4][])(
    'conv2d gradients equal cpu at strides %j, pad %j',
    async (strides, pad, xShape, wShape) => {
      // Unequal strides, 1×1 filters and pads beyond the filter: edge cases of the phase split.
      const forward = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.conv2d(x, w, strides, pad);
      const [cpuDx, cpuDw] = await on('cpu', () => gradients(forward, xShape, wShape));
      const [wasmDx, wasmDw] = await on('wasm', () => gradients(forward, xShape, wShape));
      expect(relativeError(wasmDx, cpuDx)).toBeLessThan(TOLERANCE);
      expect(relativeError(wasmDw, cpuDw)).toBeLessThan(TOLERANCE);
    },
  );

  it.each([
    [1, 'same', 2],
    [1, 'valid', 3],
    [1, explicit(0, 3, 2, 1), 2],
    [2, 'same', 2],
    [2, explicit(2, 1, 0, 3), 2],
    [3, 'valid', 3],
  ] as [number, Pad, number][])(
    'Conv2DBackpropInput honours dilation at stride %i, pad %j, dilation %i',
    async (stride, pad, dilation) => {
      // tfjs's conv2d gradient refuses dilation > 1 and cpu's kernel ignores it,
      // so the reference is cpu on the zero-stuffed filter (dilation 1).
      const xShape: Shape4 = [2, 12, 11, 3];
      const wShape: Shape4 = [3, 2, 3, 4];
      const info = tf.backend_util.computeConv2DInfo(xShape, wShape, stride, dilation, pad);
      const dyShape = info.outShape as Shape4;
      const filter = values(wShape, 11);
      const dy = values(dyShape, 12);
      const attrs = { strides: stride, pad, dataFormat: 'NHWC', inputShape: xShape };
      const reference = await on('cpu', () =>
        kernel(
          'Conv2DBackpropInput',
          { dy: [dy, dyShape], filter: dilateFilter(filter, wShape, dilation) },
          attrs,
        ),
      );
      const actual = await on('wasm', () =>
        kernel(
          'Conv2DBackpropInput',
          { dy: [dy, dyShape], filter: [filter, wShape] },
          { ...attrs, dilations: dilation },
        ),
      );
      expect(relativeError(actual, reference)).toBeLessThan(TOLERANCE);
    },
  );

  it.each([
    ['floor', 2],
    ['ceil', 2],
    ['round', 3],
    ['ceil', 1],
  ] as const)(
    'Conv2DBackpropInput follows dy for numeric padding with dimRoundingMode %s, stride %i',
    async (mode, stride) => {
      const xShape: Shape4 = [2, 8, 9, 2];
      const wShape: Shape4 = [3, 3, 2, 3];
      const dyShape = tf.backend_util.computeConv2DInfo(xShape, wShape, stride, 1, 1, mode)
        .outShape as Shape4;
      const inputs = {
        dy: [values(dyShape, 13), dyShape],
        filter: [values(wShape, 14), wShape],
      } as Record<string, [Float32Array, Shape4]>;
      const attrs = {
        strides: stride,
        pad: 1,
        dimRoundingMode: mode,
        dataFormat: 'NHWC',
        inputShape: xShape,
      };
      const reference = await on('cpu', () => kernel('Conv2DBackpropInput', inputs, attrs));
      const actual = await on('wasm', () => kernel('Conv2DBackpropInput', inputs, attrs));
      expect(relativeError(actual, reference)).toBeLessThan(TOLERANCE);
    },
  );

  it.each([1, 2])(
    "Conv2DBackpropInput accepts NCHW, as wasm's own did, at stride %i",
    async (stride) => {
      // The forward conv2d refuses NCHW on wasm, but a direct call (or a future op) may not.
      const xShape: Shape4 = [2, 3, 9, 8]; // N, C, H, W
      const wShape: Shape4 = [3, 2, 3, 4];
      const info = tf.backend_util.computeConv2DInfo(
        xShape,
        wShape,
        stride,
        1,
        'same',
        undefined,
        false,
        'channelsFirst',
      );
      const dyShape = info.outShape as Shape4;
      const inputs = {
        dy: [values(dyShape, 17), dyShape],
        filter: [values(wShape, 18), wShape],
      } as Record<string, [Float32Array, Shape4]>;
      const attrs = { strides: stride, pad: 'same', dataFormat: 'NCHW', inputShape: xShape };
      const reference = await on('cpu', () => kernel('Conv2DBackpropInput', inputs, attrs));
      const actual = await on('wasm', () => kernel('Conv2DBackpropInput', inputs, attrs));
      expect(relativeError(actual, reference)).toBeLessThan(TOLERANCE);
    },
  );

  it("replaces wasm's own Conv2DBackpropInput, agreeing with it", async () => {
    await tf.setBackend('wasm');
    const registered = tf.getKernel('Conv2DBackpropInput', 'wasm')!;
    expect(isOurs('Conv2DBackpropInput')).toBe(true);
    expect(registered.kernelFunc).not.toBe(original.kernelFunc);
    // The engine set up only registered kernels; the replaced one needs its own setup to run.
    const backend = tf.backend();
    original.setupFunc?.(backend);
    const xShape: Shape4 = [3, 10, 9, 4];
    const wShape: Shape4 = [3, 3, 4, 5];
    const outputs = [2, 1].flatMap((stride) => {
      const dyShape = tf.backend_util.computeConv2DInfo(xShape, wShape, stride, 1, 'same')
        .outShape as Shape4;
      return [original, registered].map((config) =>
        tf.tidy(() => {
          const dy = tf.tensor4d(values(dyShape, 15), dyShape);
          const filter = tf.tensor4d(values(wShape, 16), wShape);
          const out = config.kernelFunc({
            inputs: { dy, filter },
            backend,
            attrs: { strides: stride, pad: 'same', dataFormat: 'NHWC', inputShape: xShape },
          }) as tf.TensorInfo;
          const data = backend.readSync(out.dataId) as Float32Array;
          backend.disposeData(out.dataId);
          return data;
        }),
      );
    });
    expect(relativeError(outputs[1]!, outputs[0]!)).toBeLessThan(TOLERANCE);
    expect(relativeError(outputs[3]!, outputs[2]!)).toBeLessThan(TOLERANCE);
  });

  it('rejects NCHW with a clear error', async () => {
    await tf.setBackend('wasm');
    const run = () =>
      tf.tidy(() =>
        tf.conv2d(
          tf.ones([1, 2, 5, 5]) as tf.Tensor4D,
          tf.ones([3, 3, 2, 2]) as tf.Tensor4D,
          1,
          'same',
          'NCHW',
        ),
      );
    // The forward kernel already refuses NCHW on wasm; the gradient kernel must too.
    expect(run).toThrow(/channelsLast|NHWC/);
    expect(() =>
      tf.tidy(() =>
        tf
          .engine()
          .runKernel(
            'Conv2DBackpropFilter',
            { x: tf.ones([1, 2, 5, 5]), dy: tf.ones([1, 2, 5, 5]) },
            { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 2] },
          ),
      ),
    ).toThrow(/only dataFormat 'NHWC'/);
  });

  it('rejects a dy whose batch does not match x', async () => {
    await tf.setBackend('wasm');
    expect(() =>
      tf.tidy(() =>
        tf
          .engine()
          .runKernel(
            'Conv2DBackpropFilter',
            { x: tf.ones([2, 5, 5, 1]), dy: tf.ones([3, 5, 5, 2]) },
            { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 1, 2] },
          ),
      ),
    ).toThrow(/batch of dy is 3, expected 2/);
  });
});

describe('wasm depthwise training kernels', () => {
  it.each(CASES.map((c) => [label(c), c] as const))(
    'depthwiseConv2d gradients equal cpu: %s',
    async (_, c) => {
      const [kh, kw, , mult] = c.filter;
      const wShape: Shape4 = [kh, kw, c.x[3], 1 + (mult % 2)];
      const forward = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.depthwiseConv2d(x, w, c.stride, c.pad);
      await expectGradientsEqualCpu(forward, c.x, wShape);
    },
  );

  it.each([
    [1, 'same'],
    [1, 'valid'],
    [2, 'same'],
    [1, explicit(3, 0, 1, 2)],
  ] as [number, Pad][])('honours dilation 2 at stride %i, pad %j', async (stride, pad) => {
    // The cpu kernels ignore dilations (and tfjs has no gradient for dilated
    // depthwise convs), so the reference is cpu on the zero-stuffed filter.
    const xShape: Shape4 = [2, 10, 9, 3];
    const wShape: Shape4 = [3, 2, 3, 2];
    const info = tf.backend_util.computeConv2DInfo(xShape, wShape, stride, 2, pad, undefined, true);
    const dyShape = info.outShape as Shape4;
    const filter = values(wShape, 8);
    const [bigFilter, bigShape] = dilateFilter(filter, wShape, 2);
    const x = values(xShape, 9);
    const dy = values(dyShape, 10);
    const attrs = { strides: stride, pad, dilations: 1 };
    const refDw = await on('cpu', () =>
      kernel(
        'DepthwiseConv2dNativeBackpropFilter',
        { x: [x, xShape], dy: [dy, dyShape] },
        {
          ...attrs,
          filterShape: bigShape,
        },
      ),
    );
    const refDx = await on('cpu', () =>
      kernel(
        'DepthwiseConv2dNativeBackpropInput',
        { dy: [dy, dyShape], filter: [bigFilter, bigShape] },
        {
          ...attrs,
          inputShape: xShape,
        },
      ),
    );
    const dw = await on('wasm', () =>
      kernel(
        'DepthwiseConv2dNativeBackpropFilter',
        { x: [x, xShape], dy: [dy, dyShape] },
        {
          ...attrs,
          dilations: 2,
          filterShape: wShape,
        },
      ),
    );
    const dx = await on('wasm', () =>
      kernel(
        'DepthwiseConv2dNativeBackpropInput',
        { dy: [dy, dyShape], filter: [filter, wShape] },
        {
          ...attrs,
          dilations: 2,
          inputShape: xShape,
        },
      ),
    );
    expect(relativeError(dw, undilateFilter(refDw, wShape, 2))).toBeLessThan(TOLERANCE);
    expect(relativeError(dx, refDx)).toBeLessThan(TOLERANCE);
  });
});

describe('registerWasmTrainingKernels', () => {
  it('is idempotent: a second call changes nothing and warns of nothing', () => {
    const before = WASM_TRAINING_KERNELS.map((name) => tf.getKernel(name, 'wasm')?.kernelFunc);
    expect(before.every((f) => f !== undefined)).toBe(true);
    expect(WASM_TRAINING_KERNELS.every(isOurs)).toBe(true);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    registerWasmTrainingKernels();
    expect(warn).not.toHaveBeenCalled();
    warn.mockRestore();
    expect(WASM_TRAINING_KERNELS.map((name) => tf.getKernel(name, 'wasm')?.kernelFunc)).toEqual(
      before,
    );
  });

  it("replaces only wasm's Conv2DBackpropInput; other existing kernels stay", () => {
    const ourFilterGrad = tf.getKernel('Conv2DBackpropFilter', 'wasm')!;
    const ourInputGrad = tf.getKernel('Conv2DBackpropInput', 'wasm')!;
    // As if tfjs-backend-wasm had just registered its kernels, one of them a
    // Conv2DBackpropFilter of its own.
    const theirs: tf.KernelConfig = {
      kernelName: 'Conv2DBackpropFilter',
      backendName: 'wasm',
      kernelFunc: () => {
        throw new Error('not called');
      },
    };
    tf.unregisterKernel('Conv2DBackpropFilter', 'wasm');
    tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
    tf.registerKernel(theirs);
    tf.registerKernel(original);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      registerWasmTrainingKernels();
      expect(warn).not.toHaveBeenCalled();
      expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBe(theirs);
      expect(isOurs('Conv2DBackpropInput')).toBe(true);
      expect(tf.getKernel('Conv2DBackpropInput', 'wasm')?.kernelFunc).not.toBe(original.kernelFunc);
    } finally {
      warn.mockRestore();
      tf.unregisterKernel('Conv2DBackpropFilter', 'wasm');
      tf.registerKernel(ourFilterGrad);
      if (!isOurs('Conv2DBackpropInput')) {
        tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
        tf.registerKernel(ourInputGrad);
      }
    }
  });
});
