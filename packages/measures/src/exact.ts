import { MeasureError, show } from './errors.js';
import { type MatrixInput, type SymmetryOptions, symmetricEigenvalues } from './linalg.js';
import { checkDimension } from './measure.js';
import type { Measure } from './types.js';

export interface ExactOptions extends SymmetryOptions {
  /**
   * Return the closed form even where Definition 1's integrals diverge
   * (det H of an indefinite H, Π(1 − σλ_i) past 1 − σλ_i = 0). Default false:
   * such H is an error, since S(x; φ, ψ, μ) is then undefined.
   */
  readonly allowDivergent?: boolean;
}

/**
 * The reference evaluator (SPEC §2, way 1): S(x; φ, ψ, μ) from an explicit
 * symmetric Hessian, for small d. Checks H (square, finite, symmetric within
 * a relative tolerance), takes its eigenvalues and applies the measure's
 * closed form (Table 1, right column).
 */
export function exact(measure: Measure, H: MatrixInput, options: ExactOptions = {}): number {
  const where = `exact(${measure?.name ?? '?'})`;
  if (!measure?.closedForm) {
    throw new MeasureError(
      `${where}: this measure has no closedForm; estimate it with monteCarlo(measure, explicitHvp(H), …) instead.`,
    );
  }
  const lambda = symmetricEigenvalues(H, options);
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
