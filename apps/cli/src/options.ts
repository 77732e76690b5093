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
