import * as tf from '@tensorflow/tfjs-core';
import { tensorList } from '@usam/measures';
import { describe, expect, it } from 'vitest';
import { regularised } from './composite';
import { problemFactory } from './test-helpers';

problemFactory(); // the cpu backend

const FLOAT32_MAX = 3.4028234663852886e38;

/** ∇L, the ∇L_j, and the weights λc_j. */
type Args = [number[], number[][], number[]];

/**
 * g = ∇L + Σ_j w_j(∇L_j − ∇L) as `regularised` forms it from gradients given
 * directly (as flat 1-D tensors), read back; every tensor made is disposed.
 */
function composite(gradient: number[], perturbed: number[][], weights: number[]) {
  const before = tf.memory().numTensors;
  const evaluation = (g: number[]) => ({ loss: tf.scalar(0), gradient: [tf.tensor1d(g)] });
  const clean = evaluation(gradient);
  const evaluations = perturbed.map(evaluation);
  const owned: tf.Tensor[] = [];
  const { terms, clipped } = regularised(1, clean, evaluations, weights, owned);
  const g = tensorList.linearCombination(terms, clean.gradient);
  const values = Array.from(tensorList.readSync(g));
  tensorList.dispose([...g, ...owned]);
  for (const e of [clean, ...evaluations]) tf.dispose([e.loss, ...e.gradient]);
  expect(tf.memory().numTensors).toBe(before);
  return { values, clipped };
}

/**
 * The exact g in float64 from the float32 inputs, ∇L + Σ_j w_j(∇L_j − ∇L), and
 * the largest term |w_j(∇L_j − ∇L)_i| (the scale of float32's roundings).
 */
function exact(gradient: number[], perturbed: number[][], weights: number[]) {
  const g0 = Array.from(Float32Array.from(gradient));
  const deltas = perturbed.map((p) => Array.from(Float32Array.from(p), (x, i) => x - g0[i]!));
  const g = g0.map((x, i) => deltas.reduce((s, d, j) => s + weights[j]! * d[i]!, x));
  const scale = Math.max(...deltas.flatMap((d, j) => d.map((x) => Math.abs(weights[j]! * x))));
  return { g, scale };
}

// A few float32 roundings (ε = 6e-8) of the largest term in forming g: 1e-6 of it.
function expectExact(
  values: number[],
  gradient: number[],
  perturbed: number[][],
  weights: number[],
) {
  const { g, scale } = exact(gradient, perturbed, weights);
  values.forEach((x, i) => {
    expect(Math.abs(x - g[i]!)).toBeLessThanOrEqual(1e-6 * scale);
  });
}

describe('regularised: λr is clipped only where an entry of g would leave float32', () => {
  it('J = 1: λc·max|Δ| = 4e38 past float32, but ∇L cancels it: g = (−1e38, 2e38) exactly, not clipped', () => {
    // Δ = (−1e34, 5e33), w = 4e4: wΔ = (−4e38, 2e38), ∇L = (3e38, 0).
    const args: Args = [[3e38, 0], [[3e38 - 1e34, 5e33]], [4e4]];
    const { values, clipped } = composite(...args);
    expect(clipped).toBe(0);
    expectExact(values, ...args);
    expect(values[0]! / -1e38).toBeCloseTo(1, 2); // what the float32 inputs make of −1e38
  });

  it('J = 2: two terms of 2e38 that cancel in one entry: g = (0, 2e38), not clipped', () => {
    // Δ₁ = (1e34, 1e34), Δ₂ = (1e34, 0), w = (2e4, −2e4).
    const args: Args = [
      [0, 0],
      [
        [1e34, 1e34],
        [1e34, 0],
      ],
      [2e4, -2e4],
    ];
    const { values, clipped } = composite(...args);
    expect(clipped).toBe(0);
    expectExact(values, ...args);
    expect(values[1]! / 2e38).toBeCloseTo(1, 5);
  });

  it('J = 1, large entries of one sign summing past float32 would have: applied per entry, not clipped', () => {
    // Four entries of 1e38 (their sum 4e38 is not finite, every entry is).
    const args: Args = [[0, 0, 0, 0], [[1e34, 1e34, 1e34, 1e34]], [1e4]];
    const { values, clipped } = composite(...args);
    expect(clipped).toBe(0);
    expectExact(values, ...args);
  });

  it('g past float32: λr scaled down along its own direction, g finite, counted', () => {
    // ∇L = (1e38, 0), wΔ = (4e38, 3e38): unclipped g₀ = 5e38.
    const { values, clipped } = composite([1e38, 0], [[1e38 + 1e34, 7.5e33]], [4e4]);
    expect(clipped).toBe(1);
    expect(values.every(Number.isFinite)).toBe(true);
    // λr ∝ Δ = (1e34, 7.5e33), scaled so that max|∇L| + max|λr| = float32's max.
    const g0 = Math.fround(1e38);
    const delta = [Math.fround(1e38 + 1e34) - g0, Math.fround(7.5e33)];
    const r = [values[0]! - g0, values[1]!];
    expect(r[1]! / r[0]! / (delta[1]! / delta[0]!)).toBeCloseTo(1, 5);
    expect(values[0]! / FLOAT32_MAX).toBeGreaterThan(0.9999);
  });

  it('an infinite coefficient: clipped, finite, along its difference', () => {
    const { values, clipped } = composite([0, 0], [[1, -2]], [Number.POSITIVE_INFINITY]);
    expect(clipped).toBe(1);
    expect(values.every(Number.isFinite)).toBe(true);
    expect(values[1]! / values[0]!).toBeCloseTo(-2, 6);
  });

  it('a weight beyond float32 on a tiny difference: its exact, finite product', () => {
    // w = 1e40 cannot be a float32 scalar; wΔ = (1e38, 0) can.
    const args: Args = [[1, 1], [[1 + 1e-2, 1]], [1e40]];
    const { values, clipped } = composite(...args);
    expect(clipped).toBe(0);
    expectExact(values, ...args);
  });
});
