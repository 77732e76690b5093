import { EigenvalueDecomposition, inverse, Matrix } from 'ml-matrix';
import { type MatrixInput, type SymmetryOptions, symmetricRows } from './linalg';

const largestEigenvalue = (m: Matrix) =>
  Math.max(...new EigenvalueDecomposition(m, { assumeSymmetric: true }).realEigenvalues);

/**
 * A per-coordinate Gaussian proposal scale for sampling the Lebesgue part of
 * the determinant's or a scale-invariant member's μ at an explicit H (pass it
 * as `lebesgue`'s, `determinant`'s or `dampedDeterminant`'s `scale`):
 *
 * - H ≻ 0: s_i = √(κ·(H⁻¹)_ii) with κ = λ_max(C), C the correlation matrix of
 *   H⁻¹. Then diag(s²) ⪰ H⁻¹, so the weights w·exp(−½vᵀHv) are bounded by
 *   (2π)^{d/2}·Π s_i: every standard error is finite and trustworthy. A diagonal
 *   H gives s_i = H_ii^{−1/2}, where the estimate is exact (zero variance).
 * - otherwise: s_i = H_ii^{−1/2} where H_ii > 0, else 1 (the damped determinant
 *   can converge there; its finite-variance condition is then not guaranteed).
 *
 * Both follow a diagonal rescaling: H → D⁻¹HD⁻¹ gives s_i → |D_i|·s_i (C is
 * unchanged), so the same seed draws exactly Dv, with the same weight when
 * |det D| = 1. N(0, I), the samplers' default, has infinite variance as soon as
 * some eigenvalue of H is below ½. See docs/scale-invariant.md.
 */
export function proposalScale(H: MatrixInput, options: SymmetryOptions = {}): number[] {
  const rows = symmetricRows(H, 'proposalScale', options);
  const d = rows.length;
  const diagonal = rows.map((row, i) => (row[i]! > 0 ? 1 / Math.sqrt(row[i]!) : 1));
  const matrix = new Matrix(rows);
  const lambda = new EigenvalueDecomposition(matrix, { assumeSymmetric: true }).realEigenvalues;
  const largest = Math.max(...lambda.map(Math.abs));
  // The determinant's numerical-rank cut: λ within d·ε·max|λ| of 0 counts as 0.
  if (!(Math.min(...lambda) > d * Number.EPSILON * largest)) return diagonal;
  const inv = inverse(matrix);
  const sd = rows.map((_, i) => Math.sqrt(inv.get(i, i)));
  const correlation = new Matrix(d, d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) correlation.set(i, j, inv.get(i, j) / (sd[i]! * sd[j]!));
  }
  // κ ≥ 1 (C has unit diagonal); round-off can only put it a hair low, and the
  // weights stay square-integrable for any κ above λ_max(C)/2.
  const kappa = Math.max(1, largestEigenvalue(correlation));
  return sd.map((s) => s * Math.sqrt(kappa));
}
