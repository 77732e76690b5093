import {
  defineMeasure,
  frobenius,
  hypercube,
  maxEigenvalue,
  phi,
  psi,
  trace,
} from '@usam/measures';
import { describe, expect, it } from 'vitest';
import { algorithm3, COEFFICIENT_LIMIT, covariance, logSpace } from './coefficients';

const noWeights = (d: number[][]) => d.map((row) => row.map(() => 0));
const detMeasure = defineMeasure({
  name: 'det',
  components: [{ mu: hypercube(0.01), psi: psi.exp(-1) }],
  phi: phi.inverseSquare(),
});

describe('algorithm3 (eq. 94)', () => {
  it('trace: every draw weighs 1/n and the estimate is the mean gap', () => {
    const d = [[0.5, 1.5, 4]];
    const out = algorithm3.compute({ d, logWeights: noWeights(d) }, trace('gaussian'));
    expect(out.coefficients).toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(out.estimate).toBeCloseTo(2, 14);
  });

  it('frobenius with shared draws: c_i = (∂₁φ·1 + ∂₂φ·2d_i)/n = 4(d_i − d̄)/n', () => {
    const d = [[1, 2, 6]];
    const out = algorithm3.compute({ d, logWeights: noWeights(d) }, frobenius());
    // t = (3, 41/3), φ = 2(41/3 − 9) = 28/3.
    expect(out.estimate).toBeCloseTo(28 / 3, 12);
    out.coefficients.forEach((c, i) => {
      expect(c).toBeCloseTo((4 * (d[0]![i]! - 3)) / 3, 12);
    });
  });

  it('max eigenvalue (m groups, not shared): only the arg-max group gets 2/n', () => {
    const measure = maxEigenvalue({ directions: 3 });
    const d = [
      [1, 1],
      [5, 3],
      [2, 2],
    ];
    const out = algorithm3.compute({ d, logWeights: noWeights(d) }, measure);
    expect(out.coefficients).toEqual([0, 0, 1, 1, 0, 0]);
    expect(out.estimate).toBe(8);
  });

  it('importance weights multiply ψ and ψ′ (a Lebesgue μ)', () => {
    const d = [[0.2, 0.4]];
    const logWeights = [[Math.log(2), Math.log(3)]];
    const out = algorithm3.compute({ d, logWeights }, trace('sphere'));
    expect(out.coefficients[0]).toBeCloseTo(1, 14);
    expect(out.coefficients[1]).toBeCloseTo(1.5, 14);
    expect(out.estimate).toBeCloseTo((2 * 0.2 + 3 * 0.4) / 2, 14);
  });

  it('clips and counts coefficients beyond the float32-safe limit', () => {
    const d = [[300, 310]];
    const out = algorithm3.compute({ d, logWeights: noWeights(d) }, detMeasure);
    expect(out.clipped).toBe(2);
    expect(out.coefficients).toEqual([COEFFICIENT_LIMIT, COEFFICIENT_LIMIT]);
  });
});

describe('covariance (Algorithm 2)', () => {
  it('is Algorithm 3 on the Frobenius triple times n/(n − 1) (unbiased ĉov)', () => {
    for (const d of [[[0.3, -1.2]], [[2, 7, -3, 0.5, 11]]]) {
      const n = d[0]!.length;
      const general = algorithm3.compute({ d, logWeights: noWeights(d) }, frobenius());
      const cov = covariance.compute({ d, logWeights: noWeights(d) }, frobenius());
      cov.coefficients.forEach((c, i) => {
        expect(c).toBeCloseTo((general.coefficients[i]! * n) / (n - 1), 12);
      });
      expect(cov.estimate).toBeCloseTo((general.estimate * n) / (n - 1), 10);
    }
  });

  it('does not depend on the clean loss (only on L_i − L̄)', () => {
    const a = covariance.compute({ d: [[1, 4, 9]], logWeights: [[0, 0, 0]] }, frobenius());
    const b = covariance.compute({ d: [[101, 104, 109]], logWeights: [[0, 0, 0]] }, frobenius());
    b.coefficients.forEach((c, i) => {
      expect(c).toBeCloseTo(a.coefficients[i]!, 12);
    });
  });
});

describe('logSpace (Det-SAM)', () => {
  it('equals Algorithm 3 on ψ = exp(−t), φ = 1/t² where both are representable', () => {
    const d = [[-3, 0.5, 2, 7]];
    const general = algorithm3.compute({ d, logWeights: noWeights(d) }, detMeasure);
    const log = logSpace.compute({ d, logWeights: noWeights(d) }, detMeasure);
    log.coefficients.forEach((c, i) => {
      expect(c).toBeCloseTo(general.coefficients[i]!, 10);
    });
    expect(log.estimate / general.estimate).toBeCloseTo(1, 12);
  });

  it('stays finite for gaps from −1e4 to +1e4, clipping where c exceeds float32 range', () => {
    for (const d of [
      [[-100, -50, 0, 50, 100]],
      [[100, 100]],
      [[-100, -100]],
      [[-1e4, 1e4]],
      [[1e4]],
      [[-1e4]],
    ]) {
      const out = logSpace.compute({ d, logWeights: noWeights(d) }, detMeasure);
      expect(out.coefficients.every(Number.isFinite)).toBe(true);
      expect(out.coefficients.every((c) => c >= 0 && c <= COEFFICIENT_LIMIT)).toBe(true);
    }
    // All gaps +100: c = 2e^{200} > limit (clipped); all −100: c = 2e^{−200}, tiny but positive.
    expect(logSpace.compute({ d: [[100]], logWeights: [[0]] }, detMeasure).clipped).toBe(1);
    const small = logSpace.compute({ d: [[-100]], logWeights: [[0]] }, detMeasure);
    expect(small.clipped).toBe(0);
    expect(small.coefficients[0]! / (2 * Math.exp(-200))).toBeCloseTo(1, 12);
    // Where the plain form meets 0·∞ the log form does not.
    expect(
      Number.isNaN(
        algorithm3.compute({ d: [[1e4]], logWeights: [[0]] }, detMeasure).coefficients[0],
      ),
    ).toBe(true);
  });
});
