/**
 * Thrown for bad input anywhere in @usam/measures. The message is one line that
 * names the problem and the fix, so it can be shown to a user as is.
 */
export class MeasureError extends Error {
  override readonly name = 'MeasureError';
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
