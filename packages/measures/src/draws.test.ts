import { describe, expect, it } from 'vitest';
import { normals, uniforms } from './draws';
import { createRng } from './rng';

/** Φ, the standard normal CDF, by Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const poly =
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  const erf = 1 - poly * Math.exp(-z * z);
  return 0.5 * (1 + (x >= 0 ? erf : -erf));
}

/** Kolmogorov–Smirnov distance of a sample from a CDF. */
function ksDistance(sample: Float32Array, cdf: (x: number) => number): number {
  const sorted = Float64Array.from(sample).sort();
  const n = sorted.length;
  let d = 0;
  sorted.forEach((x, i) => {
    const c = cdf(x);
    d = Math.max(d, Math.abs(c - i / n), Math.abs(c - (i + 1) / n));
  });
  return d;
}

const N = 200_000;
// The KS distance of n true draws exceeds 1.95/√n with probability 0.1%.
const KS_LIMIT = 1.95 / Math.sqrt(N);

describe('uniforms', () => {
  it('lie in (0, 1], follow U(0, 1) (KS), and repeat for a seed only', () => {
    const u = uniforms(N, createRng(1));
    expect(u.every((x) => x > 0 && x <= 1)).toBe(true);
    expect(ksDistance(u, (x) => Math.min(Math.max(x, 0), 1))).toBeLessThan(KS_LIMIT);
    expect(uniforms(100, createRng(1))).toEqual(u.subarray(0, 100));
    expect(uniforms(100, createRng(2))).not.toEqual(u.subarray(0, 100));
  });

  it('with a half-width h, are h(2u − 1) of the same stream, bit for bit (the hypercube sampler)', () => {
    const h = 0.01;
    const mapped = uniforms(1000, createRng(5)).map((u) => h * (2 * u - 1));
    expect(uniforms(1000, createRng(5), h)).toEqual(mapped);
  });

  it('consecutive values are uncorrelated (lag-1 correlation within 4.5/√n)', () => {
    const u = uniforms(N, createRng(3));
    let sxy = 0;
    for (let i = 1; i < N; i++) sxy += (u[i]! - 0.5) * (u[i - 1]! - 0.5);
    expect(Math.abs((12 * sxy) / (N - 1))).toBeLessThan(4.5 / Math.sqrt(N));
  });
});

describe('normals (ziggurat)', () => {
  const z = normals(N, createRng(4));

  it('follow N(0, 1): KS distance from Φ below the 0.1% critical value', () => {
    expect(ksDistance(z, normalCdf)).toBeLessThan(KS_LIMIT);
  });

  it('have mean 0, variance 1 and kurtosis 3 (each within 5 standard errors)', () => {
    let m1 = 0;
    let m2 = 0;
    let m4 = 0;
    for (const x of z) {
      m1 += x;
      m2 += x * x;
      m4 += x ** 4;
    }
    // Standard errors of the sample moments of N(0,1): √(1/n), √(2/n), √(96/n).
    expect(Math.abs(m1 / N)).toBeLessThan(5 * Math.sqrt(1 / N));
    expect(Math.abs(m2 / N - 1)).toBeLessThan(5 * Math.sqrt(2 / N));
    expect(Math.abs(m4 / N - 3)).toBeLessThan(5 * Math.sqrt(96 / N));
  });

  it('reach the tails beyond the base layer (R = 3.44) at the normal rate', () => {
    // P(|x| > 3.5) = 4.65e-4: 93 expected in 200k, sd 9.6.
    const far = z.filter((x) => Math.abs(x) > 3.5).length;
    expect(Math.abs(far - N * 4.6525e-4)).toBeLessThan(5 * Math.sqrt(N * 4.6525e-4));
    // The wedges: P(1 < |x| < 1.2) tests the region between layers.
    const band = z.filter((x) => Math.abs(x) > 1 && Math.abs(x) < 1.2).length / N;
    const expected = 2 * (normalCdf(1.2) - normalCdf(1));
    expect(Math.abs(band - expected)).toBeLessThan(5 * Math.sqrt(expected / N));
  });

  it('are uncorrelated with the next draw, and with its square (index/value independence)', () => {
    let a = 0;
    let b = 0;
    for (let i = 1; i < N; i++) {
      a += z[i]! * z[i - 1]!;
      b += (z[i]! ** 2 - 1) * (z[i - 1]! ** 2 - 1);
    }
    // sd of the lag-1 sums: √n for z·z, √(2·2·n) for the centred squares.
    expect(Math.abs(a)).toBeLessThan(5 * Math.sqrt(N));
    expect(Math.abs(b)).toBeLessThan(5 * 2 * Math.sqrt(N));
  });

  it('repeat for a seed, differ for another', () => {
    expect(normals(50, createRng(4))).toEqual(z.subarray(0, 50));
    expect(normals(50, createRng(5))).not.toEqual(z.subarray(0, 50));
  });
});
