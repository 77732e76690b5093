import {
  dampedDeterminant,
  determinant,
  frobenius,
  type Measure,
  maxEigenvalue,
  polynomial,
  product,
  trace,
} from '@usam/measures';
import { UsageError } from './cli/errors';

/**
 * The catalogue of Table 1 by the names the command line takes, and the
 * scale-invariant family's damped determinant (workshop paper, Theorem 1;
 * docs/scale-invariant.md) and its logarithm (the form to train with, λ < ½).
 * `polynomial`, `product` and the damped determinants take a parameter after
 * a colon (degree n, σ, damping c); the determinants need the dimension d.
 */
export const MEASURE_NAMES = [
  'trace',
  'trace-gaussian',
  'max-eigenvalue',
  'frobenius',
  'determinant',
  'polynomial:2',
  'polynomial:3',
  'product:0.2',
  'damped-determinant',
  'log-damped-determinant',
] as const;

/**
 * The catalogue measure called `name` (see `MEASURE_NAMES`) for dimension d.
 * `proposalScale` (one s_i per coordinate) is the proposal N(0, diag(s_i²)) the
 * determinant's Lebesgue measure and the damped determinant's f(v₁⋯v_d)·Lebesgue
 * are sampled through, where the caller knows a good one (@usam/measures'
 * `proposalScale(H)` for an explicit H); default N(0, I).
 */
export function catalogueMeasure(
  name: string,
  dimension: number,
  proposalScale?: readonly number[],
): Measure {
  const [kind, parameter] = name.split(':');
  const value = Number(parameter);
  switch (kind) {
    case 'trace':
      if (parameter === undefined) return trace('sphere');
      break;
    case 'trace-gaussian':
      if (parameter === undefined) return trace('gaussian');
      break;
    case 'max-eigenvalue':
      if (parameter === undefined) return maxEigenvalue({ directions: 64 });
      break;
    case 'frobenius':
      if (parameter === undefined) return frobenius();
      break;
    case 'determinant':
      if (parameter === undefined) {
        return determinant(dimension, proposalScale ? { scale: proposalScale } : {});
      }
      break;
    case 'polynomial':
      if (Number.isInteger(value) && value >= 1) return polynomial(value);
      break;
    case 'product':
      if (parameter !== undefined && Number.isFinite(value)) return product(value);
      break;
    case 'damped-determinant':
    case 'log-damped-determinant':
      if (
        parameter === undefined ||
        (Number.isFinite(value) && value >= 0 && parameter.trim() !== '')
      ) {
        return dampedDeterminant(dimension, {
          ...(parameter !== undefined && { strength: value }),
          ...(kind === 'log-damped-determinant' && { logarithm: true }),
          ...(proposalScale && { scale: proposalScale }),
        });
      }
      break;
  }
  throw new UsageError(
    `unknown measure '${name}'; valid names are ${MEASURE_NAMES.map((n) => `'${n}'`).join(', ')} (polynomial:N for any degree N ≥ 1, product:σ for any σ, damped-determinant:c and log-damped-determinant:c for any damping c ≥ 0).`,
  );
}
