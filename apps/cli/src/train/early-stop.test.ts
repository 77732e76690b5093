import { describe, expect, it } from 'vitest';
import { earlyStopEpoch } from './early-stop';

describe('earlyStopEpoch', () => {
  it('stops `patience` epochs after the last improvement by more than minDelta', () => {
    // Epoch 3 improves on 0.90 by 0.05; epochs 4–5 are within 0.001 of it; fires after epoch 5.
    expect(earlyStopEpoch([0.9, 0.9, 0.95, 0.9505, 0.95], 2, 0.001)).toEqual({
      epoch: 5,
      bestEpoch: 3,
      bestTestAccuracy: 0.95,
    });
    // One epoch short of the patience: keeps training.
    expect(earlyStopEpoch([0.9, 0.9, 0.95, 0.9505], 2, 0.001)).toBeUndefined();
  });

  it('counts gains of at most minDelta as no improvement, but lets small gains add up', () => {
    // Each step is +0.0006 ≤ δ = 0.001 over the reference 0.95, until 0.9512 exceeds it.
    expect(earlyStopEpoch([0.5, 0.95, 0.9506, 0.9512, 0.9512, 0.9512], 2, 0.001)).toEqual({
      epoch: 6,
      bestEpoch: 4,
      bestTestAccuracy: 0.9512,
    });
  });

  it('does not count the epochs before the first improvement (the initial plateau)', () => {
    const plateau = [0.1135, 0.1135, 0.1135, 0.1135, 0.1135, 0.1135];
    expect(earlyStopEpoch(plateau, 2, 0.001)).toBeUndefined();
    // Leaves the plateau at epoch 7, then flat: stops 2 epochs later.
    expect(earlyStopEpoch([...plateau, 0.6, 0.6, 0.6], 2, 0.001)?.epoch).toBe(9);
  });

  it('counts a fall in accuracy as no improvement', () => {
    expect(earlyStopEpoch([0.5, 0.9, 0.8, 0.7], 2, 0.001)?.epoch).toBe(4);
    expect(earlyStopEpoch([], 2, 0.001)).toBeUndefined();
  });
});
