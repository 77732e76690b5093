import seedrandom from 'seedrandom';
import { MeasureError, show } from './errors';
import type { Rng } from './types';

/** Where a `SeededRng` is in its stream: alea's state, plain JSON. */
export interface RngState {
  readonly c: number;
  readonly s0: number;
  readonly s1: number;
  readonly s2: number;
}

/** An `Rng` whose position can be saved and restored (for checkpoints). */
export interface SeededRng extends Rng {
  /** The current position, to pass to `setState` (here or in a fresh rng). */
  getState(): RngState;
  /** Continues from a saved position. */
  setState(state: RngState): void;
}

const isState = (s: unknown): s is RngState =>
  typeof s === 'object' &&
  s !== null &&
  ['c', 's0', 's1', 's2'].every((k) => Number.isFinite((s as Record<string, unknown>)[k]));

/**
 * A seeded `Rng` (seedrandom's alea, the generator tfjs's own seeded ops use).
 * The same seed gives the same stream, so every evaluator is deterministic;
 * `getState`/`setState` save and restore the position.
 */
export function createRng(seed: number | string = 0): SeededRng {
  const valid = typeof seed === 'string' || (typeof seed === 'number' && Number.isFinite(seed));
  if (!valid) {
    throw new MeasureError(
      `createRng: seed must be a finite number or a string, got ${show(seed)}; pass e.g. createRng(0).`,
    );
  }
  let prng = seedrandom.alea(String(seed), { state: true });
  return {
    next: () => prng(),
    // tfjs stringifies a numeric seed into its own alea; any 31-bit value is fine.
    nextSeed: () => prng.int32() >>> 1,
    getState: () => ({ ...prng.state() }),
    setState: (state) => {
      if (!isState(state)) {
        throw new MeasureError(
          'createRng: setState needs a state from getState() ({ c, s0, s1, s2 }, finite numbers).',
        );
      }
      prng = seedrandom.alea('', { state: { ...state } });
    },
  };
}
