import { describe, expect, it } from 'vitest';
import { createRng } from './rng';

describe('createRng', () => {
  it('repeats for a seed and differs across seeds', () => {
    const draw = (seed: number | string) => {
      const rng = createRng(seed);
      return Array.from({ length: 5 }, () => [rng.next(), rng.nextSeed()]);
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw('a')).toEqual(draw('a'));
    expect(draw(7)).not.toEqual(draw(8));
  });

  it('gives uniforms in [0, 1) with mean ½ and 31-bit integer seeds', () => {
    const rng = createRng(3);
    const n = 20_000;
    const u = Array.from({ length: n }, () => rng.next());
    expect(u.every((x) => x >= 0 && x < 1)).toBe(true);
    // Mean of n uniforms has sd √(1/12n) ≈ 0.002; 5 sd = 0.01.
    expect(Math.abs(u.reduce((a, b) => a + b, 0) / n - 0.5)).toBeLessThan(0.01);
    const seeds = Array.from({ length: 1000 }, () => rng.nextSeed());
    expect(seeds.every((s) => Number.isInteger(s) && s >= 0 && s < 2 ** 31)).toBe(true);
    expect(new Set(seeds).size).toBeGreaterThan(990);
  });

  it('rejects a non-finite numeric seed', () => {
    expect(() => createRng(Number.NaN)).toThrow(/seed must be a finite number/);
  });
});

describe('createRng state', () => {
  it('continues bit for bit from a saved position, in the same or a fresh rng, through JSON', () => {
    const a = createRng('s');
    for (let i = 0; i < 17; i++) a.next();
    const saved = JSON.parse(JSON.stringify(a.getState()));
    const expected = Array.from({ length: 8 }, () => [a.next(), a.nextSeed()]);
    const b = createRng(99);
    b.setState(saved);
    expect(Array.from({ length: 8 }, () => [b.next(), b.nextSeed()])).toEqual(expected);
    expect(() => b.setState({} as never)).toThrow(/setState needs a state/);
  });
});
