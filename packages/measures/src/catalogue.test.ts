import { Matrix } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import {
  determinant,
  frobenius,
  maxEigenvalue,
  polynomial,
  product,
  sphereMoment,
  trace,
} from './catalogue';
import { symmetricEigenvalues } from './linalg';
import { normals } from './test-helpers';

const lambda = [-1, 0.5, 2, 3];
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

describe('catalogue closed forms (Table 1, right column)', () => {
  it('match the table on a fixed spectrum', () => {
    const d = lambda.length;
    expect(trace('sphere').closedForm!(lambda)).toBeCloseTo(4.5 / (2 * d), 14);
    expect(trace('gaussian').closedForm!(lambda)).toBeCloseTo(4.5 / 2, 14);
    expect(maxEigenvalue().closedForm!(lambda)).toBe(3);
    expect(frobenius().closedForm!(lambda)).toBeCloseTo(1 + 0.25 + 4 + 9, 14);
    expect(determinant(4).closedForm!(lambda)).toBeCloseTo(-3, 14);
    expect(product(0.2).closedForm!(lambda)).toBeCloseTo(1.2 * 0.9 * 0.6 * 0.4, 14);
    expect(polynomial(1).closedForm!(lambda)).toBeCloseTo(4.5 / (2 * d), 14);
  });

  it('are the triples of Table 1', () => {
    const f = frobenius();
    expect(f.sharedSamples).toBe(true);
    expect(f.components.map((c) => [c.mu.name, c.psi.name])).toEqual([
      ['gaussian', 't'],
      ['gaussian', 't^2'],
    ]);
    expect(determinant(3).components[0]!.mu.logWeight).toBeTypeOf('function');
    expect(determinant(3).dimension).toBe(3);
    expect(determinant(3).phi.value([1])).toBeCloseTo((2 * Math.PI) ** 3, 8);
    expect(maxEigenvalue({ directions: 5 }).components).toHaveLength(5);
    expect(maxEigenvalue({ directions: 5 }).sharedSamples).toBe(false);
    expect(trace('sphere').components[0]!.mu.name).toBe('sphere');
    expect(product(0.5).components[0]!.psi.value(2)).toBeCloseTo(Math.E, 14);
  });

  it('say where the integrals diverge, naming σ and λ', () => {
    expect(determinant(4).divergence!(lambda)).toMatch(
      /H is not positive definite \(eigenvalue λ = -1 ≤ 0 up to round-off\).*diverges/,
    );
    expect(determinant(2).divergence!([0.1, 2])).toBeUndefined();
    expect(product(0.5).divergence!(lambda)).toMatch(
      /1 − σλ = -0.5 ≤ 0 for σ = 0.5 and eigenvalue λ = 3.*take σ < 1\/λ = 0.333333/,
    );
    expect(product(-2).divergence!(lambda)).toMatch(/eigenvalue λ = -1.*take σ > 1\/λ = -1/);
    expect(product(0.2).divergence!(lambda)).toBeUndefined();
  });

  it('reject bad parameters', () => {
    expect(() => polynomial(0)).toThrow(/n must be an integer ≥ 1, got 0/);
    expect(() => polynomial(1.5)).toThrow(/n must be an integer ≥ 1, got 1.5/);
    expect(() => product(Number.NaN)).toThrow(/σ must be a finite number/);
    expect(() => determinant(0)).toThrow(/dimension d must be an integer ≥ 1/);
    expect(() => maxEigenvalue({ directions: 0 })).toThrow(
      /directions \(m\) must be an integer ≥ 1/,
    );
    expect(() => trace('ball' as 'sphere')).toThrow(/mu must be 'sphere' or 'gaussian'/);
  });
});

/**
 * An independent route to E_{v~S^{d−1}}[(½Σλ_i v_i²)ⁿ]: expand multinomially and
 * use the sphere's even moments E[Π v_i^{2a_i}] = Π(2a_i − 1)!! / (d(d+2)…(d+2n−2)).
 */
function sphereMomentByExpansion(eigenvalues: readonly number[], n: number): number {
  const d = eigenvalues.length;
  const doubleFactorial = (k: number): number => (k <= 0 ? 1 : k * doubleFactorial(k - 2));
  const factorial = (k: number): number => (k <= 1 ? 1 : k * factorial(k - 1));
  let rising = 1;
  for (let j = 0; j < n; j++) rising *= d + 2 * j;
  let total = 0;
  const visit = (i: number, left: number, coefficient: number, moment: number) => {
    if (i === d - 1) {
      total +=
        (coefficient / factorial(left)) *
        (eigenvalues[i]! / 2) ** left *
        moment *
        doubleFactorial(2 * left - 1);
      return;
    }
    for (let a = 0; a <= left; a++) {
      visit(
        i + 1,
        left - a,
        coefficient / factorial(a),
        moment * (eigenvalues[i]! / 2) ** a * doubleFactorial(2 * a - 1),
      );
    }
  };
  visit(0, n, factorial(n), 1);
  return total / rising;
}

describe('sphereMoment (the polynomial row)', () => {
  it('gives tr/(2d) for n = 1 and (tr² + 2‖H‖_F²)/(4d(d+2)) for n = 2', () => {
    const d = lambda.length;
    const tr = sum(lambda);
    const frob = sum(lambda.map((l) => l * l));
    expect(sphereMoment(lambda, 1)).toBeCloseTo(tr / (2 * d), 14);
    expect(sphereMoment(lambda, 2)).toBeCloseTo((tr * tr + 2 * frob) / (4 * d * (d + 2)), 14);
  });

  it('equals the multinomial expansion for d ≤ 4, n ≤ 5', () => {
    for (const spectrum of [[1.5], [2, -1], [0.3, 1, -2], lambda]) {
      for (let n = 1; n <= 5; n++) {
        const expected = sphereMomentByExpansion(spectrum, n);
        expect(Math.abs(sphereMoment(spectrum, n) - expected)).toBeLessThan(
          1e-12 * (1 + Math.abs(expected)),
        );
      }
    }
  });

  it('equals quadrature on the circle (d = 2), exact for trigonometric polynomials', () => {
    // The integrand is a trigonometric polynomial of degree 2n < 64: the 64-point rule is exact.
    const [a, b] = [1.7, -0.6];
    for (let n = 1; n <= 8; n++) {
      let s = 0;
      for (let k = 0; k < 64; k++) {
        const theta = (2 * Math.PI * k) / 64;
        s += (0.5 * (a * Math.cos(theta) ** 2 + b * Math.sin(theta) ** 2)) ** n;
      }
      expect(sphereMoment([a, b], n)).toBeCloseTo(s / 64, 12);
    }
  });

  it('agrees with brute-force Monte Carlo in doubles on a dense H (d = 4, n = 3)', () => {
    // A dense H with eigenvalues λ: the closed form only sees λ (rotation invariance).
    const d = 4;
    const n = 3;
    const g = normals(d * d, 5);
    const q = new Matrix(Array.from({ length: d }, (_, i) => g.slice(i * d, (i + 1) * d)));
    const H = q.add(q.transpose()).mul(0.5).to2DArray();
    const eig = symmetricEigenvalues(H);
    const samples = 100_000;
    const z = normals(samples * d, 6);
    const values: number[] = [];
    for (let s = 0; s < samples; s++) {
      const v = z.slice(s * d, (s + 1) * d);
      const norm = Math.hypot(...v);
      let quad = 0;
      for (let i = 0; i < d; i++)
        for (let j = 0; j < d; j++) quad += (v[i]! * H[i]![j]! * v[j]!) / (norm * norm);
      values.push((quad / 2) ** n);
    }
    const mean = sum(values) / samples;
    const se = Math.sqrt(sum(values.map((x) => (x - mean) ** 2)) / (samples - 1) / samples);
    // 5 standard errors: a false failure has probability 6e-7 (CLT at n = 1e5).
    expect(Math.abs(sphereMoment(eig, n) - mean)).toBeLessThan(5 * se);
  });
});
