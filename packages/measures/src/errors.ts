import * as tf from '@tensorflow/tfjs-core';

/**
 * The marker every usam error carries, under `Symbol.for` so that it is the
 * same symbol in every installed copy of every package: `UsamError.isInstance`
 * then works where `instanceof` does not (two versions of a package in one
 * bundle), and packages that do not depend on this one (@usam/backend,
 * @usam/datasets, @usam/models) mark their errors with the same symbol without
 * importing anything (docs/errors-and-vocabulary.md).
 */
const MARKER = 'usam.error';

/**
 * The base of usam's errors: a message of one line that names the problem and
 * the fix, and the original failure as `cause` where there is one.
 */
export class UsamError extends Error {
  /** Every usam error, from any installed copy of any usam package. */
  static isInstance(error: unknown): error is UsamError {
    return (
      typeof error === 'object' &&
      error !== null &&
      (error as Record<symbol, unknown>)[Symbol.for(MARKER)] === true
    );
  }

  /** `isInstance` for one subclass: a marked error of that `name` (each subclass's `isInstance`). */
  protected static isNamed(error: unknown, name: string): boolean {
    return UsamError.isInstance(error) && error.name === name;
  }

  constructor(message: string, options?: { readonly cause?: unknown }) {
    super(message, options);
    Object.defineProperty(this, Symbol.for(MARKER), { value: true });
  }
}

/**
 * Thrown for bad input anywhere in @usam/measures. The message is one line that
 * names the problem and the fix, so it can be shown to a user as is.
 */
export class MeasureError extends UsamError {
  override readonly name = 'MeasureError';

  static override isInstance(error: unknown): error is MeasureError {
    return UsamError.isNamed(error, 'MeasureError');
  }
}

/**
 * Rejects option names not in `known` (a typo would otherwise be silently
 * ignored, e.g. maxEigenvalue({ direction: 3 })), and a non-object where an
 * options object belongs. Undefined options are fine (all defaults).
 */
export function requireOptions(where: string, options: unknown, known: readonly string[]): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new MeasureError(
      `${where}: options must be an object, got ${show(options)}; valid options are ${known.join(', ')}.`,
    );
  }
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new MeasureError(
      `${where}: unknown option ${unknown.map((k) => `'${k}'`).join(', ')}; valid options are ${known.join(', ')}.`,
    );
  }
}

/**
 * A value as an error message shows it, in every package that depends on this
 * one: a number short but exact enough to recognise, a string quoted (so '2'
 * is not mistaken for 2), a tensor by dtype and shape, an array by length,
 * anything else by kind.
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'number') {
    return Number.isFinite(value) ? String(Number(value.toPrecision(6))) : String(value);
  }
  if (typeof value === 'string') return `'${value}'`;
  if (value === null || value === undefined || typeof value === 'boolean') return String(value);
  if (value instanceof tf.Tensor) {
    const article = /^[aeiou]/.test(value.dtype) ? 'an' : 'a';
    return `${article} ${value.dtype} tensor of shape [${value.shape.join(', ')}]`;
  }
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (typeof value === 'object') return 'an object';
  return typeof value === 'function' ? 'a function' : `a ${typeof value}`;
}

/** `describeValue`, under the name this package's messages use. */
export const show = describeValue;
