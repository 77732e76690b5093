import * as tf from '@tensorflow/tfjs-core';

/**
 * Thrown for invalid input to the estimators. The message is one line that
 * names the problem and the fix.
 */
export class EstimatorError extends Error {
  override readonly name = 'EstimatorError';
}

/** As `String(value)`, with strings quoted, so that '10' and 10 read differently. */
const shown = (value: unknown): string =>
  typeof value === 'string' ? `'${value}'` : String(value);

/**
 * Rejects option names not in `known` (a typo would otherwise be silently
 * ignored), and a non-object where an options object belongs.
 */
export function requireOptions(where: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new EstimatorError(
      `${where}: options must be an object, got ${shown(options)}; valid options are ${known.join(', ')}.`,
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
      `${where}: ${what} must be an integer ≥ ${min}${why}, got ${shown(value)}; pass ${what}: ${min} or more.`,
    );
  }
  return value;
}

/** Finite number > 0, or an `EstimatorError`. */
export function requirePositive(where: string, what: string, value: number): number {
  if (typeof value !== 'number' || !(Number.isFinite(value) && value > 0)) {
    throw new EstimatorError(
      `${where}: ${what} must be a finite number > 0, got ${shown(value)}; pass a positive ${what}.`,
    );
  }
  return value;
}

/** What a value is, for error messages: strings quoted, tensors by shape and dtype. */
export function describe(value: unknown): string {
  if (value instanceof tf.Tensor) {
    const article = /^[aeiou]/.test(value.dtype) ? 'an' : 'a';
    return `${article} ${value.dtype} tensor of shape [${value.shape.join(', ')}]`;
  }
  if (typeof value === 'string') return `'${value}'`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'function') return 'a function';
  return String(value);
}
