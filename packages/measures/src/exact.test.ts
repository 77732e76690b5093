import { determinant as luDeterminant, Matrix } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { determinant, frobenius, maxEigenvalue, polynomial, product, trace } from './catalogue';
import { exact } from './exact';
import { phi, psi } from './functions';
import { symmetricEigenvalues } from './linalg';
import { defineMeasure } from './measure';
import { sphere } from './samplers';
import { linspace, withSpectrum } from './test-helpers';

/** Dense H with known eigenvalues; results are compared at 1e-9 relative (double-precision eigensolver on d ≤ 50). */
const close = (a: number, b: number) =>
  expect(Math.abs(a - b)).toBeLessThan(1e-9 * Math.max(1, Math.abs(b)));

describe('exact', () => {
  it('recovers each row of Table 1 from a dense H with a known spectrum', () => {
    for (const d of [2, 5, 20, 50]) {
      const lambda = linspace(0.5, 1.5, d);
      const H = withSpectrum(lambda, d);
      const sum = lambda.reduce((a, b) => a + b, 0);
      close(exact(trace('sphere'), H), sum / (2 * d));
      close(exact(trace('gaussian'), H), sum / 2);
      close(exact(maxEigenvalue(), H), 1.5);
      close(
        exact(determinant(d), H),
        lambda.reduce((a, b) => a * b, 1),
      );
      close(exact(polynomial(1), H), sum / (2 * d));
    }
  });

  it('frobenius equals Σ_ij H_ij², product equals det(I − σH), determinant equals det H', () => {
    // Independent references: the entries themselves and ml-matrix's LU determinant.
    for (const d of [2, 5, 20]) {
      const H = withSpectrum(linspace(-2, 2, d), 10 + d);
      close(
        exact(frobenius(), H),
        H.flat().reduce((a, x) => a + x * x, 0),
      );
      const sigma = 0.2;
      close(exact(product(sigma), H), luDeterminant(Matrix.eye(d).sub(new Matrix(H).mul(sigma))));
      const positive = withSpectrum(linspace(0.5, 1.5, d), d);
      close(exact(determinant(d), positive), luDeterminant(new Matrix(positive)));
    }
  });

  it('accepts rows as arrays, typed arrays, or an ml-matrix Matrix', () => {
    const rows = [
      [2, 1],
      [1, 3],
    ];
    const expected = 5 / 4;
    expect(exact(trace('sphere'), rows)).toBeCloseTo(expected, 14);
    expect(
      exact(
        trace('sphere'),
        rows.map((r) => Float64Array.from(r)),
      ),
    ).toBeCloseTo(expected, 14);
    expect(
      exact(
        trace('sphere'),
        rows.map((r) => Float32Array.from(r)),
      ),
    ).toBeCloseTo(expected, 14);
    expect(exact(trace('sphere'), new Matrix(rows))).toBeCloseTo(expected, 14);
    expect(symmetricEigenvalues(rows)).toEqual([
      expect.closeTo((5 - Math.sqrt(5)) / 2, 12),
      expect.closeTo((5 + Math.sqrt(5)) / 2, 12),
    ]);
  });

  it('refuses divergent spectra unless allowDivergent, naming λ and σ', () => {
    const indefinite = [
      [1, 0],
      [0, -1],
    ];
    expect(() => exact(determinant(2), indefinite)).toThrow(
      /not positive definite \(eigenvalue λ = -1 ≤ 0 up to round-off\).*pass \{ allowDivergent: true \}/,
    );
    expect(exact(determinant(2), indefinite, { allowDivergent: true })).toBeCloseTo(-1, 14);
    const H = [
      [3, 0],
      [0, 1],
    ];
    expect(() => exact(product(0.5), H)).toThrow(
      /1 − σλ = -0.5 ≤ 0 for σ = 0.5 and eigenvalue λ = 3/,
    );
    expect(exact(product(0.5), H, { allowDivergent: true })).toBeCloseTo(-0.25, 14);
  });

  it('rejects bad matrices and measures with one-line fixes', () => {
    expect(() =>
      exact(trace(), [
        [1, 2, 3],
        [4, 5, 6],
      ]),
    ).toThrow(/must be square but row 0 has 3 entries and there are 2 rows/);
    expect(() => exact(trace(), [])).toThrow(/non-empty square matrix/);
    expect(() =>
      exact(trace(), [
        [1, 2],
        [2.1, 1],
      ]),
    ).toThrow(
      /not symmetric: \|H\[0\]\[1\] − H\[1\]\[0\]\| = 0.1.*pass \(H \+ Hᵀ\)\/2 or raise symmetryTolerance/,
    );
    // A float32-sized asymmetry passes by default; a tighter tolerance catches it.
    const nearly = [
      [1, 2],
      [2 + 2e-7, 1],
    ];
    expect(exact(trace(), nearly)).toBeCloseTo(0.5, 12);
    expect(() => exact(trace(), nearly, { symmetryTolerance: 1e-9 })).toThrow(/not symmetric/);
    expect(() =>
      exact(trace(), [
        [1, Number.NaN],
        [Number.NaN, 1],
      ]),
    ).toThrow(/non-finite entry H\[0\]\[1\] = NaN/);
    expect(() => exact(trace(), [[Number.POSITIVE_INFINITY]])).toThrow(/non-finite entry/);
    expect(() =>
      exact(determinant(3), [
        [1, 0],
        [0, 1],
      ]),
    ).toThrow(/built for d = 3 but the input has d = 2; dimension mismatch/);
    const custom = defineMeasure({
      name: 'custom',
      components: [{ mu: sphere(), psi: psi.identity }],
      phi: phi.identity,
    });
    expect(() => exact(custom, [[1]])).toThrow(/no closedForm; estimate it with monteCarlo/);
  });
});
