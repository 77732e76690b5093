/**
 * Thrown for bad input to @usam/optimizer (hyperparameters, variables, loss
 * closures). The message is one line that names the problem and the fix.
 */
export class OptimizerError extends Error {
  override readonly name = 'OptimizerError';
}

/** Formats a number for a message: short, but exact enough to recognise. */
export const show = (x: number): string => String(Number(x.toPrecision(6)));

/** A finite number ≥ `min` (or > `min` when `strict`), else an `OptimizerError` naming the fix. */
export function requireNumber(
  where: string,
  what: string,
  value: unknown,
  { min = Number.NEGATIVE_INFINITY, strict = false, why = '' } = {},
): number {
  const ok =
    typeof value === 'number' && Number.isFinite(value) && (strict ? value > min : value >= min);
  if (!ok) {
    const bound = min === Number.NEGATIVE_INFINITY ? '' : ` ${strict ? '>' : '≥'} ${show(min)}`;
    throw new OptimizerError(
      `${where}: ${what} must be a finite number${bound}${why}, got ${String(value)}; pass ${what}${bound || ' as a finite number'}.`,
    );
  }
  return value;
}

/** An integer ≥ `min`, else an `OptimizerError`. */
export function requireInteger(
  where: string,
  what: string,
  value: unknown,
  min: number,
  why = '',
): number {
  if (!(typeof value === 'number' && Number.isInteger(value) && value >= min)) {
    throw new OptimizerError(
      `${where}: ${what} must be an integer ≥ ${min}${why}, got ${String(value)}; pass ${what}: ${min} or more.`,
    );
  }
  return value;
}

/** `defaults` overridden by the options the user actually set (an explicit undefined keeps the default). */
export function withDefaults<T extends object, D extends Partial<T>>(
  defaults: D,
  options: T,
): T & D {
  const set = Object.entries(options ?? {}).filter(([, value]) => value !== undefined);
  return { ...defaults, ...Object.fromEntries(set) } as T & D;
}
