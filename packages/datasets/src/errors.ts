/**
 * Thrown for every bad input and every unusable file. The message is one line
 * that names the problem and the fix.
 */
export class DatasetError extends Error {
  override readonly name = 'DatasetError';

  constructor(message: string, options?: { readonly cause?: unknown }) {
    super(message, options);
    // The marker of every usam error (`UsamError.isInstance` in @usam/measures,
    // docs/errors-and-vocabulary.md): this package depends on no other usam
    // package, so its error carries the marker instead of extending the base.
    Object.defineProperty(this, Symbol.for('usam.error'), { value: true });
  }
}

/** A value as an error message shows it: strings quoted, arrays and objects by kind. */
export function shown(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'function') return 'a function';
  return String(value);
}

/**
 * An options object whose keys are all in `known`, or a `DatasetError`: a
 * misspelt option would otherwise be ignored silently (e.g. `dir` for `dataDir`).
 * `required` also refuses `undefined`.
 */
export function requireOptions(
  where: string,
  options: unknown,
  known: readonly string[],
  required = false,
): void {
  if (options === undefined && !required) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new DatasetError(
      `${where}: options must be an object with ${known.join(', ')}, got ${shown(options)}.`,
    );
  }
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new DatasetError(
      `${where}: unknown option '${unknown[0]}'; valid options are ${known.join(', ')}.`,
    );
  }
}

/** An integer in [min, max], or a `DatasetError` that states the valid range. */
export function requireInteger(
  where: string,
  what: string,
  value: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range =
      max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`;
    throw new DatasetError(
      `${where}: ${what} must be ${range}, got ${shown(value)}; pass ${range}.`,
    );
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
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    value <= 1 &&
    (openAtZero ? value > 0 : value >= 0);
  if (!ok) {
    const range = openAtZero ? '(0, 1]' : '[0, 1]';
    throw new DatasetError(
      `${where}: ${what} must be a number in ${range}, got ${shown(value)}; pass a fraction in ${range}.`,
    );
  }
  return value;
}
