import seedrandom from 'seedrandom';
import { MeasureError } from './errors.js';
import type { Rng } from './types.js';

/**
 * A seeded `Rng` (seedrandom's alea, the generator tfjs's own seeded ops use).
 * The same seed gives the same stream, so every evaluator is deterministic.
 */
export function createRng(seed: number | string = 0): Rng {
  if (typeof seed === 'number' && !Number.isFinite(seed)) {
    throw new MeasureError(`createRng: seed must be a finite number or a string, got ${seed}.`);
  }
  const prng = seedrandom.alea(String(seed));
  return {
    next: () => prng(),
    // tfjs stringifies a numeric seed into its own alea; any 31-bit value is fine.
    nextSeed: () => prng.int32() >>> 1,
  };
}
