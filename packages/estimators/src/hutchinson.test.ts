import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { frobeniusNormSquared, hutchinsonTrace } from './hutchinson';
import { splitQuadratic, tanhMlp } from './test-problems';
import { frobeniusSquared, matrixOperator, trace } from './test-utils';

beforeAll(async () => {
  await initBackend('cpu');
});

// "Within k standard errors" uses k = 4: for a fixed seed the check is
// deterministic, and a correct estimator fails it with probability ≈ 6e-5.
const K = 4;
const sumSquares = (xs: readonly number[]) => xs.reduce((s, x) => s + x * x, 0);
const diagonalSquares = (H: number[][]) => sumSquares(H.map((row, i) => row[i]!));
const power4 = (H: number[][]) => {
  const H2 = H.map((row) => H.map((_, j) => row.reduce((s, h, k) => s + h * H[k]![j]!, 0)));
  return frobeniusSquared(H2);
};

describe('hutchinsonTrace', () => {
  it('estimates tr H of a split quadratic within 4 standard errors, with the right standard error', async () => {
    const q = splitQuadratic();
    const exact = trace(q.H);
    const n = 200;
    for (const distribution of ['rademacher', 'gaussian'] as const) {
      const result = await hutchinsonTrace(q.hvp, { probes: n, seed: 1, distribution });
      expect(result.probes).toHaveLength(n);
      expect(Math.abs(result.estimate - exact)).toBeLessThan(K * result.standardError);
      // Per-probe variance: 2(‖H‖_F² − Σ H_ii²) (Rademacher), 2‖H‖_F² (Gaussian).
      const variance =
        distribution === 'rademacher'
          ? 2 * (frobeniusSquared(q.H) - diagonalSquares(q.H))
          : 2 * frobeniusSquared(q.H);
      const ratio = result.standardError / Math.sqrt(variance / n);
      expect(ratio).toBeGreaterThan(0.7);
      expect(ratio).toBeLessThan(1.3);
    }
  });

  it('estimates the trace of a tiny MLP Hessian (two batches) within 4 standard errors', async () => {
    const mlp = tanhMlp();
    const result = await hutchinsonTrace(mlp.hvp, { probes: 100, seed: 2 });
    expect(Math.abs(result.estimate - trace(mlp.H))).toBeLessThan(K * result.standardError);
    // Exact HVPs (the default): one double-backward pass per batch.
    expect(mlp.hvp.gradientEvaluations).toBe(100 * 2);
  });

  it('is deterministic for a seed and differs across seeds', async () => {
    const q = splitQuadratic();
    const a = await hutchinsonTrace(q.hvp, { probes: 10, seed: 'x' });
    const b = await hutchinsonTrace(q.hvp, { probes: 10, seed: 'x' });
    const c = await hutchinsonTrace(q.hvp, { probes: 10, seed: 'y' });
    expect(b).toEqual(a);
    expect(c.probes).not.toEqual(a.probes);
  });

  it('draws the same probes in parts (createHvp) as flat (any operator), and leaks no tensors', async () => {
    const q = splitQuadratic(); // parameters [2, 3] and [4]: probes go in parts to applyToParts
    const flat = matrixOperator(q.H);
    for (const estimator of [hutchinsonTrace, frobeniusNormSquared]) {
      const inParts = await estimator(q.hvp, { probes: 6, seed: 3 });
      const whole = await estimator(flat, { probes: 6, seed: 3 });
      // The same v: the values differ by float32 rounding of Hv and of the sums only.
      inParts.probes.forEach((p, i) => {
        expect(Math.abs(p - whole.probes[i]!)).toBeLessThan(1e-5 * Math.abs(whole.probes[i]!));
      });
      const start = tf.memory().numTensors;
      for (let i = 0; i < 5; i++) await estimator(q.hvp, { probes: 4, seed: i });
      expect(tf.memory().numTensors).toBe(start);
    }
  });

  it('rejects fewer than 2 probes and a missing operator', async () => {
    const q = splitQuadratic();
    await expect(hutchinsonTrace(q.hvp, { probes: 1 })).rejects.toThrow(
      /probes must be an integer ≥ 2 \(a standard error needs two probes\), got 1; pass probes: 2 or more/,
    );
    await expect(hutchinsonTrace(q.hvp, { probes: 2.5 })).rejects.toThrow(
      /probes must be an integer/,
    );
    await expect(hutchinsonTrace(undefined as never)).rejects.toThrow(
      /H must be a Hessian operator.*got undefined/,
    );
  });
});

describe('frobeniusNormSquared', () => {
  it('estimates ‖H‖_F² of a split quadratic within 4 standard errors, with the right standard error', async () => {
    const q = splitQuadratic();
    const n = 200;
    const result = await frobeniusNormSquared(q.hvp, { probes: n, seed: 3 });
    expect(Math.abs(result.estimate - frobeniusSquared(q.H))).toBeLessThan(
      K * result.standardError,
    );
    // Per-probe variance of ‖Hz‖² = zᵀH²z: 2 tr(H⁴).
    const ratio = result.standardError / Math.sqrt((2 * power4(q.H)) / n);
    expect(ratio).toBeGreaterThan(0.6);
    expect(ratio).toBeLessThan(1.4);
  });

  it('estimates ‖H‖_F² of a tiny MLP Hessian within 4 standard errors', async () => {
    const mlp = tanhMlp();
    const result = await frobeniusNormSquared(mlp.hvp, { probes: 100, seed: 4 });
    expect(Math.abs(result.estimate - frobeniusSquared(mlp.H))).toBeLessThan(
      K * result.standardError,
    );
  });

  it('works on any operator, is deterministic and leaks no tensors', async () => {
    const H = splitQuadratic().H;
    const op = matrixOperator(H);
    const first = await frobeniusNormSquared(op, { probes: 5, seed: 9 });
    const start = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      expect(await frobeniusNormSquared(op, { probes: 5, seed: 9 })).toEqual(first);
      await hutchinsonTrace(op, { probes: 5, seed: 9 });
    }
    expect(tf.memory().numTensors).toBe(start);
    expect(op.calls).toBe(5 + 5 * 10);
  });
});
