import { EstimatorError } from './errors';
import type { HessianOperator } from './hvp';

/** Rejects anything that is not a `HessianOperator` with a one-line fix. */
export function requireOperator(where: string, H: HessianOperator): HessianOperator {
  if (
    H == null ||
    typeof H.apply !== 'function' ||
    !Number.isInteger(H.dimension) ||
    H.dimension < 1
  ) {
    throw new EstimatorError(
      `${where}: expected a Hessian operator with dimension ≥ 1; build one with createHvp({ variables, loss, data }).`,
    );
  }
  return H;
}
