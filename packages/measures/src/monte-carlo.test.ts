import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { determinant, frobenius, maxEigenvalue, polynomial, product, trace } from './catalogue';
import { exact } from './exact';
import { phi, psi } from './functions';
import { defineMeasure } from './measure';
import { explicitHvp, monteCarlo } from './monte-carlo';
import { createRng } from './rng';
import { fixed, gaussian, sphere } from './samplers';
import { cases, halfQuadratic, linspace, withSpectrum } from './test-helpers';
import type { Measure } from './types';

beforeAll(async () => {
  await initBackend('cpu');
});

/**
 * k = 5 standard errors: for a correct estimator the two-sided normal tail is
 * 6e-7 per comparison, negligible over the ~30 comparisons here, and it leaves
 * room for the standard error itself being estimated from the same n draws and
 * for skew at n = 4000 (the exp-ψ rows). The guard k·SE < 25% of |S| makes each
 * comparison able to catch a wrong constant (a lost ½ is a 50% error).
 */
const K = 5;
const N = 4000;

describe('monteCarlo agrees with the closed forms (d = 2..50)', () => {
  for (const [name, { measure, spectrum }] of Object.entries(cases)) {
    for (const d of [2, 5, 20, 50]) {
      it(`${name}, d = ${d}`, async () => {
        const H = withSpectrum(spectrum(d), d);
        const m = measure(d);
        const truth = exact(m, H);
        const result = await monteCarlo(m, explicitHvp(H), { shapes: [[d]], samples: N, seed: d });
        expect(K * result.standardError).toBeLessThan(0.25 * Math.abs(truth));
        expect(Math.abs(result.value - truth)).toBeLessThan(K * result.standardError);
      });
    }
  }
});

describe('monteCarlo', () => {
  it('splits v across parameter-shaped tensors (sphere of the whole vector)', async () => {
    // d = 6 + 4 + 1 = 11; the sphere is over the concatenation, so S = tr(H)/(2·11).
    const shapes = [[2, 3], [4], [1]];
    const H = withSpectrum(linspace(-1, 3, 11), 3);
    for (const m of [trace('sphere'), determinant(11, { scale: 1 })]) {
      const spectrumH = m.name === 'determinant' ? withSpectrum(linspace(0.8, 1.25, 11), 4) : H;
      const truth = exact(m, spectrumH);
      const result = await monteCarlo(m, explicitHvp(spectrumH), {
        shapes,
        samples: 2000,
        seed: 1,
      });
      expect(Math.abs(result.value - truth)).toBeLessThan(K * result.standardError);
    }
  });

  it('is deterministic for a seed and reports means, probes and evaluations consistently', async () => {
    const H = withSpectrum(linspace(-2, 2, 5), 2);
    const options = { shapes: [[5]], samples: 50, seed: 'fixed' };
    const a = await monteCarlo(frobenius(), explicitHvp(H), options);
    const b = await monteCarlo(frobenius(), explicitHvp(H), options);
    expect(b).toEqual(a);
    // Shared samples: n probes serving both components, n HVPs.
    expect(a.probes).toHaveLength(50);
    expect(a.evaluations).toBe(50);
    expect(a.probes[0]!.components).toEqual([0, 1]);
    const mean = (k: number) => a.probes.reduce((s, p) => s + p.values[k]!, 0) / 50;
    expect(a.means[0]).toBeCloseTo(mean(0), 12);
    expect(a.means[1]).toBeCloseTo(mean(1), 12);
    for (const p of a.probes) expect(p.values[1]).toBeCloseTo(p.q * p.q, 10);
    expect(a.value).toBeCloseTo(2 * (a.means[1]! - a.means[0]! ** 2), 10);
    // Separate samples: n per component.
    const separate = await monteCarlo(maxEigenvalue({ directions: 3 }), explicitHvp(H), options);
    expect(separate.probes).toHaveLength(150);
    expect(separate.evaluations).toBe(150);
    const other = await monteCarlo(frobenius(), explicitHvp(H), { ...options, seed: 'other' });
    expect(other.value).not.toBe(a.value);
  });

  it('continues a caller-supplied rng', async () => {
    const H = [
      [1, 0],
      [0, 2],
    ];
    const rng = createRng(9);
    const first = await monteCarlo(trace('gaussian'), explicitHvp(H), {
      shapes: [[2]],
      samples: 5,
      rng,
    });
    const second = await monteCarlo(trace('gaussian'), explicitHvp(H), {
      shapes: [[2]],
      samples: 5,
      rng,
    });
    expect(second.value).not.toBe(first.value);
  });

  it('computes exactly the injected perturbations of a fixed sampler', async () => {
    // μ = uniform on {e₁, e₂, (e₁+e₂)/√2}: t = mean of ½vᵀHv over those three, exactly.
    const H = [
      [2, 0.5],
      [0.5, -1],
    ];
    const vectors = [
      [1, 0],
      [0, 1],
      [Math.SQRT1_2, Math.SQRT1_2],
    ];
    const m = defineMeasure({
      name: 'fixed trace',
      components: [{ mu: fixed(vectors), psi: psi.identity }],
      phi: phi.identity,
    });
    const result = await monteCarlo(m, explicitHvp(H), { shapes: [[2]], samples: 3 });
    const expected = vectors.reduce((s, v) => s + halfQuadratic(H, v), 0) / 3;
    // float32 HVP: relative error ~1e-7.
    expect(result.value).toBeCloseTo(expected, 6);
    expect(result.probes.map((p) => p.q)).toEqual(
      vectors.map((v) => expect.closeTo(halfQuadratic(H, v), 6)),
    );
  });

  it('max eigenvalue: the largest Rayleigh quotient over its m directions, below λ_max, converging as m grows', async () => {
    const d = 5;
    const lambda = linspace(-1, 3, d);
    const H = withSpectrum(lambda, 8);
    const m = maxEigenvalue({ directions: 12, seed: 3 });
    const result = await monteCarlo(m, explicitHvp(H), { shapes: [[d]], samples: 2 });
    // The same directions, read straight from the measure, in doubles.
    const quotients = m.components.map((c) => {
      const [u] = c.mu.sample([[d]], createRng(0));
      const flat = Array.from(u!.dataSync());
      u!.dispose();
      return 2 * halfQuadratic(H, flat);
    });
    expect(result.value).toBeCloseTo(Math.max(...quotients), 5);
    expect(result.value).toBeLessThan(3);
    // Every draw of δ_u is u: no sampling variance, the error is all bias.
    expect(result.standardError).toBe(0);
    // d = 2: 256 random directions leave an angular gap of ~π/256 at most in practice,
    // so the bias (λ₁ − λ₂)·sin²(gap) is below 1e-3.
    const H2 = withSpectrum([-1, 2], 1);
    const many = await monteCarlo(maxEigenvalue({ directions: 256 }), explicitHvp(H2), {
      shapes: [[2]],
      samples: 2,
    });
    expect(many.value).toBeLessThanOrEqual(2 + 1e-5);
    expect(many.value).toBeGreaterThan(2 - 1e-3);
  });

  it('its standard error matches the spread of independent replicates (delta method)', async () => {
    // 40 replicates of n = 100: the replicates' sd is known to ±11% (1/√(2·39)), so
    // [0.65, 1.5] × the mean reported SE is a > 3-sd band around a correct SE.
    const d = 5;
    for (const [m, H] of [
      [frobenius(), withSpectrum(linspace(-2, 2, d), 1)],
      [product(0.1), withSpectrum(linspace(-2, 2, d), 1)],
    ] as const) {
      const values: number[] = [];
      const errors: number[] = [];
      for (let r = 0; r < 40; r++) {
        const result = await monteCarlo(m, explicitHvp(H), {
          shapes: [[d]],
          samples: 100,
          seed: `rep${r}`,
        });
        values.push(result.value);
        errors.push(result.standardError);
      }
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const sd = Math.sqrt(values.reduce((a, x) => a + (x - mean) ** 2, 0) / (values.length - 1));
      const reported = errors.reduce((a, b) => a + b, 0) / errors.length;
      expect(sd / reported).toBeGreaterThan(0.65);
      expect(sd / reported).toBeLessThan(1.5);
    }
  });

  it('integrates a truncated Lebesgue measure through a hypercube proposal', async () => {
    // Cube [−4, 4]²: the Gaussian mass outside it is ~1e-4 of the integral, far below
    // the SE, so S ≈ det H. Uniform proposals are noisy (relative sd ≈ 2.5 per draw);
    // a 50% guard still catches a wrong volume (2h)^d, which is a factor ≥ 4 here.
    const H = [
      [1, 0.2],
      [0.2, 2],
    ];
    const m = determinant(2, { proposal: 'hypercube', halfWidth: 4 });
    const result = await monteCarlo(m, explicitHvp(H), { shapes: [[2]], samples: N, seed: 2 });
    expect(Math.abs(result.value - 1.96)).toBeLessThan(K * result.standardError);
    expect(K * result.standardError).toBeLessThan(0.5 * 1.96);
  });

  it('leaks no tensors over many evaluations', async () => {
    const d = 4;
    const H = withSpectrum(linspace(0.8, 1.25, d), 1);
    const hvp = explicitHvp(H);
    const measures = [
      trace('sphere'),
      trace('gaussian'),
      frobenius(),
      maxEigenvalue({ directions: 3 }),
      determinant(d),
      polynomial(2),
      product(0.1),
    ];
    await monteCarlo(measures[0]!, hvp, { shapes: [[d]], samples: 2 }); // warm-up
    const before = tf.memory().numTensors;
    for (let round = 0; round < 5; round++) {
      for (const m of measures)
        await monteCarlo(m, hvp, { shapes: [[1], [d - 1]], samples: 20, seed: round });
    }
    // An hvp that returns v itself (H = I) must not make us dispose v early.
    await monteCarlo(determinant(d), (v) => v, { shapes: [[d]], samples: 20 });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad input with one-line fixes, disposing what it drew', async () => {
    const H = [
      [1, 0],
      [0, 1],
    ];
    const hvp = explicitHvp(H);
    const before = tf.memory().numTensors;
    const run = (options: object, m: Measure = trace(), h = hvp) =>
      monteCarlo(m, h, { shapes: [[2]], samples: 10, ...options });
    await expect(run({ samples: 1 })).rejects.toThrow(
      /samples must be an integer ≥ 2 \(a standard error needs two draws\), got 1/,
    );
    await expect(run({ samples: 2.5 })).rejects.toThrow(/samples must be an integer ≥ 2/);
    await expect(run({ shapes: [] })).rejects.toThrow(/shapes must be a non-empty list/);
    await expect(run({ shapes: [[3]] })).rejects.toThrow(
      /v has 3 entries but H is 2×2; dimension mismatch/,
    );
    await expect(run({}, determinant(3))).rejects.toThrow(
      /built for d = 3 but the input has d = 2/,
    );
    await expect(run({}, trace(), () => [tf.zeros([3])])).rejects.toThrow(
      /hvp returned a tensor of shape \[3\] at position 0, expected \[2\]/,
    );
    await expect(run({}, trace(), () => [])).rejects.toThrow(/hvp returned 0 tensors, expected 1/);
    await expect(run({}, trace(), (v) => [tf.mul(v[0]!, Number.NaN)])).rejects.toThrow(
      /½vᵀHv = NaN at probe 0; the hvp returned non-finite values/,
    );
    const wrongSampler = defineMeasure({
      name: 'bad sampler',
      components: [{ mu: { name: 'bad', sample: () => [tf.zeros([5])] }, psi: psi.identity }],
      phi: phi.identity,
    });
    await expect(run({}, wrongSampler)).rejects.toThrow(
      /sampler 'bad' returned a tensor of shape \[5\]/,
    );
    // ψ = exp(σq) overflowing is reported, not averaged.
    await expect(
      monteCarlo(product(1), explicitHvp([[1e4]]), { shapes: [[1]], samples: 10 }),
    ).rejects.toThrow(/w·ψ_0\(q\) is not finite at probe/);
    await expect(
      monteCarlo(trace(), 'hvp' as never, { shapes: [[2]], samples: 10 }),
    ).rejects.toThrow(/hvp must be a function/);
    expect(tf.memory().numTensors).toBe(before);
    const unshared = defineMeasure({
      name: 'inconsistent',
      components: [
        { mu: gaussian(), psi: psi.identity },
        { mu: sphere(), psi: psi.identity },
      ],
      phi: phi.max(),
    });
    await expect(run({}, { ...unshared, sharedSamples: true })).rejects.toThrow(
      /sharedSamples is true but component 1/,
    );
  });
});
