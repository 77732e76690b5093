/**
 * Thrown for invalid input to the estimators. The message is one line that
 * names the problem and the fix.
 */
export class EstimatorError extends Error {
  override readonly name = 'EstimatorError';
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
  if (!Number.isInteger(value) || value < min) {
    throw new EstimatorError(
      `${where}: ${what} must be an integer ≥ ${min}${why}, got ${value}; pass ${what}: ${min} or more.`,
    );
  }
  return value;
}

/** Finite number > 0, or an `EstimatorError`. */
export function requirePositive(where: string, what: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new EstimatorError(
      `${where}: ${what} must be a finite number > 0, got ${value}; pass a positive ${what}.`,
    );
  }
  return value;
}
