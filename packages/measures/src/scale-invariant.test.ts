import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { dampedDeterminant, determinant, frobenius, trace } from './catalogue';
import { divergenceOf, exact } from './exact';
import { phi, psi } from './functions';
import { explicitHvp, monteCarlo } from './monte-carlo';
import { integrateProductDensity } from './quadrature';
import { productDensity, productOf, scaleInvariant } from './scale-invariant';
import { linspace, normals, withSpectrum } from './test-helpers';
import type { Measure } from './types';
import { type PerturbedLoss, zerothOrder } from './zeroth-order';

/**
 * Theorem 1 of "On Scale-Invariant Sharpness Measures" as tests: for μ_f =
 * f(v₁⋯v_d)dv, S(D⁻¹HD⁻¹) = S(H) for diagonal D with det D = 1, while the
 * trace and ‖H‖_F² change; and the zeroth-order R_ρ of a loss with
 * L(Dx) = L(x) is the same at x and Dx.
 */

/** k = 5 standard errors, as in the other sampling tests (two-sided tail 6e-7 each). */
const K = 5;

beforeAll(async () => {
  await initBackend('cpu');
});

/** A random diagonal D with det D = 1: entries e^{a_i} with Σa_i = 0 and max |a_i| = 1. */
function unitDeterminantDiagonal(d: number, seed: number): number[] {
  const z = normals(d, `D:${seed}`);
  const mean = z.reduce((s, x) => s + x, 0) / d;
  const a = z.map((x) => x - mean);
  const largest = Math.max(...a.map(Math.abs));
  return a.map((x) => Math.exp(x / largest));
}

/** D⁻¹HD⁻¹, the Hessian at Dx of a loss with L(Dx) = L(x). */
const rescale = (H: readonly (readonly number[])[], D: readonly number[]) =>
  H.map((row, i) => row.map((x, j) => x / (D[i]! * D[j]!)));

const relative = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));

/** Members of the family with different f, ψ and φ. */
const members: Record<string, (d: number) => Measure> = {
  'damped determinant, f = exp(−p²)': (d) => dampedDeterminant(d),
  'damped determinant, f = exp(−0.3p²)': (d) => dampedDeterminant(d, { strength: 0.3 }),
  'log damped determinant': (d) => dampedDeterminant(d, { logarithm: true }),
  'f = (1 + p²)e^{−p²}, ψ = exp(−t), φ = log t': () =>
    scaleInvariant({
      name: 'bump-log',
      density: (p) => (1 + p * p) * Math.exp(-p * p),
      psi: psi.exp(-1),
      phi: { name: 'log t', value: ([t]) => Math.log(t!), gradient: ([t]) => [1 / t!] },
    }),
  'f = exp(−p²), ψ = (exp(−t), exp(−2t)), φ = t₁/t₂': () =>
    scaleInvariant({
      name: 'ratio',
      density: { name: 'exp(−p²)', value: (p) => Math.exp(-p * p), log: (p) => -p * p },
      psi: [psi.exp(-1), psi.exp(-2)],
      phi: {
        name: 't₁/t₂',
        value: ([a, b]) => a! / b!,
        gradient: ([a, b]) => [1 / b!, -a! / (b! * b!)],
      },
    }),
};

describe('the quadrature behind exact() (d ≤ 3) against closed forms', () => {
  it('f ≡ 1 gives the determinant: (2π)^d/(∫e^{−½vᵀHv}dv)² = det H to 1e-10', () => {
    for (const d of [1, 2, 3]) {
      const H = withSpectrum(linspace(0.4, 2.5, d), d);
      const lebesgueMember = scaleInvariant({
        name: 'f ≡ 1',
        density: () => 1,
        psi: psi.exp(-1),
        phi: phi.inverseSquare(d * Math.log(2 * Math.PI)),
      });
      // The quadrature's error estimate is ~1e-11; 1e-10 leaves room for its round-off.
      expect(relative(exact(lebesgueMember, H), exact(determinant(d), H))).toBeLessThan(1e-10);
    }
  });

  it('the logarithm option is log S', () => {
    const H = withSpectrum([0.6, 1.7], 2);
    const S = exact(dampedDeterminant(2), H);
    expect(exact(dampedDeterminant(2, { logarithm: true }), H)).toBeCloseTo(Math.log(S), 9);
    expect(() => dampedDeterminant(2, { logarithm: 1 as never })).toThrow(
      /logarithm must be true or false, got 1/,
    );
  });

  it('d = 1: the damped determinant is H + 2c (∫e^{−½Hv² − cv²}dv = √(2π/(H + 2c)))', () => {
    for (const [h, c] of [
      [1.5, 1],
      [-0.5, 1],
      [0.2, 0.05],
    ] as const) {
      expect(exact(dampedDeterminant(1, { strength: c }), [[h]])).toBeCloseTo(h + 2 * c, 10);
    }
    expect(() => exact(dampedDeterminant(1), [[-2.5]])).toThrow(/H \+ 2c = -0.5 ≤ 0 in d = 1/);
  });

  it('d = 2: the damped determinant matches the integral reduced to one dimension', () => {
    // ∫e^{−Av₁² − Bv₁}dv₁ = √(π/A)·e^{B²/(4A)} with A = H₁₁/2 + c v₂², B = H₁₂v₂, leaving
    // ∫√(π/A)·exp(B²/(4A) − H₂₂v₂²/2)dv₂, an analytic integrand with Gaussian tails: the
    // trapezoid rule with step 1e-3 on [−40, 40] is exact to round-off (~1e-13) here.
    const c = 0.7;
    for (const H of [
      withSpectrum([0.5, 2], 7),
      [
        [1, 2],
        [2, 1],
      ], // indefinite (det = −3): the determinant diverges, this member does not
      [
        [2 / 9, 2],
        [2, 18],
      ], // singular: Example 2's Hessian on the zero-loss manifold at k = 3
    ]) {
      const [[a, b], [, e]] = H as [[number, number], [number, number]];
      let integral = 0;
      const step = 1e-3;
      for (let v2 = -40; v2 <= 40; v2 += step) {
        const A = a / 2 + c * v2 * v2;
        integral += Math.sqrt(Math.PI / A) * Math.exp((b * v2) ** 2 / (4 * A) - (e * v2 * v2) / 2);
      }
      integral *= step;
      const expected = (2 * Math.PI) ** 2 / integral ** 2;
      expect(relative(exact(dampedDeterminant(2, { strength: c }), H), expected)).toBeLessThan(
        1e-9,
      );
    }
  });
});

describe('Theorem 1 on Hessians: S(D⁻¹HD⁻¹) = S(H) for diagonal D, det D = 1', () => {
  for (const [name, member] of Object.entries(members)) {
    it(`${name}: exact (quadrature) to 1e-9, d = 2, 3, while tr H and ‖H‖_F² move`, () => {
      for (const d of [2, 3]) {
        for (const seed of [1, 2]) {
          const H = withSpectrum(linspace(0.5, 2.5, d), 10 * d + seed);
          const D = unitDeterminantDiagonal(d, 10 * d + seed);
          expect(D.reduce((p, x) => p * x, 1)).toBeCloseTo(1, 12);
          const moved = rescale(H, D);
          const m = member(d);
          // Both quadratures are good to ~1e-11 (their own estimate); 1e-9 is far below
          // any real change (the trace moves by > 10% for these D).
          expect(relative(exact(m, moved), exact(m, H))).toBeLessThan(1e-9);
          expect(
            relative(exact(trace('gaussian'), moved), exact(trace('gaussian'), H)),
          ).toBeGreaterThan(0.1);
          expect(relative(exact(frobenius(), moved), exact(frobenius(), H))).toBeGreaterThan(0.1);
        }
      }
    });
  }

  it('a D with det D ≠ 1 changes the damped determinant: the condition is needed', () => {
    const H = withSpectrum([0.7, 1.6], 3);
    const m = dampedDeterminant(2);
    const moved = rescale(H, [2, 1]); // det D = 2
    expect(relative(exact(m, moved), exact(m, H))).toBeGreaterThan(0.1);
  });

  it('Monte Carlo: the same draws mapped by D give the same estimate; independent draws agree within the standard error', async () => {
    const d = 3;
    const H = withSpectrum(linspace(0.8, 1.25, d), 5);
    const D = unitDeterminantDiagonal(d, 5);
    const moved = rescale(H, D);
    const samples = 4000;
    const truth = exact(dampedDeterminant(d), H);
    // Proposal N(0, I) at H and N(0, D²) at D⁻¹HD⁻¹: the same seed draws Dv, whose weight
    // f(∏Dv)/q_D(Dv) = f(∏v)/q(v) since det D = 1; only float32 rounding differs (~1e-6).
    const atH = await monteCarlo(dampedDeterminant(d), explicitHvp(H), {
      shapes: [[d]],
      samples,
      seed: 3,
    });
    const mapped = await monteCarlo(dampedDeterminant(d, { scale: D }), explicitHvp(moved), {
      shapes: [[d]],
      samples,
      seed: 3,
    });
    expect(Math.abs(mapped.value - atH.value)).toBeLessThan(0.01 * atH.standardError);
    expect(Math.abs(atH.value - truth)).toBeLessThan(K * atH.standardError);
    // Independent draws (another seed) at D⁻¹HD⁻¹ agree with those at H within the
    // standard errors, and with the quadrature's S(H) (finite variance: every principal
    // 2×2 block of H − I/2 is positive definite for this spectrum).
    const options = { shapes: [[d]], samples, seed: 11 };
    const b = await monteCarlo(dampedDeterminant(d, { scale: D }), explicitHvp(moved), options);
    expect(K * b.standardError).toBeLessThan(0.25 * truth);
    expect(Math.abs(atH.value - b.value)).toBeLessThan(
      K * Math.hypot(atH.standardError, b.standardError),
    );
    expect(Math.abs(b.value - truth)).toBeLessThan(K * b.standardError);
    // The trace by Monte Carlo moves by many standard errors under the same D.
    const t1 = await monteCarlo(trace('gaussian'), explicitHvp(H), options);
    const t2 = await monteCarlo(trace('gaussian'), explicitHvp(moved), options);
    expect(Math.abs(t1.value - t2.value)).toBeGreaterThan(
      K * Math.hypot(t1.standardError, t2.standardError),
    );
  });
});

/** L(x + δ) in doubles from the float32 δ, as a `PerturbedLoss`. */
const lossAt =
  (L: (x: readonly number[]) => number, x: readonly number[]): PerturbedLoss =>
  async (delta) => {
    if (!delta) return L(x);
    const parts = await Promise.all(delta.map((t) => t.data()));
    const dx = parts.flatMap((p) => Array.from(p));
    return L(x.map((xi, i) => xi + dx[i]!));
  };

describe('zeroth order on scale-invariant losses: R_ρ at x equals R_ρ at Dx', () => {
  // Example 2: L(x₁, x₂) = x₁²x₂² − 2x₁x₂ + 1 = (x₁x₂ − 1)², L(kx₁, x₂/k) = L(x).
  const L = ([a, b]: readonly number[]) => (a! * b! - 1) ** 2;

  it('Example 2 on its zero-loss manifold, where det H = 0 but the damped determinant is finite', async () => {
    const rho = 0.05;
    const samples = 4000;
    const x = [1, 1];
    const S = exact(dampedDeterminant(2), [
      [2, 2],
      [2, 2],
    ]);
    expect(() =>
      exact(determinant(2), [
        [2, 2],
        [2, 2],
      ]),
    ).toThrow(/not positive definite/);
    for (const k of [0.5, 3]) {
      const Dx = [k * x[0]!, x[1]! / k];
      // The Hessian at Dx is D⁻¹HD⁻¹ with D = diag(k, 1/k): same S by quadrature.
      expect(
        relative(
          exact(dampedDeterminant(2), [
            [2 / k ** 2, 2],
            [2, 2 * k ** 2],
          ]),
          S,
        ),
      ).toBeLessThan(1e-9);
      // Same draws mapped by D (proposal scales follow D): equal up to float32 rounding.
      const base = { shapes: [[2]], samples, seed: 5, rho };
      const atX = await zerothOrder(dampedDeterminant(2, { scale: [1, 1] }), lossAt(L, x), base);
      const atDx = await zerothOrder(
        dampedDeterminant(2, { scale: [k, 1 / k] }),
        lossAt(L, Dx),
        base,
      );
      expect(Math.abs(atDx.value - atX.value)).toBeLessThan(0.01 * atX.standardError);
      // R_ρ → S as ρ → 0; at ρ = 0.05 the Taylor remainder is well inside 5 standard errors.
      expect(Math.abs(atX.value - S)).toBeLessThan(K * atX.standardError);
      // Trace-SAM's R_ρ (μ = N(0, I)) is tr H/2 = 1/k² + k² to leading order: it moves.
      const tr1 = await zerothOrder(trace('gaussian'), lossAt(L, x), base);
      const tr2 = await zerothOrder(trace('gaussian'), lossAt(L, Dx), base);
      expect(Math.abs(tr1.value - tr2.value)).toBeGreaterThan(
        K * Math.hypot(tr1.standardError, tr2.standardError),
      );
    }
  });

  it('a two-layer ReLU net y = W₂·relu(W₁x) rescaled W₁ → cW₁, W₂ → W₂/c (det D = 1)', async () => {
    // Inputs and outputs in R², h hidden units, no biases: W₁ and W₂ have 2h entries each,
    // so D = diag(c, …, c, 1/c, …, 1/c) has det D = 1 and relu(cz) = c·relu(z) makes
    // L(Dx) = L(x). Regression on a teacher with these very weights: x is a minimum (L = 0).
    const h = 2;
    const inputs = tf.tensor2d(normals(2 * 32, 'inputs'), [32, 2]);
    const teacher = normals(4 * h, 'teacher');
    const forward = (w: ArrayLike<number>) =>
      tf.tidy(() => {
        const w1 = tf.tensor2d(Array.from(w).slice(0, 2 * h), [2, h]);
        const w2 = tf.tensor2d(Array.from(w).slice(2 * h), [h, 2]);
        return tf.matMul(tf.relu(tf.matMul(inputs, w1)), w2);
      });
    const targets = forward(teacher);
    const netLoss =
      (w: readonly number[]): PerturbedLoss =>
      async (delta) => {
        const at = delta
          ? (await delta[0]!.data()).map((dx, i) => w[i]! + dx)
          : Float32Array.from(w);
        const value = tf.tidy(() => tf.mean(tf.square(tf.sub(forward(at), targets))));
        const out = (await value.data())[0]!;
        value.dispose();
        return out;
      };
    const before = tf.memory().numTensors;
    const c = 2.5;
    const D = teacher.map((_, i) => (i < 2 * h ? c : 1 / c));
    const rescaled = teacher.map((w, i) => w * D[i]!);
    expect(await netLoss(rescaled)(null)).toBeLessThan(1e-10);
    const base = { shapes: [[4 * h]], samples: 1000, seed: 9, rho: 0.05 };
    const scale = 0.5;
    const atX = await zerothOrder(dampedDeterminant(4 * h, { scale }), netLoss(teacher), base);
    const atDx = await zerothOrder(
      dampedDeterminant(4 * h, { scale: D.map((x) => scale * x) }),
      netLoss(rescaled),
      base,
    );
    // Same draws mapped by D; the losses agree to float32 rounding, not bit for bit.
    expect(Math.abs(atDx.value - atX.value)).toBeLessThan(0.01 * atX.standardError);
    const tr1 = await zerothOrder(trace('gaussian'), netLoss(teacher), base);
    const tr2 = await zerothOrder(trace('gaussian'), netLoss(rescaled), base);
    expect(Math.abs(tr1.value - tr2.value)).toBeGreaterThan(
      K * Math.hypot(tr1.standardError, tr2.standardError),
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([inputs, targets]);
  });
});

describe('validation', () => {
  it('f must be finite and non-negative on every draw and grid point', async () => {
    const negative = scaleInvariant({
      name: 'bad',
      density: (p) => (Math.abs(p) > 2.5 ? -1 : 1),
      psi: psi.exp(-1),
      phi: phi.inverseSquare(),
    });
    await expect(
      monteCarlo(
        negative,
        explicitHvp([
          [1, 0],
          [0, 1],
        ]),
        { shapes: [[2]], samples: 2000 },
      ),
    ).rejects.toThrow(/the density f must be finite and ≥ 0 .* but f\(.*\) = -1; fix f/);
    expect(() =>
      exact(negative, [
        [1, 0],
        [0, 1],
      ]),
    ).toThrow(/f\(.*\) = -1/);
    expect(() =>
      scaleInvariant({
        name: 'nan',
        density: () => Number.NaN,
        psi: psi.exp(-1),
        phi: phi.identity,
      }),
    ).toThrow(/f\(0\) = NaN/);
    expect(() =>
      productDensity({ name: 'x', value: (p) => Math.exp(-p * p), log: (p) => -2 * p * p }),
    ).toThrow(/density.log\(0.5\) = -0.5 but log\(density.value\(0.5\)\) = -0.25/);
    expect(() => productDensity(3 as never)).toThrow(/density must be a function f\(p\) ≥ 0/);
    expect(() =>
      scaleInvariant({
        name: 'x',
        density: () => 1,
        psi: psi.exp(-1),
        phi: phi.identity,
        sigma: 1,
      } as never),
    ).toThrow(/unknown option 'sigma'/);
  });

  it('says where the damped determinant diverges, naming the submatrix', () => {
    const m = dampedDeterminant(3);
    // Principal 2×2 block without coordinate 0 is diag(1, −1): diverges near v₁ = 0.
    const H = [
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, -1],
    ];
    expect(divergenceOf(m, H)).toMatch(
      /H without row and column 0 is not positive definite \(eigenvalue -1 ≤ 0.*v_1 = 0/,
    );
    expect(() => exact(m, H)).toThrow(/diverges near the hyperplane v_1 = 0/);
    // Indefinite with positive principal blocks: converges (det H = −3 has no representation).
    expect(
      divergenceOf(dampedDeterminant(2), [
        [1, 2],
        [2, 1],
      ]),
    ).toBeUndefined();
    expect(
      divergenceOf(determinant(2), [
        [1, 2],
        [2, 1],
      ]),
    ).toMatch(/not positive definite/);
    expect(() => dampedDeterminant(2, { strength: -1 })).toThrow(/strength c .* ≥ 0, got -1/);
    expect(() => dampedDeterminant(0)).toThrow(/dimension d must be an integer ≥ 1/);
  });

  it('quadrature refuses d > 3 and integrals that do not settle', () => {
    expect(() => exact(dampedDeterminant(4), withSpectrum([1, 1, 1, 1], 1))).toThrow(
      /quadrature is for d ≤ 3.*got d = 4; estimate it with monteCarlo/,
    );
    // f ≡ 1 with an indefinite H: ∫e^{−½vᵀHv}dv = ∞, found by the grid itself.
    const flat = scaleInvariant({
      name: 'f ≡ 1',
      density: () => 1,
      psi: psi.exp(-1),
      phi: phi.inverseSquare(),
    });
    expect(() =>
      exact(flat, [
        [1, 0],
        [0, 0],
      ]),
    ).toThrow(/does not converge at this H/);
    expect(() =>
      exact(flat, [
        [1, 0],
        [0, -0.5],
      ]),
    ).toThrow(/no finite value at this H/);
    expect(() => integrateProductDensity([[1]], [psi.exp(-1)], () => 0, 'x')).not.toThrow();
  });

  it('per-coordinate proposal scales are checked against d', async () => {
    const m = dampedDeterminant(2, { scale: [1, 1, 1] });
    await expect(
      monteCarlo(
        m,
        explicitHvp([
          [1, 0],
          [0, 1],
        ]),
        { shapes: [[2]], samples: 10 },
      ),
    ).rejects.toThrow(/3 per-coordinate scales but the shapes hold 2 entries/);
    expect(() => dampedDeterminant(2, { scale: [1, -1] })).toThrow(/non-empty list of them/);
  });

  it('productOf keeps v₁⋯v_d exact past float64 underflow on the way', () => {
    expect(productOf([1e-200, 1e-200, 1e300])).toBeCloseTo(1e-100 * 1, 110);
    expect(productOf([-2, 3, 0.5])).toBeCloseTo(-3, 14);
    expect(productOf([2, 0, Number.POSITIVE_INFINITY])).toBe(0);
  });
});
