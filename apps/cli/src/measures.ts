import {
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
 * The catalogue of Table 1 by the names the command line takes. `polynomial`
 * and `product` take a parameter after a colon (degree n, σ); the determinant
 * needs the dimension d.
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
] as const;

/** The catalogue measure called `name` (see `MEASURE_NAMES`) for dimension d. */
export function catalogueMeasure(name: string, dimension: number): Measure {
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
      if (parameter === undefined) return determinant(dimension);
      break;
    case 'polynomial':
      if (Number.isInteger(value) && value >= 1) return polynomial(value);
      break;
    case 'product':
      if (parameter !== undefined && Number.isFinite(value)) return product(value);
      break;
  }
  throw new UsageError(
    `unknown measure '${name}'; valid names are ${MEASURE_NAMES.map((n) => `'${n}'`).join(', ')} (polynomial:N for any degree N ≥ 1, product:σ for any σ).`,
  );
}
