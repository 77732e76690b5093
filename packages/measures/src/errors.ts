/**
 * Thrown for bad input anywhere in @usam/measures. The message is one line that
 * names the problem and the fix, so it can be shown to a user as is.
 */
export class MeasureError extends Error {
  override readonly name = 'MeasureError';
}

/** Formats a number for an error message: short, but exact enough to recognise. */
export const show = (x: number): string => String(Number(x.toPrecision(6)));
