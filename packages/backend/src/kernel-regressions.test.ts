/**
 * Every defect the differential harness (differential.ts) found, as a named
 * test against an exact answer or a float64 reference (docs/kernels.md lists
 * them with their causes). Each ran wrong, or crashed wasm's heap, before its fix.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  batchNormRounding,
  compare,
  floorsOf,
  TOLERANCE as HARNESS_TOLERANCE,
  inputValues,
  makeCase,
  runCase,
} from './differential';
import { initBackend } from './node';
import { on, values } from './test-helpers';

/*
 * Tolerance: float32 sums of at most 256 products of values in [−1, 1) err by
 * at most 256·2⁻²⁴·256 ≈ 4e-3 in the worst case and by ~1e-5 typically, while
 * every defect here is off by the size of the values (or NaN); 1e-3 relative
 * to the largest entry (or absolute where the answer is ~1) separates the two.
 */
const TOLERANCE = 1e-3;

beforeAll(async () => {
  await initBackend('cpu');
  await initBackend('wasm');
});

const data = (t: tf.Tensor) => Array.from(t.dataSync());

function expectClose(got: number[], want: number[]) {
  expect(got.length).toBe(want.length);
  const scale = Math.max(1, ...want.map(Math.abs));
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i]!)) expect(got[i]).toBeNaN();
    else expect(Math.abs(got[i]! - want[i]!), `entry ${i}`).toBeLessThan(TOLERANCE * scale);
  }
}

/** Float64 product of row-major [m, k] and [k, n] arrays. */
function product(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number) {
  const out: number[] = [];
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * n + j]!;
      out.push(s);
    }
  }
  return out;
}

describe('matMul on wasm: XNNPACK caches a weight by its id, not its shape', () => {
  it('gives the gradient of a one-output dense layer: every row of dL/dh is wᵀ', async () => {
    // The first example: dh = dy·wᵀ, with wᵀ a free reshape of w ([16, 1] → [1, 16]).
    const w = values([16, 1], 1);
    const got = await on('wasm', () =>
      tf.tidy(() => {
        const wt = tf.tensor2d(w, [16, 1]);
        return data(
          tf.grad((h: tf.Tensor) => tf.sum(tf.matMul(h as tf.Tensor2D, wt)))(
            tf.tensor2d(values([256, 16], 2), [256, 16]),
          ),
        );
      }),
    );
    expectClose(got, Array.from({ length: 256 }, () => Array.from(w)).flat());
  });

  it('[64, 1] × [1, 13]: gradients Σ_j b_j and Σ_i a_i, no out-of-bounds write', async () => {
    const [a, b] = [values([64, 1], 3), values([1, 13], 4)];
    const got = await on('wasm', () =>
      tf.tidy(() =>
        tf
          .grads((x: tf.Tensor, y: tf.Tensor) =>
            tf.sum(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D)),
          )([tf.tensor2d(a, [64, 1]), tf.tensor2d(b, [1, 13])])
          .map(data),
      ),
    );
    const sum = (v: Float32Array) => v.reduce((s, x) => s + x, 0);
    expectClose(got[0]!, Array(64).fill(sum(b)));
    expectClose(got[1]!, Array(13).fill(sum(a)));
    // The heap is intact: a later op still runs.
    expect(await on('wasm', () => tf.tidy(() => data(tf.add(tf.ones([3]), 1))))).toEqual([2, 2, 2]);
  });

  it('[16, 1]ᵀ × [16, 1]: gradients b and a', async () => {
    const [a, b] = [values([16, 1], 5), values([16, 1], 6)];
    const got = await on('wasm', () =>
      tf.tidy(() =>
        tf
          .grads((x: tf.Tensor, y: tf.Tensor) =>
            tf.sum(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D, true, false)),
          )([tf.tensor2d(a, [16, 1]), tf.tensor2d(b, [16, 1])])
          .map(data),
      ),
    );
    expectClose(got[0]!, Array.from(b));
    expectClose(got[1]!, Array.from(a));
  });

  it('a weight multiplied under two shapes (w, then w reshaped) gives both products', async () => {
    const w = values([8, 4], 7);
    const x = values([3, 8], 8);
    const y = values([5, 32], 9);
    const got = await on('wasm', () =>
      tf.tidy(() => {
        const wt = tf.tensor2d(w, [8, 4]);
        const first = data(tf.matMul(tf.tensor2d(x, [3, 8]), wt));
        const second = data(
          tf.matMul(tf.tensor2d(y, [5, 32]), tf.reshape(wt, [32, 1]) as tf.Tensor2D),
        );
        return [first, second];
      }),
    );
    expectClose(got[0]!, product(x, w, 3, 8, 4));
    expectClose(got[1]!, product(y, w, 5, 32, 1));
  });
});

describe('fused matMul on wasm: what its kernel got wrong', () => {
  const a = values([4, 3], 10);
  const b = values([3, 5], 11);
  const plain = product(a, b, 4, 3, 5);

  async function fused(
    config: Omit<Parameters<typeof tf.fused.matMul>[0], 'a' | 'b'> & { batch?: number },
  ) {
    const batch = config.batch ?? 0;
    return on('wasm', () =>
      tf.tidy(() => {
        const shapeA = batch ? [batch, 4, 3] : [4, 3];
        const shapeB = batch ? [batch, 3, 5] : [3, 5];
        const aa = tf.tensor(batch ? Array(batch).fill(Array.from(a)).flat() : a, shapeA);
        const bb = tf.tensor(batch ? Array(batch).fill(Array.from(b)).flat() : b, shapeB);
        return data(tf.fused.matMul({ ...config, a: aa, b: bb }));
      }),
    );
  }

  it('a bias of one value broadcast over every column ([1])', async () => {
    const got = await fused({ bias: tf.tensor1d([0.5]) });
    expectClose(
      got,
      plain.map((v) => v + 0.5),
    );
  });

  it('a [n] bias on a batched product (wasm added the last bias to every row after the first)', async () => {
    const bias = [1, 2, 3, 4, 5];
    const got = await fused({ bias: tf.tensor1d(bias), batch: 2 });
    const want = plain.map((v, i) => v + bias[i % 5]!);
    expectClose(got, [...want, ...want]);
  });

  for (const [activation, f] of [
    ['elu', (v: number) => (v >= 0 ? v : Math.exp(v) - 1)],
    ['sigmoid', (v: number) => 1 / (1 + Math.exp(-v))],
    ['leakyrelu', (v: number) => (v >= 0 ? v : 0.2 * v)],
  ] as const) {
    it(`applies the ${activation} activation (wasm's kernel skipped it)`, async () => {
      const got = await fused({ bias: tf.tensor1d([0.25, 0, 0, 0, -1]), activation });
      expectClose(
        got,
        plain.map((v, i) => f(v + [0.25, 0, 0, 0, -1][i % 5]!)),
      );
    });
  }

  it('with one output column and relu, gives the gradient of a·b + c (masked where ≤ 0)', async () => {
    const [x, w] = [values([8, 5], 12), values([5, 1], 13)];
    const got = await on('wasm', () =>
      tf.tidy(() =>
        tf
          .grads((p: tf.Tensor, q: tf.Tensor) =>
            tf.sum(tf.fused.matMul({ a: p, b: q, bias: tf.scalar(0.1), activation: 'relu' })),
          )([tf.tensor2d(x, [8, 5]), tf.tensor2d(w, [5, 1])])
          .map(data),
      ),
    );
    const pre = product(x, w, 8, 5, 1).map((v) => v + 0.1);
    const da = pre.flatMap((v) => (v > 0 ? Array.from(w) : [0, 0, 0, 0, 0]));
    const db = [0, 1, 2, 3, 4].map((j) =>
      pre.reduce((s, v, i) => s + (v > 0 ? x[i * 5 + j]! : 0), 0),
    );
    expectClose(got[0]!, da);
    expectClose(got[1]!, db);
  });
});

describe('matMul on wasm: sizes and batches its kernel did not take', () => {
  it('an empty inner dimension gives zeros (plus the bias), not uninitialised memory', async () => {
    const got = await on('wasm', () =>
      tf.tidy(() => [
        data(tf.matMul(tf.zeros([3, 0]), tf.zeros([0, 4]))),
        data(
          tf.fused.matMul({ a: tf.zeros([2, 0]), b: tf.zeros([0, 2]), bias: tf.tensor1d([1, 2]) }),
        ),
      ]),
    );
    expect(got[0]).toEqual(Array(12).fill(0));
    expect(got[1]).toEqual([1, 2, 1, 2]);
  });

  it('batches broadcast along different axes ([2, 1] against [1, 3])', async () => {
    const [a, b] = [values([2, 1, 4, 3], 14), values([1, 3, 3, 5], 15)];
    const got = await on('wasm', () =>
      tf.tidy(() => data(tf.matMul(tf.tensor(a, [2, 1, 4, 3]), tf.tensor(b, [1, 3, 3, 5])))),
    );
    const want: number[] = [];
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        want.push(
          ...product(a.subarray(i * 12, i * 12 + 12), b.subarray(j * 15, j * 15 + 15), 4, 3, 5),
        );
      }
    }
    expectClose(got, want);
  });

  it('the gradient of a batch-broadcast product is summed over the broadcast batch (every backend)', async () => {
    // tfjs-core's BatchMatMul gradient returned the broadcast shape, which the engine rejects.
    const [a, b] = [values([1, 1, 3], 16), values([8, 3, 2], 17)];
    for (const backend of ['cpu', 'wasm']) {
      const got = await on(backend, () =>
        tf.tidy(() =>
          tf
            .grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.matMul(x, y)))([
              tf.tensor(a, [1, 1, 3]),
              tf.tensor(b, [8, 3, 2]),
            ])
            .map(data),
        ),
      );
      // d/da_p = Σ_t Σ_j b[t, p, j]; d/db[t, p, j] = a_p.
      expectClose(
        got[0]!,
        [0, 1, 2].map((p) =>
          Array.from({ length: 8 }, (_, t) => b[t * 6 + p * 2]! + b[t * 6 + p * 2 + 1]!).reduce(
            (s, v) => s + v,
            0,
          ),
        ),
      );
      expectClose(
        got[1]!,
        Array.from({ length: 48 }, (_, i) => a[Math.floor(i / 2) % 3]!),
      );
    }
  });
});

describe('reductions and convolutions on wasm', () => {
  it('sums and means an empty axis to 0, as the cpu backend does', async () => {
    const got = await on('wasm', () =>
      tf.tidy(() => [
        data(tf.sum(tf.zeros([0, 3]), 0)),
        data(tf.mean(tf.zeros([0, 2]), 0)),
        // Fuzz seed 21, case 12376: wasm's Mean threw 'divide by zero'.
        data(tf.mean(tf.zeros([0, 16, 17]), -2)),
      ]),
    );
    expect(got[0]).toEqual([0, 0, 0]);
    expect(got[1]).toEqual([0, 0]);
    expect(got[2]).toEqual([]);
  });

  for (const depthwise of [false, true]) {
    it(`${depthwise ? 'depthwiseConv2d' : 'conv2d'} with 'same' padding and a stride past the input`, async () => {
      // x [2, 8, 1, 1], a 1×2 filter, strides [2, 3]: one output column, reading x's only column
      // with the filter's first tap (the second is padding). XNNPACK's 'same' gave zeros.
      const x = values([2, 8, 1, 1], 18);
      const got = await on('wasm', () =>
        tf.tidy(() => {
          const xt = tf.tensor4d(x, [2, 8, 1, 1]);
          const f = tf.tensor4d([3, 5], [1, 2, 1, 1]);
          return data(
            depthwise
              ? tf.depthwiseConv2d(xt, f, [2, 3], 'same')
              : tf.conv2d(xt, f, [2, 3], 'same'),
          );
        }),
      );
      expectClose(
        got,
        [0, 2, 4, 6, 8, 10, 12, 14].map((i) => 3 * x[i]!),
      );
    });
  }
});

describe('moments + batchNorm: an x gradient that is almost all cancellation (two rows)', () => {
  /**
   * Float64 ∂/∂x of Σ r·batchNorm(x, moments(x), γ, β, ε) over rows × channels:
   * (γ/s)·[r − mean(r) − x̂·mean(r·x̂)] per channel, s = √(σ² + ε), x̂ = (x − μ)/s.
   */
  function batchNormGrad64(
    x: Float32Array,
    r: Float32Array,
    gamma: Float32Array,
    channels: number,
    epsilon: number,
  ) {
    const rows = x.length / channels;
    const out = new Float64Array(x.length);
    for (let c = 0; c < channels; c++) {
      const at = (i: number) => i * channels + c;
      let mean = 0;
      for (let i = 0; i < rows; i++) mean += x[at(i)]!;
      mean /= rows;
      let variance = 0;
      for (let i = 0; i < rows; i++) variance += (x[at(i)]! - mean) ** 2;
      const s = Math.sqrt(variance / rows + epsilon);
      let meanR = 0;
      let meanRXHat = 0;
      for (let i = 0; i < rows; i++) {
        meanR += r[at(i)]! / rows;
        meanRXHat += (r[at(i)]! * (x[at(i)]! - mean)) / s / rows;
      }
      for (let i = 0; i < rows; i++) {
        const xHat = (x[at(i)]! - mean) / s;
        out[at(i)] = (gamma[c]! / s) * (r[at(i)]! - meanR - xHat * meanRXHat);
      }
    }
    return out;
  }

  const maxError = (got: Float32Array, want: Float64Array) =>
    got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i]!)), 0);

  // Every such counter-example the fuzz runs found (seed, case index).
  const FOUND = [
    [21, 22961],
    [21, 27044],
    [2026, 3814],
    [2026, 20097],
    [2026, 58433],
    [2026, 67406],
    [2026, 69887],
  ] as const;
  for (const [seed, index] of FOUND) {
    it(`fuzz seed ${seed} case ${index}: rounding (wasm as close to float64 as cpu), within the harness's floor`, async () => {
      const c = makeCase(seed, index);
      expect(c.op).toBe('moments+batchNorm');
      const shape = c.inputs.x!.shape;
      const channels = shape.at(-1)!;
      const epsilon = Number(/epsilon=(\S+)/.exec(c.description)![1]);
      const x = inputValues(c.inputs.x!, seed, index, 'x');
      const gamma = inputValues(c.inputs.gamma!, seed, index, 'gamma');
      const r = inputValues({ shape }, seed, index, '#r');
      const want = batchNormGrad64(x, r, gamma, channels, epsilon);
      const dx = async (backend: string) => {
        const stages = await on(backend, () => runCase(c, seed, index));
        const grads = stages[1]!;
        if (!grads.ok) throw new Error(grads.error);
        return { stages, dx: grads.outputs.find(([label]) => label === 'd/dx')![1] };
      };
      const cpu = await dx('cpu');
      const wasm = await dx('wasm');
      const floor = floorsOf(c, seed, index)['d/dx']!;
      const largest = Math.max(...want.map(Math.abs));
      // The case as found: the result is ~1e-5 and wasm and cpu differ by more than
      // the harness's tolerance of it, so without the floor the harness fails it.
      expect(maxError(wasm.dx, Float64Array.from(cpu.dx))).toBeGreaterThan(
        HARNESS_TOLERANCE * largest,
      );
      // Both are rounding: each within 2⁻²⁴ of the terms' size (Σ|terms| = floor over
      // batchNormRounding) of the float64 answer, and wasm within 4× cpu's error of it
      // (or that bound).
      const rounding = (floor / batchNormRounding(x.length / channels)) * 2 ** -24;
      const [cpuError, wasmError] = [maxError(cpu.dx, want), maxError(wasm.dx, want)];
      expect(cpuError).toBeLessThan(rounding);
      expect(wasmError).toBeLessThan(Math.max(rounding, 4 * cpuError));
      expect(compare(wasm.stages, cpu.stages, floorsOf(c, seed, index))).toBeUndefined();
    });
  }
});

describe("avgPool's gradient where windows cross the padding (every backend)", () => {
  // 3×3 windows, stride 2, 'same' on a 3×3 input: four windows of 2×2 in-bounds pixels,
  // each averaging 4 values; the centre is in all four, the corners in one.
  const exact = [1, 2, 1, 2, 4, 2, 1, 2, 1].map((n) => n / 4);
  const pool = (t: tf.Tensor) => tf.avgPool(t as tf.Tensor4D, 3, 2, 'same');
  for (const backend of ['cpu', 'wasm']) {
    it(`${backend}: ∂/∂x Σ avgPool(x) counts each window's in-bounds pixels (tfjs gave 1/9, not 1/4)`, async () => {
      const got = await on(backend, () =>
        tf.tidy(() =>
          data(
            tf.grad((t: tf.Tensor) => tf.sum(pool(t)))(tf.tensor4d(values([9], 3), [1, 3, 3, 1])),
          ),
        ),
      );
      expectClose(got, exact);
    });
    it(`${backend}: and its HVP (Σ avgPool(x)², v = 1: 2·Σ over windows ∋ i of 1/4)`, async () => {
      const got = await on(backend, () =>
        tf.tidy(() => {
          const v = tf.ones([1, 3, 3, 1]);
          const g = (t: tf.Tensor) => tf.grad((u: tf.Tensor) => tf.sum(tf.square(pool(u))))(t);
          return data(
            tf.grad((t: tf.Tensor) => tf.sum(tf.mul(g(t), v)))(
              tf.tensor4d(values([9], 4), [1, 3, 3, 1]),
            ),
          );
        }),
      );
      expectClose(
        got,
        exact.map((e) => 2 * e),
      );
    });
  }
});
