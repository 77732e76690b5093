import { describe, expect, it } from 'vitest';
import { phi, psi } from './functions';

/** Central difference; with h = 1e-5 its error is ~h²·f''' ≈ 1e-10 here, round-off ~1e-11/h. */
const slope = (f: (t: number) => number, t: number, h = 1e-5) => (f(t + h) - f(t - h)) / (2 * h);

describe('ψ building blocks', () => {
  it('have the stated values and derivatives', () => {
    const cases = [
      [psi.identity, (t: number) => t],
      [psi.power(1), (t: number) => t],
      [psi.power(3), (t: number) => t ** 3],
      [psi.exp(-1), (t: number) => Math.exp(-t)],
      [psi.exp(0.3), (t: number) => Math.exp(0.3 * t)],
    ] as const;
    for (const [f, expected] of cases) {
      for (const t of [-1.3, 0, 0.4, 2]) {
        expect(f.value(t)).toBeCloseTo(expected(t), 12);
        expect(f.derivative(t)).toBeCloseTo(slope(f.value, t), 6);
      }
    }
    expect(psi.exp(-1).name).toBe('exp(−t)');
  });

  it('reject n that is not an integer ≥ 1 and non-finite σ', () => {
    expect(() => psi.power(0)).toThrow(/n must be an integer ≥ 1, got 0/);
    expect(() => psi.power(2.5)).toThrow(/n must be an integer ≥ 1, got 2.5/);
    expect(() => psi.exp(Number.POSITIVE_INFINITY)).toThrow(/σ must be a finite number/);
  });
});

describe('φ building blocks', () => {
  const numericGradient = (f: (t: readonly number[]) => number, t: readonly number[]) =>
    t.map((_, i) => slope((x) => f(t.map((y, j) => (j === i ? x : y))), t[i]!));

  it('have the stated values and gradients', () => {
    expect(phi.identity.value([3])).toBe(3);
    expect(phi.max(2).value([1, 4, -2])).toBe(8);
    expect(phi.max(2).gradient([1, 4, -2])).toEqual([0, 2, 0]);
    expect(phi.variance.value([1, 3])).toBe(4);
    expect(phi.inverseSquare().value([0.5])).toBeCloseTo(4, 12);
    for (const [f, t] of [
      [phi.variance, [0.7, 2.1]],
      [phi.inverseSquare(), [0.8]],
      [phi.inverseSquare(Math.log(3)), [1.7]],
    ] as const) {
      const g = f.gradient(t);
      numericGradient(f.value, t).forEach((x, i) => {
        expect(g[i]).toBeCloseTo(x, 5);
      });
    }
  });

  it('inverseSquare keeps c/t² finite when c alone overflows', () => {
    // d = 500: c = (2π)^500 ≈ 1e399 is past double range, t = √(c/2) ≈ 1e199 is not, c/t² = 2.
    const logC = 500 * Math.log(2 * Math.PI);
    expect(Math.exp(logC)).toBe(Number.POSITIVE_INFINITY);
    expect(phi.inverseSquare(logC).value([Math.exp(logC / 2) / Math.SQRT2])).toBeCloseTo(2, 8);
  });

  it('check the number of arguments', () => {
    expect(() => phi.identity.value([1, 2])).toThrow(/takes 1 argument\(s\), got 2/);
    expect(() => phi.variance.value([1])).toThrow(/takes 2 argument\(s\), got 1/);
    expect(() => phi.max().value([])).toThrow(/at least one argument/);
  });
});
