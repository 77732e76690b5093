/**
 * Thrown for invalid model options or state misuse. The message is one line
 * that names the problem and the fix.
 */
export class ModelError extends Error {
  override readonly name = 'ModelError';

  constructor(message: string, options?: { readonly cause?: unknown }) {
    super(message, options);
    // The marker of every usam error (`UsamError.isInstance` in @usam/measures,
    // docs/errors-and-vocabulary.md): this package depends on no other usam
    // package, so its error carries the marker instead of extending the base.
    Object.defineProperty(this, Symbol.for('usam.error'), { value: true });
  }
}

/** A value as an error message shows it: strings quoted, objects by kind. */
export function shown(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'function') return 'a function';
  return String(value);
}
