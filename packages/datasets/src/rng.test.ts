import { describe, expect, it } from 'vitest';
import { DatasetError } from './errors';
import { createRandom, hashWords, permutation, requireSeed } from './rng';

describe('seeded generator', () => {
  it('repeats for the same words and differs for other seeds or streams', () => {
    const draw = (words: number[]) => {
      const random = createRandom(words);
      return Array.from({ length: 5 }, random);
    };
    expect(draw([1, 2])).toEqual(draw([1, 2]));
    expect(draw([1, 2])).not.toEqual(draw([2, 2]));
    expect(draw([1, 2])).not.toEqual(draw([1, 3]));
    expect(hashWords([1, 2])).not.toBe(hashWords([2, 1]));
  });

  it('draws uniformly in [0, 1) (10 bins, 20,000 draws)', () => {
    const random = createRandom([7]);
    const bins = new Array(10).fill(0);
    for (let i = 0; i < 20000; i++) {
      const u = random();
      expect(u >= 0 && u < 1).toBe(true);
      bins[Math.floor(u * 10)]++;
    }
    const chi2 = bins.reduce((s, b) => s + (b - 2000) ** 2 / 2000, 0);
    expect(chi2).toBeLessThan(27.9); // χ²(9) at p = 0.001
  });

  it('permutes 0..n−1', () => {
    const p = permutation(1000, createRandom([3]));
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(p)).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('takes seeds in [0, 2³² − 1] only', () => {
    expect(requireSeed('x', 0)).toBe(0);
    expect(requireSeed('x', 0xffffffff)).toBe(0xffffffff);
    for (const bad of [-1, 1.5, 2 ** 32, Number.NaN]) {
      expect(() => requireSeed('x', bad)).toThrow(DatasetError);
    }
    expect(() => requireSeed('x', -1)).toThrow(
      /seed must be an integer in \[0, 4294967295\], got -1/,
    );
  });
});
