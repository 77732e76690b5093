import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './node';
import {
  type Reduction,
  SOFTMAX_CROSS_ENTROPY,
  SOFTMAX_CROSS_ENTROPY_GRAD,
} from './softmax-cross-entropy';
import { on, values } from './test-helpers';

/*
 * Tolerances. The kernels compute in float64 from float32 inputs and round
 * once; tfjs's op rounds every step in float32, so the two differ by a few
 * units of float32 rounding of the terms (|z| ≤ 40 here, so ~40·2⁻²⁴ ≈ 3e-6
 * per term); 1e-5 of the scale leaves margin. Against the float64 closed forms
 * below the kernels' own error is one float32 rounding (6e-8); the tfjs ops of
 * the second-order path add their float32 steps, so 1e-5 there too. A wrong
 * index, sign or reduction is off by order 1.
 */
const TOLERANCE = 1e-5;

beforeAll(async () => {
  await initBackend('wasm');
  await initBackend('cpu');
});

const REDUCTIONS: Reduction[] = ['mean', 'sum', 'none'];

/** Logits spread over ±scale (rows of very different size) and labels: one-hot, soft, or unnormalised. */
function problem(
  n: number,
  k: number,
  seed: number,
  scale: number,
  labels: 'hot' | 'soft' | 'any',
) {
  const z = values([n, k], seed).map((v) => v * scale);
  const u = values([n, k], seed + 1);
  const y = new Float32Array(n * k);
  for (let r = 0; r < n; r++) {
    if (labels === 'hot') y[r * k + Math.floor(((u[r]! + 1) / 2) * k)] = 1;
    else {
      let s = 0;
      for (let j = 0; j < k; j++) s += y[r * k + j] = (u[r * k + j]! + 1) / 2;
      if (labels === 'soft') for (let j = 0; j < k; j++) y[r * k + j]! /= s;
    }
  }
  return { z, y };
}

/** tf.losses' reduction for ours. */
const TFJS: Record<Reduction, tf.Reduction> = {
  mean: tf.Reduction.SUM_BY_NONZERO_WEIGHTS,
  sum: tf.Reduction.SUM,
  none: tf.Reduction.NONE,
};

/** Loss value and gradients (logits, labels) of `loss`, with dy = 1 or a fixed vector for 'none'. */
function withGradients(
  loss: (y: tf.Tensor, z: tf.Tensor) => tf.Tensor,
  z: Float32Array,
  y: Float32Array,
  shape: [number, number],
  reduction: Reduction,
) {
  return tf.tidy(() => {
    const zT = tf.tensor2d(z, shape);
    const yT = tf.tensor2d(y, shape);
    const dy = reduction === 'none' ? tf.tensor1d(values([shape[0]], 9)) : tf.scalar(1);
    const value = loss(yT, zT);
    const [gy, gz] = tf.grads((a: tf.Tensor, b: tf.Tensor) => loss(a, b))([yT, zT], dy);
    return [value, gz!, gy!].map((t) => Float32Array.from(t.dataSync()));
  });
}

const ours = (reduction: Reduction) => (y: tf.Tensor, z: tf.Tensor) =>
  tf
    .engine()
    .runKernel(SOFTMAX_CROSS_ENTROPY, { logits: z, labels: y }, { reduction }) as tf.Tensor;
const tfjs = (reduction: Reduction) => (y: tf.Tensor, z: tf.Tensor) =>
  tf.losses.softmaxCrossEntropy(y, z, undefined, 0, TFJS[reduction]);

/** ∂L/∂z = (p·Σy − y)·w_n and ∂L/∂y = −log p·w_n in float64, with the dy of `withGradients`. */
function exactGradients(
  z: Float32Array,
  y: Float32Array,
  [n, k]: [number, number],
  reduction: Reduction,
): [Float32Array, Float32Array] {
  const dy = values([n], 9);
  const out = new Float32Array(n * k);
  const outLabels = new Float32Array(n * k);
  for (let r = 0; r < n; r++) {
    const row = Array.from(z.subarray(r * k, (r + 1) * k));
    const m = Math.max(...row);
    const s = row.reduce((a, x) => a + Math.exp(x - m), 0);
    const labelSum = Array.from(y.subarray(r * k, (r + 1) * k)).reduce((a, b) => a + b, 0);
    const w = reduction === 'none' ? dy[r]! : reduction === 'mean' ? 1 / n : 1;
    for (let j = 0; j < k; j++) {
      out[r * k + j] = ((Math.exp(row[j]! - m) / s) * labelSum - y[r * k + j]!) * w;
      outLabels[r * k + j] = -(row[j]! - m - Math.log(s)) * w;
    }
  }
  return [out, outLabels];
}

/** max |a − b| over max(|b|, 1e-30). */
function error(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let scale = 1e-30;
  let worst = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  }
  return worst / scale;
}

describe('the fused softmax cross-entropy kernels on wasm', () => {
  it('equal tf.losses.softmaxCrossEntropy on cpu, value and both gradients, on random shapes', async () => {
    let cases = 0;
    for (const [n, k] of [
      [1, 1],
      [1, 10],
      [7, 1],
      [128, 10],
      [5, 100],
      [3, 2],
    ] as [number, number][]) {
      for (const reduction of REDUCTIONS) {
        for (const [seed, scale, labels] of [
          [1, 1, 'hot'],
          [2, 40, 'soft'],
          [3, 5, 'any'],
        ] as const) {
          const { z, y } = problem(n, k, seed, scale, labels);
          const got = await on('wasm', () =>
            withGradients(ours(reduction), z, y, [n, k], reduction),
          );
          const want = await on('cpu', () =>
            withGradients(tfjs(reduction), z, y, [n, k], reduction),
          );
          const what = `n=${n} k=${k} ${reduction} scale=${scale} ${labels}`;
          expect(error(got[0]!, want[0]!), `${what}: value`).toBeLessThan(TOLERANCE);
          const [exact, exactLabels] = exactGradients(z, y, [n, k], reduction);
          // tfjs's labels' gradient is dy·(y − p), not −dy·log p: compared with the closed form only.
          expect(error(got[2]!, exactLabels), `${what}: labels' gradient`).toBeLessThan(TOLERANCE);
          expect(error(got[1]!, exact), `${what}: logits' gradient`).toBeLessThan(TOLERANCE);
          // tfjs's gradient is p − y, right only where each row's labels sum to 1.
          if (labels !== 'any') {
            expect(error(want[1]!, exact), `${what}: tfjs's`).toBeLessThan(TOLERANCE);
          }
          cases++;
        }
      }
    }
    expect(cases).toBe(54);
  });

  it('runs one kernel each way when nothing records the backward pass', async () => {
    const { z, y } = problem(16, 10, 4, 3, 'hot');
    await tf.setBackend('wasm');
    const zVar = tf.variable(tf.tensor2d(z, [16, 10]));
    const yT = tf.tensor2d(y, [16, 10]);
    const { kernels } = await tf.profile(() => {
      const { grads, value } = tf.variableGrads(
        () => ours('mean')(yT, tf.mul(zVar, 1)) as tf.Scalar,
        [zVar],
      );
      tf.dispose([grads, value]);
    });
    const names = kernels.map((k) => k.name);
    expect(names.filter((n) => n === SOFTMAX_CROSS_ENTROPY)).toHaveLength(1);
    expect(names.filter((n) => n === SOFTMAX_CROSS_ENTROPY_GRAD)).toHaveLength(1);
    expect(names).not.toContain('Softmax');
    tf.dispose([yT, zVar]);
  });

  it('is differentiable twice: its Hessian-vector product is the closed form Σy·(diag p − p pᵀ)·v / n', async () => {
    for (const [n, k, labels] of [
      [1, 1, 'hot'],
      [6, 10, 'hot'],
      [4, 3, 'any'],
      [9, 1, 'any'],
    ] as const) {
      const { z, y } = problem(n, k, 5, 4, labels);
      const v = values([n, k], 7);
      const hv = await on('wasm', () =>
        tf.tidy(() => {
          const zT = tf.tensor2d(z, [n, k]);
          const yT = tf.tensor2d(y, [n, k]);
          const vT = tf.tensor2d(v, [n, k]);
          const gradDotV = (x: tf.Tensor) =>
            tf.sum(tf.mul(tf.grad((w: tf.Tensor) => ours('mean')(yT, w))(x), vT));
          return Float32Array.from(tf.grad(gradDotV)(zT).dataSync());
        }),
      );
      const want = new Float64Array(n * k);
      for (let r = 0; r < n; r++) {
        const row = Array.from(z.subarray(r * k, (r + 1) * k));
        const m = Math.max(...row);
        const e = row.map((x) => Math.exp(x - m));
        const s = e.reduce((a, b) => a + b, 0);
        const p = e.map((x) => x / s);
        const labelSum = Array.from(y.subarray(r * k, (r + 1) * k)).reduce((a, b) => a + b, 0);
        let pv = 0;
        for (let j = 0; j < k; j++) pv += p[j]! * v[r * k + j]!;
        for (let j = 0; j < k; j++) {
          want[r * k + j] = (labelSum * p[j]! * (v[r * k + j]! - pv)) / n;
        }
      }
      const what = `n=${n} k=${k} ${labels}`;
      if (k === 1) {
        // One class: the loss is constant in z, every second derivative 0.
        expect(Math.max(...hv.map(Math.abs)), what).toBeLessThan(1e-7);
      } else {
        expect(error(hv, Float32Array.from(want)), what).toBeLessThan(TOLERANCE);
      }
    }
  });

  it('gives NaN where tfjs does, and refuses bad inputs in one line', async () => {
    const got = await on('wasm', () =>
      tf.tidy(() =>
        ours('none')(
          tf.tensor2d([
            [1, 0],
            [0, 1],
          ]),
          tf.tensor2d([
            [Number.NaN, 1],
            [2, 3],
          ]),
        ).dataSync(),
      ),
    );
    expect(Number.isNaN(got[0])).toBe(true);
    expect(Number.isFinite(got[1])).toBe(true);
    await tf.setBackend('wasm');
    const [y, z] = [tf.ones([2, 3]), tf.ones([2, 4])];
    expect(() => ours('mean')(y, z)).toThrow(/logits \[2,4\] and labels \[2,3\] differ in shape/);
    expect(() =>
      tf.engine().runKernel(SOFTMAX_CROSS_ENTROPY, { logits: z, labels: z }, { reduction: 'avg' }),
    ).toThrow(/reduction must be 'mean', 'sum' or 'none', got "avg"/);
    tf.dispose([y, z]);
  });

  it('leaks no tensor over many gradient steps', async () => {
    await tf.setBackend('wasm');
    const { z, y } = problem(32, 10, 6, 2, 'hot');
    const w = tf.variable(tf.tensor2d(z, [32, 10]));
    const yT = tf.tensor2d(y, [32, 10]);
    const step = () => {
      const { value, grads } = tf.variableGrads(
        () => ours('mean')(yT, tf.mul(w, 1)) as tf.Scalar,
        [w],
      );
      tf.dispose([value, grads]);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 50; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([w, yT]);
  });
});
