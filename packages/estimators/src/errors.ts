import { describeValue, UsamError } from '@usam/measures';

/**
 * Thrown for invalid input to the estimators. The message is one line that
 * names the problem and the fix.
 */
export class EstimatorError extends UsamError {
  override readonly name = 'EstimatorError';

  static override isInstance(error: unknown): error is EstimatorError {
    return UsamError.isNamed(error, 'EstimatorError');
  }
}

/** What a value is, for error messages (@usam/measures' one formatter). */
export const describe = describeValue;

/**
 * Rejects option names not in `known` (a typo would otherwise be silently
 * ignored), and a non-object where an options object belongs.
 */
export function requireOptions(where: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new EstimatorError(
      `${where}: options must be an object, got ${describe(options)}; valid options are ${known.join(', ')}.`,
    );
  }
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new EstimatorError(
      `${where}: unknown option '${unknown[0]}'; valid options are ${known.join(', ')}.`,
    );
  }
}

/**
 * Integer ≥ `min`, or an `EstimatorError` saying what to pass. `why` explains
 * the minimum where it is not obvious (a standard error needs two probes).
 */
export function requireInteger(
  where: string,
  what: string,
  value: number,
  min: number,
  why = '',
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new EstimatorError(
      `${where}: ${what} must be an integer ≥ ${min}${why}, got ${describe(value)}; pass ${what}: ${min} or more.`,
    );
  }
  return value;
}

/** Finite number > 0, or an `EstimatorError`. */
export function requirePositive(where: string, what: string, value: number): number {
  if (typeof value !== 'number' || !(Number.isFinite(value) && value > 0)) {
    throw new EstimatorError(
      `${where}: ${what} must be a finite number > 0, got ${describe(value)}; pass a positive ${what}.`,
    );
  }
  return value;
}
