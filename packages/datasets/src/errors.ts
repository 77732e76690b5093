/**
 * Thrown for every bad input and every unusable file. The message is one line
 * that names the problem and the fix.
 */
export class DatasetError extends Error {
  override readonly name = 'DatasetError';
}

/** An integer in [min, max], or a `DatasetError` that states the valid range. */
export function requireInteger(
  where: string,
  what: string,
  value: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range =
      max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`;
    throw new DatasetError(`${where}: ${what} must be ${range}, got ${value}; pass ${range}.`);
  }
  return value;
}

/**
 * A fraction in [min, 1] (or (0, 1] with `openAtZero`), or a `DatasetError`
 * that states the valid range.
 */
export function requireFraction(
  where: string,
  what: string,
  value: number,
  openAtZero: boolean,
): number {
  const ok = Number.isFinite(value) && value <= 1 && (openAtZero ? value > 0 : value >= 0);
  if (!ok) {
    const range = openAtZero ? '(0, 1]' : '[0, 1]';
    throw new DatasetError(
      `${where}: ${what} must be a number in ${range}, got ${value}; pass a fraction in ${range}.`,
    );
  }
  return value;
}
