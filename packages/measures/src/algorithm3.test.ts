import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { coefficientRule, drawGroups, drawRound, summarizeDraws } from './algorithm3';
import { determinant, frobenius, hypercubeDeterminant, maxEigenvalue, trace } from './catalogue';
import { phi, psi } from './functions';
import { checkMeasure, defineMeasure, replaceSampler } from './measure';
import { explicitHvp, monteCarlo } from './monte-carlo';
import { createRng } from './rng';
import { fixed, gaussian } from './samplers';
import { quadraticLoss, zerothOrder } from './zeroth-order';

// Every expected value below is a hand-computed closed form; the engine works in
// float64, so 12–14 digits are asked where the arithmetic has a few roundings.
const noWeights = (d: number[][]) => d.map((row) => row.map(() => 0));
const det = hypercubeDeterminant(0.01);
const summarize = (measure: Parameters<typeof summarizeDraws>[0], d: number[][]) =>
  summarizeDraws(measure, { d, logWeights: noWeights(d) });

describe('summarizeDraws: Algorithm 3 (eq. 94)', () => {
  it('trace: every draw weighs 1/n and the estimate is the mean gap', () => {
    const out = summarize(trace('gaussian'), [[0.5, 1.5, 4]]);
    for (const c of out.coefficients) expect(c).toBeCloseTo(1 / 3, 14);
    expect(out.sharpness).toBeCloseTo(2, 14);
    expect(out.means[0]).toBeCloseTo(2, 14);
  });

  it('max eigenvalue (m groups, not shared): only the arg-max group gets 2/n', () => {
    const out = summarize(maxEigenvalue({ directions: 3 }), [
      [1, 1],
      [5, 3],
      [2, 2],
    ]);
    expect(out.coefficients).toEqual([0, 0, 1, 1, 0, 0]);
    expect(out.value).toBeCloseTo(8, 14);
  });

  it('importance weights multiply ψ and ψ′ (a Lebesgue μ)', () => {
    const out = summarizeDraws(trace('sphere'), {
      d: [[0.2, 0.4]],
      logWeights: [[Math.log(2), Math.log(3)]],
    });
    expect(out.coefficients[0]).toBeCloseTo(1, 14);
    expect(out.coefficients[1]).toBeCloseTo(1.5, 14);
    expect(out.value).toBeCloseTo((2 * 0.2 + 3 * 0.4) / 2, 14);
  });

  it("frobenius: φ(t̂) and ∂φ in the plain form; the step's coefficients in the unbiased covariance form", () => {
    const d = [[1, 2, 6]];
    const out = summarize(frobenius(), d);
    // t = (3, 41/3), φ = 2(41/3 − 9) = 28/3, ∂φ = (−4·3, 2).
    expect(out.value).toBeCloseTo(28 / 3, 12);
    expect(out.gradient).toEqual([-12, 2]);
    // Algorithm 2: c_i = 4(d_i − d̄)/(n − 1), estimate 2Σ(d_i − d̄)²/(n − 1) = 14.
    out.coefficients.forEach((c, i) => {
      expect(c).toBeCloseTo((4 * (d[0]![i]! - 3)) / 2, 12);
    });
    expect(out.sharpness).toBeCloseTo(14, 12);
  });

  it("a user's copy of the Frobenius triple gets Algorithm 3 (n/(n − 1) from the covariance form), and no rule can be attached to another measure", () => {
    const d = [[0.3, -1.2, 2.5]];
    const own = defineMeasure(frobenius());
    expect(coefficientRule(own)).toBe('algorithm 3');
    expect(coefficientRule(trace())).toBe('algorithm 3');
    expect(coefficientRule(frobenius())).toBe('covariance (Algorithm 2)');
    const general = summarize(own, d);
    const cov = summarize(frobenius(), d);
    cov.coefficients.forEach((c, i) => {
      expect(c).toBeCloseTo((general.coefficients[i]! * 3) / 2, 12);
    });
    // Replacing μ keeps (φ, ψ), hence the rule and n ≥ 2.
    const replaced = replaceSampler(frobenius(), fixed([[1, 2]]));
    expect(coefficientRule(replaced)).toBe('covariance (Algorithm 2)');
    expect(replaced.minSamples).toBe(2);
  });
});

describe('the coefficient rule is data on the measure', () => {
  it('a spread copy of frobenius() keeps its covariance form and gives the same estimate', () => {
    const q = [[0.3, -1.2, 2.5, 0.7]];
    const original = frobenius();
    const copy = { ...original };
    expect(copy.coefficientRule).toBe(original.coefficientRule);
    expect(coefficientRule(copy)).toBe('covariance (Algorithm 2)');
    const a = summarize(original, q);
    const b = summarize(copy, q);
    expect(b.coefficients).toEqual(a.coefficients);
    expect(b.sharpness).toBe(a.sharpness);
    // And the copy really uses the rule: Algorithm 3's coefficients are (n − 1)/n of these, n = 4.
    // Exact up to float64 rounding of sums of four terms of order 1: 1e-12 is ample.
    const general = summarize(defineMeasure(original), q);
    b.coefficients.forEach((c, i) => {
      expect(c).toBeCloseTo((general.coefficients[i]! * 4) / 3, 12);
    });
    // 2·Σ(q_i − q̄)²/(n − 1): q̄ = 0.575, Σ(q_i − q̄)² = 6.9475.
    expect(b.sharpness).toBeCloseTo((2 * 6.9475) / 3, 12);
  });

  it("a copy whose φ or ψ are not the rule's own is refused, not silently given the covariance form", () => {
    const swapped = { ...frobenius(), phi: trace().phi };
    expect(() => summarize(swapped, [[1, 2, 3]])).toThrow(
      /^summarizeDraws\(frobenius\): its coefficientRule 'covariance \(Algorithm 2\)' is for another φ or ψ; drop the field/,
    );
  });

  it('checkMeasure keeps a valid rule and refuses a wrong one at once', () => {
    const kept = checkMeasure({ ...frobenius() });
    expect(coefficientRule(kept)).toBe('covariance (Algorithm 2)');
    expect(coefficientRule(checkMeasure(trace()))).toBe('algorithm 3');
    expect(() => checkMeasure({ ...frobenius(), phi: trace().phi })).toThrow(
      /^checkMeasure\(frobenius\): its coefficientRule 'covariance \(Algorithm 2\)' is for another φ or ψ/,
    );
    expect(() => checkMeasure({ ...trace(), coefficientRule: 'fast' as never })).toThrow(
      /^checkMeasure\(trace \(sphere\)\): coefficientRule must be \{ name, phi, psi, compute\(draws\) \}, got 'fast'/,
    );
  });

  it('takes the quadratic forms as q, and as d (their old name)', () => {
    const q = [[0.5, 1.5, 4]];
    const measure = trace('gaussian');
    const logWeights = noWeights(q);
    expect(summarizeDraws(measure, { q, logWeights })).toEqual(
      summarizeDraws(measure, { d: q, logWeights }),
    );
    expect(summarizeDraws(measure, { q, logWeights }).value).toBeCloseTo(2, 14);
    expect(() => summarizeDraws(measure, { q, d: q, logWeights } as never)).toThrow(
      /got both q and d; pass q only/,
    );
  });
});

describe('drawRound: the one draw loop', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('draws n per group in order, weighs each, and frees every v when the consumer moves on or stops', () => {
    const shapes = [[2], [1]];
    const groups = drawGroups(trace('gaussian'));
    const round = { shapes, n: 3, rng: createRng(5), dimension: 3 };
    const before = tf.memory().numTensors;
    const seen: tf.Tensor[] = [];
    for (const { group, v, logWeight } of drawRound(groups, round, () => {})) {
      expect(group).toBe(0);
      expect(logWeight).toBe(0); // N(0, I) is a probability
      expect(v.map((t) => t.shape)).toEqual(shapes);
      seen.push(...v);
    }
    expect(seen).toHaveLength(6);
    expect(seen.every((t) => t.isDisposed)).toBe(true);
    // The same stream as drawing directly from μ.
    const direct = createRng(5);
    const first = gaussian().sample(shapes, direct);
    const generator = drawRound(groups, { ...round, rng: createRng(5) }, () => {});
    const again = generator.next().value!;
    expect(again.v.map((t) => Array.from(t.dataSync()))).toEqual(
      first.map((t) => Array.from(t.dataSync())),
    );
    generator.return();
    expect(again.v.every((t) => t.isDisposed)).toBe(true);
    tf.dispose(first);
    // Stopping early (break, or an error in the consumer) frees the current v.
    for (const { v } of drawRound(groups, round, () => {})) {
      seen.push(...v);
      break;
    }
    expect(seen.slice(6).every((t) => t.isDisposed)).toBe(true);
    const refuse = () => {
      throw new Error('bad shapes');
    };
    expect(() => [...drawRound(groups, round, refuse)]).toThrow('bad shapes');
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('summarizeDraws: log space', () => {
  it("Det-SAM's ψ = e^{−t}, φ = 1/t²: c_i = (2/n)e^{−d_i}/t̄³ for gaps from −100 to 100", () => {
    for (const d of [[[-3, 0.5, 2, 7]], [[-100, -50, 0, 50, 100]], [[100, 100]], [[-100]]]) {
      const row = d[0]!;
      const n = row.length;
      const out = summarize(det, d);
      // Reference in float64 with the max pulled out by hand: e^{−d_i}/t̄³ = e^{−d_i−3M}/w̄³.
      const M = Math.max(...row.map((x) => -x));
      const wbar = row.reduce((s, x) => s + Math.exp(-x - M), 0) / n;
      row.forEach((x, i) => {
        const expected = ((2 / n) * Math.exp(-x - 3 * M)) / wbar ** 3;
        expect(out.coefficients[i]! / expected).toBeCloseTo(1, 12);
      });
      expect(out.value / (Math.exp(-2 * M) / wbar ** 2)).toBeCloseTo(1, 12);
    }
  });

  it('returns ±∞ (never NaN) only where c itself is beyond float64', () => {
    const out = summarize(det, [[1e4]]);
    expect(out.coefficients[0]).toBe(Number.POSITIVE_INFINITY);
    expect(summarize(det, [[-1e4]]).coefficients[0]).toBe(0);
  });

  it('the determinant row at d = 600 with Lebesgue weights: finite coefficients equal to the closed form', () => {
    // Lebesgue through N(0, I): log w = (d/2)log 2π + ‖v‖²/2 ≈ 851 at d = 600,
    // so w and (2π)^d both overflow float64. One draw: t̂ = w·e^{−q}, φ = (2π)^d/t̂²,
    // c = ∂φ·w·ψ' = 2(2π)^d/(w²e^{−2q}), i.e. exp(d·log2π + 2q − 2 log w).
    const d = 600;
    const measure = determinant(d);
    const q = 0.7;
    const logW = (d / 2) * Math.log(2 * Math.PI) + 300;
    const out = summarizeDraws(measure, { d: [[q]], logWeights: [[logW]] });
    const expected = 2 * Math.exp(d * Math.log(2 * Math.PI) + 2 * q - 2 * logW);
    expect(Number.isFinite(expected)).toBe(true);
    expect(out.coefficients[0]! / expected).toBeCloseTo(1, 10);
    expect(out.value / (expected / 2)).toBeCloseTo(1, 10);
  });
});

describe('fewest samples', () => {
  it('is a property of the measure: 2 for frobenius and shared m ≥ 2, else 1', () => {
    expect(frobenius().minSamples).toBe(2);
    expect(trace().minSamples).toBe(1);
    expect(det.minSamples).toBe(1);
    expect(maxEigenvalue({ directions: 3 }).minSamples).toBe(1);
    const mu = gaussian();
    const shared = defineMeasure({
      name: 'two',
      components: [
        { mu, psi: psi.identity },
        { mu, psi: psi.power(3) },
      ],
      phi: phi.variance,
    });
    expect(shared.minSamples).toBe(2);
  });

  it('is enforced by monteCarlo and zerothOrder', async () => {
    const three = defineMeasure({ ...trace(), name: 'three', minSamples: 3 });
    const options = { shapes: [[2]], samples: 2 };
    await expect(
      monteCarlo(
        three,
        explicitHvp([
          [1, 0],
          [0, 1],
        ]),
        options,
      ),
    ).rejects.toThrow(/samples must be an integer ≥ 3 \(measure 'three' needs 3/);
    await expect(
      zerothOrder(
        three,
        quadraticLoss([
          [1, 0],
          [0, 1],
        ]),
        { ...options, rho: 0.1 },
      ),
    ).rejects.toThrow(/≥ 3/);
  });
});
