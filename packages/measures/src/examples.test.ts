import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { determinant, frobenius, trace } from './catalogue';
import { exact } from './exact';
import { symmetricEigenvalues } from './linalg';
import { explicitHvp, monteCarlo } from './monte-carlo';
import { type PerturbedLoss, zerothOrder } from './zeroth-order';

/** The paper's Examples 1 and 2 (docs/measures.md), with k = 5 standard errors as elsewhere. */
const K = 5;

beforeAll(async () => {
  await initBackend('cpu');
});

type Loss = (x: readonly number[]) => number;

/** ∂²L/∂x_i∂x_j by central differences in doubles (h = 1e-4: truncation and round-off ~1e-8). */
function numericHessian(L: Loss, x: readonly number[], h = 1e-4): number[][] {
  const at = (i: number, a: number, j: number, b: number) =>
    L(x.map((xk, k) => xk + (k === i ? a : 0) + (k === j ? b : 0)));
  return x.map((_, i) =>
    x.map(
      (_, j) =>
        (at(i, h, j, h) - at(i, h, j, -h) - at(i, -h, j, h) + at(i, -h, j, -h)) / (4 * h * h),
    ),
  );
}

/** L(x + δ) evaluated in doubles from the float32 δ, as a `PerturbedLoss`. */
const lossAt =
  (L: Loss, x: readonly number[]): PerturbedLoss =>
  async (delta) => {
    if (!delta) return L(x);
    const d = Array.from(await delta[0]!.data());
    return L(x.map((xi, i) => xi + d[i]!));
  };

describe('Example 1: L = ½(x₁² − x₂²)', () => {
  const L: Loss = ([x1, x2]) => 0.5 * (x1! ** 2 - x2! ** 2);
  const H = [
    [1, 0],
    [0, -1],
  ];

  it('has H = diag(1, −1) everywhere: tr H = 0, ‖H‖_F² = 2, det H = −1', () => {
    for (const x of [
      [0, 0],
      [0.3, -2],
      [5, 1],
    ]) {
      numericHessian(L, x).forEach((row, i) => {
        row.forEach((hij, j) => {
          expect(hij).toBeCloseTo(H[i]![j]!, 6);
        });
      });
    }
    expect(exact(trace('sphere'), H)).toBe(0);
    expect(exact(trace('gaussian'), H)).toBe(0);
    expect(exact(frobenius(), H)).toBeCloseTo(2, 14);
    // The closed form is det H = Π λ_i for any H; the Lebesgue integral behind the
    // measure diverges for this indefinite H, so exact() asks before returning it.
    expect(determinant(2).closedForm!(symmetricEigenvalues(H))).toBeCloseTo(-1, 14);
    expect(exact(determinant(2), H, { allowDivergent: true })).toBeCloseTo(-1, 14);
    expect(() => exact(determinant(2), H)).toThrow(
      /not positive definite \(eigenvalue λ = -1 ≤ 0 up to round-off\)/,
    );
  });

  it('trace 0 and ‖H‖_F² = 2 by Monte Carlo and by zeroth order from a tfjs loss', async () => {
    // At the saddle x = 0 the loss is exactly quadratic with no gradient term, so
    // (L(ρv) − L(0))/ρ² = ½vᵀHv up to float32 rounding.
    const x = tf.tensor1d([0, 0]);
    const tfLoss: PerturbedLoss = async (delta) => {
      const value = tf.tidy(() => {
        const p = delta ? tf.add(x, delta[0]!) : x;
        return tf.sum(
          tf.mul(0.5, tf.sub(tf.square(tf.slice(p, 0, 1)), tf.square(tf.slice(p, 1, 1)))),
        );
      });
      const out = (await value.data())[0]!;
      value.dispose();
      return out;
    };
    const options = { shapes: [[2]], samples: 2000, seed: 1 };
    for (const m of [trace('sphere'), trace('gaussian')]) {
      const mc = await monteCarlo(m, explicitHvp(H), options);
      const zo = await zerothOrder(m, tfLoss, { ...options, rho: 0.1 });
      expect(Math.abs(mc.value)).toBeLessThan(K * mc.standardError);
      expect(Math.abs(zo.value)).toBeLessThan(K * zo.standardError);
    }
    const mc = await monteCarlo(frobenius(), explicitHvp(H), options);
    const zo = await zerothOrder(frobenius(), tfLoss, { ...options, rho: 0.1 });
    expect(Math.abs(mc.value - 2)).toBeLessThan(K * mc.standardError);
    expect(Math.abs(zo.value - 2)).toBeLessThan(K * zo.standardError);
    x.dispose();
  });
});

describe('Example 2: L = x₁²x₂² − 2x₁x₂ + 1, scale invariance (Theorem 4)', () => {
  const L: Loss = ([x1, x2]) => x1! ** 2 * x2! ** 2 - 2 * x1! * x2! + 1;
  /** The paper's ∇²L, in closed form. */
  const hessian = ([x1, x2]: readonly number[]) => [
    [2 * x2! ** 2, 4 * x1! * x2! - 2],
    [4 * x1! * x2! - 2, 2 * x1! ** 2],
  ];
  const ks = [0.5, 1, 2, 4];

  it('has the stated Hessian', () => {
    for (const x of [
      [1, 1],
      [2, 0.5],
      [0.3, -1.2],
    ]) {
      const numeric = numericHessian(L, x);
      hessian(x).forEach((row, i) => {
        row.forEach((hij, j) => {
          expect(numeric[i]![j]).toBeCloseTo(hij, 5);
        });
      });
    }
  });

  it('on the zero-loss manifold (k, 1/k): det H = 0 for every k, tr H = 2(k² + 1/k²) is not', () => {
    for (const k of ks) {
      const H = hessian([k, 1 / k]);
      const tr = 2 * (k * k + 1 / (k * k));
      // det = 0 up to the eigensolver's round-off, ~1e-16·‖H‖².
      expect(Math.abs(exact(determinant(2), H, { allowDivergent: true }))).toBeLessThan(
        1e-12 * tr * tr,
      );
      expect(exact(trace('gaussian'), H)).toBeCloseTo(tr / 2, 10);
      // det = 0 means H is singular: the Lebesgue integral diverges.
      expect(() => exact(determinant(2), H)).toThrow(/not positive definite/);
    }
  });

  it('off the manifold, det H = 1.28 at every (k, 0.6/k), by closed form and by Monte Carlo; the trace moves', async () => {
    // x₁x₂ = 0.6 fixes det H = 4c² − (4c − 2)² = 1.28 with H ≻ 0.
    const traces: { value: number; se: number }[] = [];
    for (const k of [1, 2]) {
      const H = hessian([k, 0.6 / k]);
      expect(exact(determinant(2), H)).toBeCloseTo(1.28, 12);
      // Lebesgue proposal N(0, s²I) with s²λ_min = 0.8: finite variance needs s²λ_min > ½.
      const [lambdaMin] = symmetricEigenvalues(H);
      const scale = Math.sqrt(0.8 / lambdaMin!);
      const det = await monteCarlo(determinant(2, { scale }), explicitHvp(H), {
        shapes: [[2]],
        samples: 8000,
        seed: k,
      });
      expect(K * det.standardError).toBeLessThan(0.5 * 1.28);
      expect(Math.abs(det.value - 1.28)).toBeLessThan(K * det.standardError);
      const tr = await monteCarlo(trace('sphere'), explicitHvp(H), {
        shapes: [[2]],
        samples: 2000,
        seed: k,
      });
      expect(Math.abs(tr.value - exact(trace('sphere'), H))).toBeLessThan(K * tr.standardError);
      traces.push({ value: tr.value, se: tr.standardError });
    }
    const [a, b] = traces as [(typeof traces)[0], (typeof traces)[0]];
    expect(Math.abs(a.value - b.value)).toBeGreaterThan(K * Math.hypot(a.se, b.se));
  });

  it('zeroth order tends to S as ρ → 0 at a minimum of this non-quadratic loss', async () => {
    // Same seed ⇒ same v in both evaluators, so R_ρ − S_MC is the Taylor remainder,
    // O(ρ) here (the cubic term); it must shrink about tenfold with ρ.
    const x = [2, 0.5];
    const H = hessian(x);
    const options = { shapes: [[2]], samples: 500, seed: 4 };
    const mc = await monteCarlo(trace('gaussian'), explicitHvp(H), options);
    const gap = async (rho: number) =>
      Math.abs(
        (await zerothOrder(trace('gaussian'), lossAt(L, x), { ...options, rho })).value - mc.value,
      );
    const coarse = await gap(0.1);
    const fine = await gap(0.01);
    expect(coarse).toBeGreaterThan(0);
    expect(fine).toBeLessThan(coarse / 4);
    expect(fine / mc.value).toBeLessThan(0.02);
  });
});
