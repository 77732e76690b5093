import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { topEigenvalues } from './power-iteration';
import { splitQuadratic, tanhMlp } from './test-problems';
import { eigenvaluesOf, matrixOperator } from './test-utils';

beforeAll(async () => {
  await initBackend('cpu');
});

// Largest in magnitude: 10, −6, 3 (ratios 0.6 and 0.5 keep convergence quick).
const SPECTRUM = [10, -6, 3, 1.5, 1, 0.8, 0.5, 0.3, -0.2, 0.1];

describe('topEigenvalues', () => {
  it('finds the 3 eigenvalues largest in magnitude of a split quadratic to 1e-2 relative', async () => {
    const q = splitQuadratic(SPECTRUM, 'p');
    const result = await topEigenvalues(q.hvp, { k: 3, seed: 1 });
    expect(result.converged).toEqual([true, true, true]);
    [10, -6, 3].forEach((want, i) => {
      expect(Math.abs(result.eigenvalues[i]! / want - 1)).toBeLessThan(1e-2);
    });
    expect(result.estimate).toBe(result.eigenvalues[0]);
    expect(result.probes).toHaveLength(result.iterations[0]!);
    expect(result.probes.at(-1)).toBe(result.estimate);
    expect(q.hvp.products).toBe(result.iterations.reduce((a, b) => a + b, 0));
  });

  it('reports a residual that bounds the distance to the nearest eigenvalue', async () => {
    const q = splitQuadratic(SPECTRUM, 'p');
    const result = await topEigenvalues(q.hvp, { k: 2, seed: 2, maxIterations: 4 });
    // Few iterations: not converged, yet |λ − λ_true| ≤ ‖Hv − λv‖ (plus HVP error).
    expect(result.converged[0]).toBe(false);
    result.eigenvalues.forEach((lambda, i) => {
      const nearest = Math.min(...SPECTRUM.map((e) => Math.abs(e - lambda)));
      expect(nearest).toBeLessThanOrEqual(result.residualNorms[i]! + 1e-3);
    });
    expect(result.standardError).toBe(result.residualNorms[0]);
  });

  it('finds the top eigenvalue of a tiny MLP Hessian to 1e-2 relative', async () => {
    const mlp = tanhMlp();
    const want = eigenvaluesOf(mlp.H).reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a));
    const result = await topEigenvalues(mlp.hvp, { seed: 3 });
    expect(result.converged[0]).toBe(true);
    expect(Math.abs(result.estimate / want - 1)).toBeLessThan(1e-2);
  });

  it('is deterministic, leaks no tensors, and rejects bad options', async () => {
    const op = matrixOperator(splitQuadratic(SPECTRUM, 'p').H);
    const first = await topEigenvalues(op, { k: 2, seed: 'a' });
    const start = tf.memory().numTensors;
    for (let i = 0; i < 3; i++)
      expect(await topEigenvalues(op, { k: 2, seed: 'a' })).toEqual(first);
    expect(tf.memory().numTensors).toBe(start);
    await expect(topEigenvalues(op, { k: 11 })).rejects.toThrow(
      /k = 11 exceeds the dimension d = 10/,
    );
    await expect(topEigenvalues(op, { k: 0 })).rejects.toThrow(/k must be an integer ≥ 1/);
    await expect(topEigenvalues(op, { tolerance: 0 })).rejects.toThrow(
      /tolerance must be a finite number > 0/,
    );
    await expect(topEigenvalues(op, { maxIterations: 0 })).rejects.toThrow(/maxIterations must be/);
  });

  it('does not report convergence while the residual is large (eigenvalues +1 and −1)', async () => {
    // v = a·e₁ + b·e₂ flips to a·e₁ − b·e₂: the Rayleigh quotient a² − b²
    // stands still, so the quotient test alone says "converged" at a wrong value.
    const op = matrixOperator([
      [1, 0, 0],
      [0, -1, 0],
      [0, 0, 0.1],
    ]);
    const result = await topEigenvalues(op, { seed: 4, maxIterations: 30 });
    expect(result.converged).toEqual([false]);
    expect(result.iterations).toEqual([30]);
    // The residual says how far off the estimate may be: it covers the truth.
    expect(result.residualNorms[0]).toBeGreaterThan(0.1);
    expect(Math.abs(Math.abs(result.estimate) - 1)).toBeLessThanOrEqual(result.residualNorms[0]!);
  });

  it('handles H = 0 (eigenvalue 0, no division by zero)', async () => {
    const op = matrixOperator(Array.from({ length: 4 }, () => [0, 0, 0, 0]));
    const result = await topEigenvalues(op, { k: 2 });
    expect(result.eigenvalues).toEqual([0, 0]);
    expect(result.converged).toEqual([true, true]);
  });
});
