import { MeasureError, requireOptions, show } from './errors';
import {
  type MatrixInput,
  type SymmetryOptions,
  symmetricEigenvalues,
  symmetricRows,
} from './linalg';
import { checkDimension } from './measure';
import type { Measure } from './types';

export interface ExactOptions extends SymmetryOptions {
  /**
   * Return the closed form even where Definition 1's integrals diverge
   * (det H of an indefinite H, Π(1 − σλ_i) past 1 − σλ_i = 0). Default false:
   * such H is an error, since S(x; φ, ψ, μ) is then undefined. A measure
   * evaluated by `matrixForm` (quadrature) has no value to return there and
   * refuses such H regardless.
   */
  readonly allowDivergent?: boolean;
}

/**
 * Why S(x; φ, ψ, μ) has no value at H (Definition 1's integrals diverge), as
 * the measure's own one-line reason, or undefined where they converge (or the
 * measure cannot tell). Checks both the spectrum (`divergence`) and the matrix
 * (`matrixDivergence`, the scale-invariant family).
 */
export function divergenceOf(
  measure: Measure,
  H: MatrixInput,
  options: SymmetryOptions = {},
): string | undefined {
  const where = `divergenceOf(${measure?.name ?? '?'})`;
  const rows = symmetricRows(H, where, options);
  checkDimension(measure, rows.length, where);
  return (
    measure.divergence?.(symmetricEigenvalues(rows, options)) ?? measure.matrixDivergence?.(rows)
  );
}

/**
 * The reference evaluator (docs/measures.md, way 1): S(x; φ, ψ, μ) from an explicit
 * symmetric Hessian, for small d. Checks H (square, finite, symmetric within
 * a relative tolerance), takes its eigenvalues and applies the measure's
 * closed form (Table 1, right column); a measure without one but with a
 * `matrixForm` (the scale-invariant family, docs/scale-invariant.md) is
 * evaluated from the matrix itself, by quadrature for d ≤ 3.
 */
export function exact(measure: Measure, H: MatrixInput, options: ExactOptions = {}): number {
  const where = `exact(${measure?.name ?? '?'})`;
  if (!measure?.closedForm && !measure?.matrixForm) {
    throw new MeasureError(
      `${where}: this measure has no closedForm; estimate it with monteCarlo(measure, explicitHvp(H), …) instead.`,
    );
  }
  if (!measure.closedForm) {
    const rows = symmetricRows(H, where, options, ['allowDivergent']);
    checkDimension(measure, rows.length, where);
    const reason = measure.matrixDivergence?.(rows);
    if (reason) throw new MeasureError(`${reason}.`);
    const value = measure.matrixForm!(rows);
    if (Number.isNaN(value)) {
      throw new MeasureError(`${where}: the matrix form gave NaN for this H.`);
    }
    return value;
  }
  requireOptions(where, options, ['symmetryTolerance', 'allowDivergent']);
  const lambda = symmetricEigenvalues(H, { symmetryTolerance: options.symmetryTolerance });
  checkDimension(measure, lambda.length, where);
  const reason = options.allowDivergent ? undefined : measure.divergence?.(lambda);
  if (reason) {
    throw new MeasureError(
      `${reason}; pass { allowDivergent: true } to exact() for the closed form regardless.`,
    );
  }
  const value = measure.closedForm(lambda);
  if (Number.isNaN(value)) {
    throw new MeasureError(
      `${where}: the closed form gave NaN for eigenvalues from ${show(lambda[0]!)} to ${show(lambda.at(-1)!)}.`,
    );
  }
  return value;
}
