import { describe, expect, it } from 'vitest';
import { createPlan } from '../reproduce/plan';
import { divergenceWarnings } from '../reproduce/warnings';
import { knownDivergence } from './divergence';

describe('knownDivergence', () => {
  it('warns for the Frob-SAM settings measured to diverge, not for those measured to train', () => {
    // Diverged (lr·4λ/ρ² = 1, 2, 20).
    for (const [lr, lambda] of [
      [0.02, 0.00125],
      [0.02, 0.0025],
      [0.05, 0.01],
    ] as const) {
      expect(knownDivergence({ optimizer: 'frob-sam', lr, lambda, rho: 0.01 })).toMatch(
        /lr·4λ\/ρ² = \d+(\.\d+)? ≥ 1: such settings diverged/,
      );
    }
    // Trained (0.5; Figure 2's 0.1).
    expect(knownDivergence({ optimizer: 'frob-sam', lr: 0.05, lambda: 0.00025, rho: 0.01 })).toBe(
      undefined,
    );
    expect(knownDivergence({ optimizer: 'frob-sam', lr: 0.001, lambda: 0.0025, rho: 0.01 })).toBe(
      undefined,
    );
    expect(knownDivergence({ optimizer: 'sam', lr: 10, lambda: 1, rho: 0.05 })).toBe(undefined);
  });

  it('finds nothing to warn about in the default job, which trains at lr 0.001', () => {
    expect(divergenceWarnings(createPlan('quick').runs)).toEqual([]);
    expect(divergenceWarnings(createPlan('full').runs)).toEqual([]);
  });
});
