import { describeValue, UsamError } from '@usam/measures';

/**
 * Thrown for bad input to @usam/optimizer (hyperparameters, variables, loss
 * closures). The message is one line that names the problem and the fix.
 */
export class OptimizerError extends UsamError {
  override readonly name = 'OptimizerError';

  static override isInstance(error: unknown): error is OptimizerError {
    return UsamError.isNamed(error, 'OptimizerError');
  }
}

/** What a value is, for a message (@usam/measures' one formatter). */
export const describe = describeValue;
/** A number for a message: short, but exact enough to recognise. */
export const show = describeValue;

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
      `${where}: ${what} must be a finite number${bound}${why}, got ${describe(value)}; pass ${what}${bound || ' as a finite number'}.`,
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
      `${where}: ${what} must be an integer ≥ ${min}${why}, got ${describe(value)}; pass ${what}: ${min} or more.`,
    );
  }
  return value;
}

/**
 * Checks that `options` is an object whose keys are all in `known`: a
 * misspelt option (`sample`, `learningRate`) is an error listing the valid
 * names, never silently ignored. Returns the options with explicit undefined
 * values dropped, so that defaults apply to them.
 */
export function checkOptions<T extends object>(
  where: string,
  options: T,
  known: readonly string[],
): T {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new OptimizerError(
      `${where}: pass an options object { params, base, … }, got ${describe(options)}.`,
    );
  }
  const unknown = Object.keys(options).filter((key) => !known.includes(key));
  if (unknown.length > 0) {
    const hint = unknown.includes('learningRate')
      ? ' (the learning rate belongs to base, e.g. base: tf.train.sgd(0.1), or call setLearningRate)'
      : '';
    throw new OptimizerError(
      `${where}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}${hint}; valid options are ${known.join(', ')}.`,
    );
  }
  const set = Object.entries(options).filter(([, value]) => value !== undefined);
  return Object.fromEntries(set) as T;
}
