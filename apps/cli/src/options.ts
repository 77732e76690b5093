import { InvalidArgumentError } from 'commander';

/** Commander parser for an integer option within bounds, with a one-line error. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`expected an integer in [${min}, ${max}], got '${raw}'.`);
    }
    return value;
  };
}

/** Commander parser for a number (ranges are checked where the option is resolved). */
export function numberArg(raw: string): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value)) {
    throw new InvalidArgumentError(`expected a number, got '${raw}'.`);
  }
  return value;
}

/** Commander parser for a comma-separated list, each item parsed by `item`. */
export function listArg<T>(item: (raw: string) => T) {
  return (raw: string): T[] =>
    raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .map(item);
}
