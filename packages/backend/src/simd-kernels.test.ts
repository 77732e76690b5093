import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileKernels, debugKernels } from '../scripts/compile-kernels';
import { KERNELS_WASM, KERNELS_WASM_SHARED } from './generated/kernels-wasm';
import { initBackend } from './node';
import {
  instantiateSimdKernels,
  rawSimdKernels,
  simdKernels,
  useDebugSimdModule,
  type WasmHeap,
  withGivenBuffers,
  withoutSimdKernels,
} from './simd-kernels';
import { on, relativeError, values } from './test-helpers';

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

const decode = (base64: string) => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));

beforeAll(async () => {
  await initBackend('cpu');
  await initBackend('wasm');
  // Makes the engine throw when a kernel leaves data behind in its backend.
  tf.env().set('IS_TEST', true);
});

/** Runs one kernel on the active backend and returns its output's values. */
function kernel(name: string, inputs: Record<string, [Float32Array, number[]]>, attrs: object) {
  return tf.tidy(() => {
    const tensors: tf.NamedTensorMap = {};
    for (const [key, [data, shape]] of Object.entries(inputs))
      tensors[key] = tf.tensor(data, shape);
    const out = tf.engine().runKernel(name, tensors, attrs as tf.NamedAttrMap) as tf.Tensor;
    return out.dataSync() as Float32Array;
  });
}

/** The kernel on cpu, on wasm with our SIMD module, and on wasm without it (the fallback). */
async function threeWays(
  name: string,
  inputs: Record<string, [Float32Array, number[]]>,
  attrs: object,
) {
  const cpu = await on('cpu', () => kernel(name, inputs, attrs));
  const simd = await on('wasm', () => kernel(name, inputs, attrs));
  const fallback = await on('wasm', () => withoutSimdKernels(() => kernel(name, inputs, attrs)));
  return { cpu, simd, fallback };
}

describe('the SIMD module', () => {
  it('is exactly what assembly/kernels.ts compiles to (run `pnpm generate:kernels` after editing it)', async () => {
    expect(Buffer.from(await compileKernels(false)).toString('base64')).toBe(KERNELS_WASM);
    expect(Buffer.from(await compileKernels(true)).toString('base64')).toBe(KERNELS_WASM_SHARED);
  }, 60_000);

  it.each([
    ['own', KERNELS_WASM],
    ['shared', KERNELS_WASM_SHARED],
  ])(
    'imports only a memory (%s) and the host’s exp and log, and owns nothing in it: no data, globals, start or memory of its own',
    (_, base64) => {
      const bytes = decode(base64);
      const module = new WebAssembly.Module(bytes);
      // exp and log for the draws' rare ziggurat tests, so they round as the samplers' JavaScript.
      expect(
        WebAssembly.Module.imports(module).sort((a, b) => a.name.localeCompare(b.name)),
      ).toEqual([
        { module: 'kernels', name: 'hostExp', kind: 'function' },
        { module: 'kernels', name: 'hostLog', kind: 'function' },
        { module: 'env', name: 'memory', kind: 'memory' },
      ]);
      expect(WebAssembly.Module.exports(module).every((e) => e.kind === 'function')).toBe(true);
      // Section ids (wasm spec): 5 memory, 6 global, 8 start, 11 data, 12 data count.
      const sections: number[] = [];
      for (let at = 8; at < bytes.length; ) {
        sections.push(bytes[at]!);
        let size = 0;
        let shift = 0;
        let byte: number;
        at++;
        do {
          byte = bytes[at++]!;
          size |= (byte & 0x7f) << shift;
          shift += 7;
        } while (byte & 0x80);
        at += size;
      }
      expect(sections.filter((id) => [5, 6, 8, 11, 12].includes(id))).toEqual([]);
    },
  );

  it.each([
    ['its own memory', new WebAssembly.Memory({ initial: 1 }), 'asm'],
    [
      'a shared memory',
      new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true }),
      'wasmMemory',
    ],
  ] as const)('instantiates asynchronously on %s, and computes there', async (_, memory, where) => {
    // Non-threaded wasm exports its memory (asm.memory); threaded wasm's is Module.wasmMemory.
    const fake = {
      wasm: where === 'asm' ? { asm: { memory } } : { asm: {}, wasmMemory: memory },
    } as unknown as WasmHeap;
    // The release build: raw addresses into a bare memory are no tensors the debug build knows.
    useDebugSimdModule(undefined);
    try {
      await instantiateSimdKernels(fake);
      const heap = new Float32Array(memory.buffer);
      heap.set([1, 2, 3, 4, 5, 6], 0); // x: [3, 2] at byte 0
      rawSimdKernels(fake)!.sumRows(0, 64, 128, 3, 2, 0.5); // out at 64, float64 scratch at 128
      expect([...heap.subarray(16, 18)]).toEqual([4.5, 6]);
    } finally {
      useDebugSimdModule(await debugKernels());
    }
  });

  it('in the debug build the tests run against, traps on any access outside its buffers', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as WasmHeap;
    const [x, out, acc] = [tf.ones([3, 2]), tf.zeros([2]), tf.zeros([4])];
    const infos = [x, out, acc].map((t) => ({ dataId: t.dataId, shape: t.shape, dtype: t.dtype }));
    // In bounds: sums x's 3 rows.
    withGivenBuffers(backend, infos, (raw, [px, po, pa]) => raw.sumRows(px!, po!, pa!, 3, 2, 1));
    expect([...out.dataSync()]).toEqual([3, 3]);
    // One row more than x holds: the module throws before reading it.
    expect(() =>
      withGivenBuffers(backend, infos, (raw, [px, po, pa]) => raw.sumRows(px!, po!, pa!, 4, 2, 1)),
    ).toThrow(/outside its buffer 0/);
    tf.dispose([x, out, acc]);
  });

  it('checks each buffer against the sizes it is called with, before writing', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as WasmHeap;
    const [a, b, c] = [tf.ones([4, 3]), tf.ones([3, 5]), tf.fill([4, 4], 7)];
    const info = (t: tf.Tensor) => ({ dataId: t.dataId, shape: t.shape, dtype: t.dtype });
    // c is [4, 4], too small for a [4, 5] product.
    expect(() =>
      simdKernels(backend)!.matmul(info(a), 12, 4, info(b), info(c), 4, 3, 5, false),
    ).toThrow(
      /SIMD matmul: c needs 20 float32 values from element 0, but its tensor is float32 \[4, 4\]/,
    );
    expect([...c.dataSync()]).toEqual(Array(16).fill(7));
    tf.dispose([a, b, c]);
  });

  it('runs on the wasm backend’s memory', async () => {
    await tf.setBackend('wasm');
    expect(simdKernels(tf.backend() as unknown as WasmHeap)).toBeDefined();
  });
});

describe('SIMD MaxPoolGrad', () => {
  // Channels 1, 5, 6, 9: SIMD blocks of 4 and their scalar tails.
  const CASES: [Shape4, [number, number], [number, number], Pad][] = [
    [[1, 7, 9, 5], [2, 2], [2, 2], 'valid'],
    // 2×2 at stride 2 with channels a multiple of 4: the non-overlapping path, odd sizes leaving rows and columns.
    [[2, 7, 9, 8], [2, 2], [2, 2], 'valid'],
    [[3, 5, 5, 4], [2, 2], [2, 2], 'valid'],
    [[1, 6, 4, 12], [2, 2], [2, 2], 'same'],
    [[2, 9, 8, 9], [3, 3], [2, 2], 'same'], // overlapping windows
    [[3, 6, 7, 6], [3, 2], [2, 1], 1], // numeric padding, non-square
    [
      [1, 8, 8, 1],
      [2, 3],
      [1, 2],
      [
        [0, 0],
        [1, 0],
        [0, 2],
        [0, 0],
      ],
    ],
  ];
  for (const [shape, filterSize, strides, pad] of CASES) {
    it(`equals cpu: x [${shape}], filter ${filterSize}, strides ${strides}, pad ${JSON.stringify(pad)}`, async () => {
      const info = tf.backend_util.computePool2DInfo(shape, filterSize, strides, 1, pad);
      const dyShape = [shape[0], info.outHeight, info.outWidth, shape[3]];
      const inputs = {
        input: [values(shape, 31), shape],
        dy: [values(dyShape, 32), dyShape],
        output: [values(dyShape, 33), dyShape], // unused by every backend's kernel
      } as Record<string, [Float32Array, number[]]>;
      const { cpu, simd, fallback } = await threeWays('MaxPoolGrad', inputs, {
        filterSize,
        strides,
        pad,
      });
      // Distinct inputs, so one argmax per window; dx entries add at most 6
      // overlapping windows' dy in another order than cpu: float32 rounding only.
      expect(relativeError(simd, cpu)).toBeLessThan(1e-6);
      expect(relativeError(fallback, cpu)).toBeLessThan(1e-6);
    });
  }

  it('gives ties to the first maximum and passes all-≤0 windows, in SIMD lanes and tails', async () => {
    // 6 channels: the general loop's lanes and tail; 8: the non-overlapping 2×2 path.
    for (const channels of [6, 8]) {
      const shape: Shape4 = [2, 4, 4, channels];
      const dyShape = [2, 2, 2, channels];
      const dy: [Float32Array, number[]] = [values(dyShape, 5), dyShape];
      for (const x of [
        new Float32Array(32 * channels),
        values(shape, 3).map((v) => -Math.abs(v) - 0.1),
      ]) {
        const inputs = { input: [x, shape], dy, output: dy } as Record<
          string,
          [Float32Array, number[]]
        >;
        const attrs = { filterSize: 2, strides: 2, pad: 'valid' };
        const { cpu, simd, fallback } = await threeWays('MaxPoolGrad', inputs, attrs);
        expect([...simd]).toEqual([...cpu]);
        expect([...fallback]).toEqual([...cpu]);
        expect(simd.filter((v) => v !== 0).length).toBe(8 * channels); // one per window and channel
      }
    }
  });
});

describe('SIMD sum over leading axes', () => {
  it.each([
    [[37, 3], [0]], // columns < 4: scalar tail only
    [
      [5, 17, 9],
      [0, 1],
    ], // 85 rows (5 blocks of 16 and a rest), 9 columns (8 + 1)
    [[33, 4], [0]],
    [
      [2, 3, 130],
      [0, 1],
    ], // rows < 16
  ] as [number[], number[]][])(
    'sum of x %j over axes %j equals cpu, and mean',
    async (shape, axes) => {
      const x = values(shape, 41);
      for (const op of [tf.sum, tf.mean]) {
        const run = () => tf.tidy(() => op(tf.tensor(x, shape), axes).dataSync() as Float32Array);
        const cpu = await on('cpu', run);
        const simd = await on('wasm', run);
        const fallback = await on('wasm', () => withoutSimdKernels(run));
        // cpu sums in float64; ours in float32 blocks of ≤ 16 rows: see the next test's bound.
        expect(relativeError(simd, cpu)).toBeLessThan(1e-6);
        expect(relativeError(fallback, cpu)).toBeLessThan(1e-6);
      }
    },
  );

  it('stays within its error bound on 100 000 rows that nearly cancel', async () => {
    // Bound (assembly/kernels.ts): |error| ≤ 15·2⁻²⁴·Σ|x| from the float32
    // blocks, plus float64 and final float32 rounding (2⁻²⁴·|sum|). A plain
    // float32 running sum over 10⁵ rows could be off by ~10⁵·2⁻²⁴·Σ|x|.
    const rows = 100_000;
    const shape = [rows, 5];
    const x = values(shape, 43).map((v, i) => v + (i % 2 === 0 ? 1000 : -1000));
    const got = await on('wasm', () =>
      tf.tidy(() => tf.sum(tf.tensor(x, shape), 0).dataSync() as Float32Array),
    );
    for (let c = 0; c < 5; c++) {
      let exact = 0;
      let absolute = 0;
      for (let r = 0; r < rows; r++) {
        exact += Math.fround(x[r * 5 + c]!);
        absolute += Math.abs(x[r * 5 + c]!);
      }
      const bound = 15 * 2 ** -24 * absolute + 2 ** -24 * Math.abs(exact) + 1e-12;
      expect(Math.abs(got[c]! - exact)).toBeLessThanOrEqual(bound);
    }
  });
});

describe('SIMD Conv2DBackpropFilter', () => {
  /*
   * Tolerance 1e-4 of the largest entry, as in wasm-training-kernels.test.ts:
   * float32 sums of N·Ho·Wo ≤ 300 products of values in [-1, 1] against cpu's
   * float64, while a wrong index or padding gives errors of order 1. The shapes
   * exercise the 4×8 register blocks and their tails (rows kh·kw·Cin and Cout
   * not multiples of 4 and 8), the split of the pixels into blocks of 256, and
   * into chunks of col (2²¹ floats: 80 rows of 45 pixels × 576 in the last case).
   */
  const CASES: [Shape4, Shape4, number | [number, number], Pad, number][] = [
    [[3, 9, 10, 5], [3, 3, 5, 13], 1, 'same', 1],
    [[3, 9, 10, 5], [3, 3, 5, 13], 2, 'valid', 1],
    [
      [1, 11, 9, 3],
      [3, 2, 3, 16],
      [2, 1],
      [
        [0, 0],
        [2, 1],
        [0, 3],
        [0, 0],
      ],
      1,
    ],
    [[2, 12, 11, 4], [3, 3, 4, 9], 1, 'same', 2], // dilation
    [[2, 8, 8, 7], [1, 1, 7, 17], 2, 'same', 1],
    [[1, 6, 6, 1], [3, 3, 1, 8], 1, 'valid', 1],
    [[2, 47, 47, 64], [3, 3, 64, 8], 1, 'valid', 1], // 90 output rows, chunks of 80
  ];
  for (const [xShape, filterShape, strides, pad, dilations] of CASES) {
    it(`equals cpu: x [${xShape}], filter [${filterShape}], strides ${strides}, pad ${JSON.stringify(pad)}, dilation ${dilations}`, async () => {
      const info = tf.backend_util.computeConv2DInfo(
        xShape,
        filterShape,
        strides,
        dilations,
        pad as 'same',
      );
      const dyShape = info.outShape;
      const inputs = {
        x: [values(xShape, 51), xShape],
        dy: [values(dyShape, 52), dyShape],
      } as Record<string, [Float32Array, number[]]>;
      const attrs = { strides, pad, dataFormat: 'NHWC', filterShape, dilations };
      const simd = await on('wasm', () => kernel('Conv2DBackpropFilter', inputs, attrs));
      const fallback = await on('wasm', () =>
        withoutSimdKernels(() => kernel('Conv2DBackpropFilter', inputs, attrs)),
      );
      // cpu's kernel ignores dilations, so dilated cases compare with the fallback
      // (itself checked against cpu on a zero-stuffed filter in wasm-training-kernels.test.ts).
      const reference =
        dilations === 1
          ? await on('cpu', () => kernel('Conv2DBackpropFilter', inputs, attrs))
          : fallback;
      expect(relativeError(simd, reference)).toBeLessThan(1e-4);
      expect(relativeError(fallback, reference)).toBeLessThan(1e-4);
    });
  }
});

describe('SIMD Conv2DBackpropInput', () => {
  /*
   * Tolerance 1e-4 of the largest entry: each dx entry sums kh·kw·Cout ≤ 600
   * float32 products of values in [-1, 1] (cpu: float64). The 4×45×45 case has
   * more pixels than one chunk of col holds (2²¹ floats / 288 per pixel), so
   * it also checks that chunks add up.
   */
  const CASES: [Shape4, Shape4, number | [number, number], Pad][] = [
    [[3, 9, 10, 5], [3, 3, 5, 13], 1, 'same'],
    [[3, 9, 10, 5], [3, 3, 5, 13], 2, 'valid'],
    [
      [1, 11, 9, 3],
      [3, 2, 3, 16],
      [2, 3],
      [
        [0, 0],
        [2, 1],
        [0, 3],
        [0, 0],
      ],
    ],
    [[2, 8, 8, 7], [1, 1, 7, 17], 2, 'same'],
    [[1, 6, 7, 9], [4, 4, 9, 6], 3, 'same'],
    [[4, 45, 45, 32], [3, 3, 32, 8], 1, 'same'],
    [[2, 7, 7, 64], [3, 3, 64, 8], 2, 'same'],
    // Stride 1, Cin ≥ 64: XNNPACK with our flipped, channel-swapped filter (16×16 tiles + tails).
    [[2, 6, 7, 64], [3, 3, 64, 5], 1, 'same'],
    [[1, 5, 6, 66], [3, 2, 66, 19], 1, 'valid'],
  ];
  for (const [inputShape, filterShape, strides, pad] of CASES) {
    it(`equals cpu: x [${inputShape}], filter [${filterShape}], strides ${strides}, pad ${JSON.stringify(pad)}`, async () => {
      const dyShape = tf.backend_util.computeConv2DInfo(
        inputShape,
        filterShape,
        strides,
        1,
        pad as 'same',
      ).outShape;
      const inputs = {
        dy: [values(dyShape, 71), dyShape],
        filter: [values(filterShape, 72), filterShape],
      } as Record<string, [Float32Array, number[]]>;
      const attrs = { strides, pad, dataFormat: 'NHWC', inputShape };
      const { cpu, simd, fallback } = await threeWays('Conv2DBackpropInput', inputs, attrs);
      expect(relativeError(simd, cpu)).toBeLessThan(1e-4);
      expect(relativeError(fallback, cpu)).toBeLessThan(1e-4);
    });
  }
});

describe('SIMD bias add', () => {
  it.each([
    [[2, 5, 3, 7], [7]], // 4 + 3 columns
    [[9], [4, 9]], // bias first
    [
      [1, 1, 6],
      [3, 4, 6],
    ],
    [[130, 2], [2]],
    [
      [5, 8],
      [1, 8],
    ],
    [
      [5, 8],
      [5, 8],
    ], // not a bias: wasm's own kernel
    [
      [5, 1],
      [5, 8],
    ], // broadcast along another axis: wasm's own kernel
  ] as [number[], number[]][])('a %j + b %j equals cpu', async (aShape, bShape) => {
    const run = () =>
      tf.tidy(() => {
        const sum = tf.add(
          tf.tensor(values(aShape, 61), aShape),
          tf.tensor(values(bShape, 62), bShape),
        );
        return { shape: sum.shape, data: sum.dataSync() as Float32Array };
      });
    const cpu = await on('cpu', run);
    for (const wasm of [await on('wasm', run), await on('wasm', () => withoutSimdKernels(run))]) {
      expect(wasm.shape).toEqual(cpu.shape);
      expect([...wasm.data]).toEqual([...cpu.data]); // one float32 addition per entry: exact
    }
  });
});

describe('wasm Identity and Cast', () => {
  it.each([
    ['Identity', (x: tf.Tensor) => tf.clone(x)],
    ['Cast to the same dtype', (x: tf.Tensor) => tf.cast(x, 'float32')],
  ])('%s shares its input’s buffer: no copy, and each tensor outlives the other', async (_, op) => {
    await tf.setBackend('wasm');
    const backend = tf.backend();
    const x = tf.tensor([1, 2, 3, 4, 5]);
    const ids = backend.numDataIds();
    const y = op(x);
    expect(backend.numDataIds()).toBe(ids);
    x.dispose();
    expect([...(await y.data())]).toEqual([1, 2, 3, 4, 5]);
    y.dispose();
    expect(backend.numDataIds()).toBe(ids - 1);
  });

  it('still casts to another dtype (wasm’s own kernel)', async () => {
    await tf.setBackend('wasm');
    const y = tf.tidy(() => [...tf.cast(tf.tensor([1.5, -2.5, 0]), 'int32').dataSync()]);
    expect(y).toEqual([1, -2, 0]);
  });
});
