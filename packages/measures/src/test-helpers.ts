import { Matrix, QrDecomposition } from 'ml-matrix';
import { determinant, frobenius, polynomial, product, trace } from './catalogue';
import { createRng } from './rng';
import type { Measure } from './types';

/**
 * Test fixtures (not exported from the package): explicit symmetric matrices
 * with a chosen spectrum, so that closed forms are known exactly.
 */

/** d points evenly spaced from lo to hi (d = 1: lo). */
export const linspace = (lo: number, hi: number, d: number): number[] =>
  Array.from({ length: d }, (_, i) => (d === 1 ? lo : lo + ((hi - lo) * i) / (d - 1)));

/** Standard normals in doubles (Box–Muller), seeded. */
export function normals(count: number, seed: number | string): number[] {
  const rng = createRng(seed);
  return Array.from({ length: count }, () => {
    const u = 1 - rng.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  });
}

/** Q·diag(λ)·Qᵀ for a random orthogonal Q (QR of a Gaussian matrix): a dense H with eigenvalues λ. */
export function withSpectrum(lambda: readonly number[], seed: number | string = 1): number[][] {
  const d = lambda.length;
  const g = normals(d * d, `orthogonal:${seed}`);
  const q = new QrDecomposition(
    new Matrix(Array.from({ length: d }, (_, i) => g.slice(i * d, (i + 1) * d))),
  ).orthogonalMatrix;
  const h = q
    .mmul(Matrix.diag([...lambda]))
    .mmul(q.transpose())
    .to2DArray();
  // Exact symmetry, so the fixtures never trip the symmetry check.
  return h.map((row, i) => row.map((x, j) => (x + h[j]![i]!) / 2));
}

/** ½vᵀHv in doubles. */
export function halfQuadratic(h: readonly (readonly number[])[], v: readonly number[]): number {
  let s = 0;
  h.forEach((row, i) => {
    row.forEach((x, j) => {
      s += v[i]! * x * v[j]!;
    });
  });
  return s / 2;
}

/** A catalogue row with a spectrum suited to it, for the agreement tests. */
export interface Case {
  readonly measure: (d: number) => Measure;
  readonly spectrum: (d: number) => number[];
}

/** Spectra per row: mixed signs where the row allows it, S well away from 0. */
export const cases: Record<string, Case> = {
  'trace (sphere)': { measure: () => trace('sphere'), spectrum: (d) => linspace(-1, 3, d) },
  'trace (gaussian)': { measure: () => trace('gaussian'), spectrum: (d) => linspace(-1, 3, d) },
  frobenius: { measure: () => frobenius(), spectrum: (d) => linspace(-2, 2, d) },
  'polynomial(2)': { measure: () => polynomial(2), spectrum: (d) => linspace(-1, 3, d) },
  'polynomial(3)': { measure: () => polynomial(3), spectrum: (d) => linspace(-1, 3, d) },
  // H ≻ 0 with s²λ_i near 1 (s = 1), where the Lebesgue weights have low variance.
  determinant: { measure: (d) => determinant(d), spectrum: (d) => linspace(0.8, 1.25, d) },
  // 1 − 4σλ > 0: exp(σq) has finite fourth moments, so the CLT and SE hold at this n.
  'product(σ=0.1)': { measure: () => product(0.1), spectrum: (d) => linspace(-2, 2, d) },
};
