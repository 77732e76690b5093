/**
 * Thrown for bad input anywhere in @usam/measures. The message is one line that
 * names the problem and the fix, so it can be shown to a user as is.
 */
export class MeasureError extends Error {
  override readonly name = 'MeasureError';
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
 * Formats a value for an error message: a number short but exact enough to
 * recognise, a string quoted (so '2' is not mistaken for 2), anything else by kind.
 */
export function show(x: unknown): string {
  if (typeof x === 'number')
    return Number.isFinite(x) ? String(Number(x.toPrecision(6))) : String(x);
  if (typeof x === 'string') return `'${x}'`;
  if (x === null || x === undefined || typeof x === 'boolean') return String(x);
  if (Array.isArray(x)) return x.length === 0 ? 'an empty list' : 'a list';
  return typeof x === 'object' ? 'an object' : `a ${typeof x}`;
}
