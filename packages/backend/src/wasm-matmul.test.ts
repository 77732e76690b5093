import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './node';
import { withoutSimdKernels } from './simd-kernels';
import { on, relativeError, values } from './test-helpers';
import { transposeFirst } from './wasm-matmul';

/*
 * Tolerance: XNNPACK and wasm's loop sum in float32 in different orders; the
 * reference sums in float64. With k ≤ 200 terms of size ≤ 1 the float32 error
 * stays below about k·2⁻²⁴·max|term| per entry, under 1e-5 of the outputs'
 * scale; 1e-4 leaves margin, while a wrong index or transpose gives order 1.
 */
const TOLERANCE = 1e-4;

beforeAll(async () => {
  await initBackend('wasm');
});

/** Float64 reference of matMul(a, b, transposeA, transposeB) for [batch, rows, cols] operands. */
function reference(
  a: Float32Array,
  [batchA, ra, ca]: number[],
  b: Float32Array,
  [batchB, rb, cb]: number[],
  transposeA: boolean,
  transposeB: boolean,
): Float32Array {
  const [m, k] = transposeA ? [ca!, ra!] : [ra!, ca!];
  const n = transposeB ? rb! : cb!;
  const batch = Math.max(batchA!, batchB!);
  const out = new Float32Array(batch * m * n);
  for (let t = 0; t < batch; t++) {
    const offA = (batchA === 1 ? 0 : t) * ra! * ca!;
    const offB = (batchB === 1 ? 0 : t) * rb! * cb!;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) {
          const x = a[offA + (transposeA ? p * ca! + i : i * ca! + p)]!;
          const y = b[offB + (transposeB ? j * cb! + p : p * cb! + j)]!;
          sum += x * y;
        }
        out[(t * m + i) * n + j] = sum;
      }
    }
  }
  return out;
}

const FLAGS: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

/** Operand shapes [batch, rows, cols] for a product m×k·k×n with the given flags. */
function operands(batchA: number, batchB: number, [m, k, n]: number[], ta: boolean, tb: boolean) {
  return {
    aShape: [batchA, ...(ta ? [k!, m!] : [m!, k!])],
    bShape: [batchB, ...(tb ? [n!, k!] : [k!, n!])],
  };
}

describe('matMul with transpose flags on wasm', () => {
  const SIZES = [
    [37, 150, 23],
    [1, 64, 9], // a single row: its transpose is a reshape, no copy
    [16, 1, 8], // k = 1
  ];

  for (const [ta, tb] of FLAGS) {
    for (const size of SIZES) {
      it(`matches a float64 product: transposeA ${ta}, transposeB ${tb}, m×k×n = ${size.join('×')}`, async () => {
        const { aShape, bShape } = operands(1, 1, size, ta, tb);
        const a = values(aShape, 1);
        const b = values(bShape, 2);
        const got = await on('wasm', () =>
          tf.tidy(() => {
            // rank 2, as tf.matMul passes dense layers' products
            const a2 = tf.tensor(a, aShape.slice(1));
            const b2 = tf.tensor(b, bShape.slice(1));
            return tf.matMul(a2, b2, ta, tb).dataSync() as Float32Array;
          }),
        );
        expect(relativeError(got, reference(a, aShape, b, bShape, ta, tb))).toBeLessThan(TOLERANCE);
      });
    }
  }

  it('keeps batched and broadcast products right (they stay on wasm’s own kernel)', async () => {
    for (const [batchA, batchB] of [
      [3, 3],
      [3, 1],
      [1, 2],
    ] as const) {
      for (const [ta, tb] of FLAGS) {
        const { aShape, bShape } = operands(batchA, batchB, [5, 7, 4], ta, tb);
        const a = values(aShape, 3);
        const b = values(bShape, 4);
        const got = await on('wasm', () =>
          tf.tidy(
            () =>
              tf
                .matMul(tf.tensor(a, aShape), tf.tensor(b, bShape), ta, tb)
                .dataSync() as Float32Array,
          ),
        );
        expect(relativeError(got, reference(a, aShape, b, bShape, ta, tb))).toBeLessThan(TOLERANCE);
      }
    }
  });

  it('keeps the fused bias and activation of tf.fused.matMul', async () => {
    for (const [ta, tb] of FLAGS) {
      const { aShape, bShape } = operands(1, 1, [12, 30, 6], ta, tb);
      const a = values(aShape, 5);
      const b = values(bShape, 6);
      const bias = values([6], 7);
      const got = await on('wasm', () =>
        tf.tidy(
          () =>
            tf.fused
              .matMul({
                a: tf.tensor2d(a, aShape.slice(1) as [number, number]),
                b: tf.tensor2d(b, bShape.slice(1) as [number, number]),
                transposeA: ta,
                transposeB: tb,
                bias: tf.tensor1d(bias),
                activation: 'relu',
              })
              .dataSync() as Float32Array,
        ),
      );
      const want = reference(a, aShape, b, bShape, ta, tb).map((x, i) =>
        Math.max(0, x + bias[i % 6]!),
      );
      expect(relativeError(got, want)).toBeLessThan(TOLERANCE);
    }
  });
});

describe('transposeFirst', () => {
  /** Calls the wrapper around a stand-in for wasm's kernel that records what it gets. */
  function wrapped(aShape: number[], bShape: number[], ta: boolean, tb: boolean, withBias = true) {
    const seen: { a: number[]; b: number[]; attrs: tf.NamedAttrMap; extra: unknown }[] = [];
    const backend = tf.backend();
    const original: tf.KernelFunc = ({ inputs, attrs }) => {
      const { a, b, bias } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo; bias: tf.TensorInfo };
      const read = (t: tf.TensorInfo) => [...(backend.readSync(t.dataId) as Float32Array)];
      seen.push({ a: read(a), b: read(b), attrs: attrs!, extra: bias });
      return tf
        .getKernel('Identity', 'wasm')!
        .kernelFunc({ inputs: { x: a }, backend }) as tf.TensorInfo;
    };
    const a = tf.tensor(values(aShape, 8), aShape);
    const b = tf.tensor(values(bShape, 9), bShape);
    // One bias value per output column, the bias wasm's fused kernel takes as it is.
    const bias = tf.tensor1d(values([tb ? bShape.at(-2)! : bShape.at(-1)!], 10));
    const attrs = { transposeA: ta, transposeB: tb, activation: 'linear' };
    // Without our module: with it, no float32 product reaches wasm's kernel (tested below).
    const out = withoutSimdKernels(
      () =>
        transposeFirst(original)({
          inputs: withBias ? { a, b, bias } : { a, b },
          backend,
          attrs: attrs as unknown as tf.NamedAttrMap,
        }) as tf.TensorInfo,
    );
    const expected = tf.tidy(() => ({
      a: tf.transpose(a).dataSync(),
      b: tf.transpose(b).dataSync(),
    }));
    backend.disposeData(out.dataId);
    tf.dispose([a, b, bias]);
    return { seen: seen[0]!, bias, expected };
  }

  it('hands wasm’s kernel the transposed operands and no flags without our module; other inputs pass through', async () => {
    await tf.setBackend('wasm');
    const buffers = tf.engine().backend.numDataIds();
    const { seen, bias, expected } = wrapped([6, 4], [5, 6], true, true);
    expect(seen.a).toEqual([...expected.a]);
    expect(seen.b).toEqual([...expected.b]);
    expect(seen.attrs).toMatchObject({
      transposeA: false,
      transposeB: false,
      activation: 'linear',
    });
    expect(seen.extra).toBe(bias);
    // The transposed copies are freed.
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
  });

  it('leaves batched products and untransposed ones alone', async () => {
    await tf.setBackend('wasm');
    // Without a bias: wasm gets a batched product's bias wrong, so that one is unfused (see wasm-matmul.ts).
    const batched = wrapped([2, 6, 4], [2, 5, 6], true, true, false).seen;
    expect(batched.attrs).toMatchObject({ transposeA: true, transposeB: true });
    const plain = wrapped([4, 6], [6, 5], false, false, false).seen;
    expect(plain.a).toEqual([...values([4, 6], 8)]);
  });
});

describe('every float32 product in our module', () => {
  /** Runs the wrapper around a stand-in for wasm's kernel that counts its calls. */
  function run(
    aShape: number[],
    bShape: number[],
    ta: boolean,
    tb: boolean,
    fused?: { bias: number[]; activation: string },
    scale = 1,
  ) {
    let calls = 0;
    const backend = tf.backend();
    const original: tf.KernelFunc = () => {
      calls++;
      throw new Error('wasm’s kernel was called');
    };
    const a = tf.tensor(
      values(aShape, 11).map((x) => x * scale),
      aShape,
    );
    const b = tf.tensor(values(bShape, 12), bShape);
    const bias = fused && tf.tensor(values(fused.bias, 13), fused.bias);
    const out = transposeFirst(original)({
      inputs: bias ? { a, b, bias } : { a, b },
      backend,
      attrs: {
        transposeA: ta,
        transposeB: tb,
        activation: fused?.activation ?? 'linear',
      } as unknown as tf.NamedAttrMap,
    }) as tf.TensorInfo;
    const got = Float32Array.from(backend.readSync(out.dataId) as Float32Array);
    backend.disposeData(out.dataId);
    tf.dispose([a, b, ...(bias ? [bias] : [])]);
    return { got, calls };
  }

  it('runs plain, transposed and batched products without wasm’s kernel, as a float64 product', async () => {
    await tf.setBackend('wasm');
    for (const [batchA, batchB] of [
      [1, 1],
      [3, 3],
      [1, 2],
    ] as const) {
      for (const [ta, tb] of FLAGS) {
        // n = 13: one 8-column block and a tail; m = 6: one 4-row block and a tail.
        const { aShape, bShape } = operands(batchA, batchB, [6, 19, 13], ta, tb);
        const { got, calls } = run(aShape, bShape, ta, tb);
        expect(calls).toBe(0);
        const want = reference(values(aShape, 11), aShape, values(bShape, 12), bShape, ta, tb);
        expect(relativeError(got, want)).toBeLessThan(TOLERANCE);
      }
    }
  });

  it('applies a per-column bias with linear, relu and relu6 in the module, other epilogues as wasm’s kernels', async () => {
    await tf.setBackend('wasm');
    const [m, k, n] = [9, 21, 11];
    for (const activation of ['linear', 'relu', 'relu6', 'elu']) {
      for (const biasShape of [[n], [1], [m, n]]) {
        const { aShape, bShape } = operands(1, 1, [m, k, n], false, true);
        // Scaled so that relu6 clips: entries of the product reach about ±k·0.25·scale.
        const scale = 3;
        const a = values(aShape, 11).map((x) => x * scale);
        const { got, calls } = run(
          aShape,
          bShape,
          false,
          true,
          { bias: biasShape, activation },
          scale,
        );
        expect(calls).toBe(0);
        const biasValues = values(biasShape, 13);
        const act = (x: number) =>
          activation === 'relu'
            ? Math.max(0, x)
            : activation === 'relu6'
              ? Math.min(6, Math.max(0, x))
              : activation === 'elu'
                ? x > 0
                  ? x
                  : Math.expm1(x)
                : x;
        const want = reference(a, aShape, values(bShape, 12), bShape, false, true).map((x, i) =>
          act(x + biasValues[biasShape.length === 2 ? i : biasShape[0] === 1 ? 0 : i % n]!),
        );
        if (activation === 'relu6') expect(want.some((x) => x === 6)).toBe(true);
        expect(relativeError(got, want)).toBeLessThan(TOLERANCE);
      }
    }
  });
});
