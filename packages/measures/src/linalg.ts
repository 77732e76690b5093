import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { MeasureError, requireOptions, show } from './errors';

/** An explicit symmetric matrix: rows as arrays or typed arrays, or an ml-matrix `Matrix`. */
export type MatrixInput = readonly ArrayLike<number>[] | Matrix;

export interface SymmetryOptions {
  /**
   * Largest |H_ij − H_ji| accepted, relative to max |H_ij| (default 1e-6: a
   * typo's asymmetry is O(1), float32 round-off in a numerically built Hessian
   * is ~1e-7). The matrix is symmetrised, (H + Hᵀ)/2, before use.
   */
  readonly symmetryTolerance?: number;
}

/**
 * Reads H as rows of doubles, checking it is square, finite and symmetric
 * within the tolerance; returns the symmetrised (H + Hᵀ)/2.
 */
export function symmetricRows(
  H: MatrixInput,
  where: string,
  options: SymmetryOptions = {},
  /** The caller's other options (they pass through here). */
  also: readonly string[] = [],
): number[][] {
  requireOptions(where, options, ['symmetryTolerance', ...also]);
  const tolerance = options.symmetryTolerance ?? 1e-6;
  if (!(tolerance >= 0)) {
    throw new MeasureError(`${where}: symmetryTolerance must be ≥ 0, got ${tolerance}.`);
  }
  const rows: number[][] = Matrix.isMatrix(H)
    ? (H as Matrix).to2DArray()
    : Array.isArray(H)
      ? (H as readonly ArrayLike<number>[]).map((row) => Array.from(row ?? []))
      : [];
  const d = rows.length;
  if (d === 0) {
    throw new MeasureError(
      `${where}: H must be a non-empty square matrix (rows of numbers or an ml-matrix Matrix).`,
    );
  }
  rows.forEach((row, i) => {
    if (row.length !== d) {
      throw new MeasureError(
        `${where}: H must be square but row ${i} has ${row.length} entries and there are ${d} rows.`,
      );
    }
    const j = row.findIndex((x) => typeof x !== 'number' || !Number.isFinite(x));
    if (j >= 0) {
      throw new MeasureError(
        `${where}: H has a non-finite entry H[${i}][${j}] = ${row[j]}; give finite values.`,
      );
    }
  });
  const scale = Math.max(...rows.map((row) => Math.max(...row.map(Math.abs))));
  for (let i = 0; i < d; i++) {
    for (let j = i + 1; j < d; j++) {
      const gap = Math.abs(rows[i]![j]! - rows[j]![i]!);
      if (gap > tolerance * scale) {
        throw new MeasureError(
          `${where}: H is not symmetric: |H[${i}][${j}] − H[${j}][${i}]| = ${show(gap)} exceeds ${show(tolerance)}·max|H|; pass (H + Hᵀ)/2 or raise symmetryTolerance.`,
        );
      }
    }
  }
  return rows.map((row, i) => row.map((x, j) => (x + rows[j]![i]!) / 2));
}

/**
 * Eigenvalues of a symmetric matrix, ascending (ml-matrix's symmetric
 * eigendecomposition, after `symmetricRows`' checks).
 */
export function symmetricEigenvalues(H: MatrixInput, options: SymmetryOptions = {}): number[] {
  const rows = symmetricRows(H, 'symmetricEigenvalues', options);
  const { realEigenvalues } = new EigenvalueDecomposition(new Matrix(rows), {
    assumeSymmetric: true,
  });
  return [...realEigenvalues].sort((a, b) => a - b);
}
