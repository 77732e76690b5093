import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { hutchinsonTrace } from './hutchinson';
import { spectralDensity, spectralSum } from './slq';
import { splitQuadratic, tanhMlp } from './test-problems';
import {
  eigenvaluesOf,
  frobeniusSquared,
  matrixOperator,
  symmetricWithEigenvalues,
  trace,
} from './test-utils';

beforeAll(async () => {
  await initBackend('cpu');
});

const K = 4; // standard errors allowed, as in hutchinson.test.ts
const trapezoid = (x: number[], y: number[]) =>
  y.slice(1).reduce((s, v, i) => s + 0.5 * (v + y[i]!) * (x[i + 1]! - x[i]!), 0);

describe('spectralDensity', () => {
  it('with m = d steps, its nodes are the eigenvalues and its weights sum to 1', async () => {
    const q = splitQuadratic();
    const result = await spectralDensity(q.hvp, { steps: 50, probes: 2, seed: 1 });
    const exact = eigenvaluesOf(q.H).sort((a, b) => a - b);
    for (let p = 0; p < 2; p++) {
      // steps are capped at d = 10; Lanczos is exact then, up to HVP error (≈ 1e-5 of ‖H‖ = 9).
      expect(result.nodes[p]).toHaveLength(10);
      result.nodes[p]!.forEach((node, j) => {
        expect(Math.abs(node - exact[j]!)).toBeLessThan(1e-3);
      });
      expect(Math.abs(result.weights[p]!.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-12);
    }
  });

  it('reproduces tr H = d·Σ w·θ: per probe equal to Hutchinson with the same probes, within 4 SE overall', async () => {
    const q = splitQuadratic();
    const slq = await spectralDensity(q.hvp, { steps: 10, probes: 40, seed: 2 });
    const hutchinson = await hutchinsonTrace(q.hvp, { probes: 40, seed: 2 });
    // A normalised Rademacher v has ‖v‖² = d, so d·Σ_j w_j θ_j = d·α₁ = vᵀHv.
    slq.probes.forEach((value, p) => {
      expect(Math.abs(value - hutchinson.probes[p]!)).toBeLessThan(1e-3);
    });
    expect(Math.abs(slq.estimate - trace(q.H))).toBeLessThan(K * slq.standardError);
    // tr H² from the same quadrature (exact for degree < 2m per probe).
    const f2 = spectralSum(slq, (t) => t * t);
    expect(Math.abs(f2.estimate - frobeniusSquared(q.H))).toBeLessThan(K * f2.standardError);
    expect(spectralSum(slq, () => 1).estimate).toBeCloseTo(10, 10);
  });

  it('gives a density that integrates to 1 and puts the right mass on each cluster (m < d)', async () => {
    // 150 eigenvalues near 1 and 50 near 10 (d = 200), 20 Lanczos steps.
    const spectrum = Array.from({ length: 200 }, (_, i) =>
      i < 150 ? 1 + i * 1e-3 : 10 + i * 1e-3,
    );
    const op = matrixOperator(symmetricWithEigenvalues(spectrum, 'clusters'));
    const result = await spectralDensity(op, { steps: 20, probes: 8, seed: 3 });
    expect(Math.abs(trapezoid(result.grid, result.values) - 1)).toBeLessThan(1e-3);
    const low = result.grid.map((t, i) => (t < 5 ? result.values[i]! : 0));
    // Each probe's weight on a cluster is (its share of v)², mean 0.75, sd ≈ 0.03/√8.
    expect(Math.abs(trapezoid(result.grid, low) - 0.75)).toBeLessThan(0.05);
    expect(result.grid[0]).toBeLessThan(1);
    expect(result.grid.at(-1)).toBeGreaterThan(10.2);
  });

  it('keeps going past a dominant eigenvalue: λ = 1000 over a bulk on [−1, 1] gets the bulk mass split right', async () => {
    // Diagonal H, d = 201: 140 eigenvalues in [−1, −0.01], 60 in [0.01, 1], one 1000.
    // For a normalised Rademacher probe every eigenvalue carries mass exactly
    // 1/d, so the true split is 140/201 | 60/201 | 1/201. The quadrature's CDF
    // differs from the true one by at most one node's weight between nodes
    // (Chebyshev–Markov–Stieltjes), ≈ 1/50 for 60 steps: 0.04 allows 2 nodes.
    // With the old threshold (β < 1e-3·max|α|) Lanczos stopped after 5 steps.
    const bulk = [
      ...Array.from({ length: 140 }, (_, i) => -1 + (0.99 * i) / 139),
      ...Array.from({ length: 60 }, (_, i) => 0.01 + (0.99 * i) / 59),
    ];
    const spectrum = [1000, ...bulk];
    const H = spectrum.map((e, i) => spectrum.map((_, j) => (i === j ? e : 0)));
    const result = await spectralDensity(matrixOperator(H), { steps: 60, probes: 2, seed: 5 });
    for (let p = 0; p < 2; p++) {
      const nodes = result.nodes[p]!;
      const weights = result.weights[p]!;
      expect(nodes).toHaveLength(60);
      const mass = (keep: (t: number) => boolean) =>
        nodes.reduce((s, t, j) => s + (keep(t) ? weights[j]! : 0), 0);
      expect(Math.abs(mass((t) => t < 0) - 140 / 201)).toBeLessThan(0.04);
      expect(Math.abs(mass((t) => t >= 0 && t < 500) - 60 / 201)).toBeLessThan(0.04);
      // The top eigenvalue is a node of its own with weight 1/d (exact: it is isolated).
      expect(Math.abs(Math.max(...nodes) - 1000)).toBeLessThan(1e-2);
      expect(Math.abs(mass((t) => t > 500) - 1 / 201)).toBeLessThan(1e-4);
    }
    // The old threshold, now an option, reproduces the collapse.
    const early = await spectralDensity(matrixOperator(H), { steps: 60, seed: 5, breakdown: 1e-3 });
    expect(early.nodes[0]!.length).toBeLessThan(10);
  });

  it('accumulates a tiny MLP Hessian: trace within 4 SE, extreme nodes at the extreme eigenvalues', async () => {
    const mlp = tanhMlp();
    const result = await spectralDensity(mlp.hvp, { steps: 26, probes: 10, seed: 4 });
    expect(Math.abs(result.estimate - trace(mlp.H))).toBeLessThan(K * result.standardError);
    const exact = eigenvaluesOf(mlp.H);
    expect(Math.abs(Math.max(...result.nodes[0]!) - exact[0]!)).toBeLessThan(1e-2 * exact[0]!);
  });

  it('is deterministic, leaks no tensors, and rejects bad options', async () => {
    const op = matrixOperator(splitQuadratic().H);
    const first = await spectralDensity(op, { steps: 6, probes: 2, seed: 'a' });
    const start = tf.memory().numTensors;
    for (let i = 0; i < 3; i++)
      expect(await spectralDensity(op, { steps: 6, probes: 2, seed: 'a' })).toEqual(first);
    expect(tf.memory().numTensors).toBe(start);
    expect(Number.isNaN((await spectralDensity(op, { steps: 4 })).standardError)).toBe(true);
    await expect(spectralDensity(op, { probes: 0 })).rejects.toThrow(
      /probes must be an integer ≥ 1/,
    );
    await expect(spectralDensity(op, { steps: 0 })).rejects.toThrow(/steps must be an integer ≥ 1/);
    await expect(spectralDensity(op, { sigma: 1e-4 })).rejects.toThrow(
      /grid spacing .* exceeds σ = 1\.00e-4.*pass gridSize: \d+ or more, or a larger sigma/,
    );
  });

  it('stops at an invariant subspace (H = 2I: one node, weight 1)', async () => {
    const op = matrixOperator(
      Array.from({ length: 5 }, (_, i) => Array.from({ length: 5 }, (_, j) => (i === j ? 2 : 0))),
    );
    const result = await spectralDensity(op, { steps: 5 });
    expect(result.nodes[0]).toHaveLength(1);
    expect(result.nodes[0]![0]).toBeCloseTo(2, 5);
    expect(result.weights[0]![0]).toBeCloseTo(1, 10);
    expect(op.calls).toBe(1);
  });
});
