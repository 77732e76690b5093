import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { frobenius, maxEigenvalue, trace } from './catalogue';
import { exact } from './exact';
import { explicitHvp, monteCarlo } from './monte-carlo';
import { cases, linspace, withSpectrum } from './test-helpers';
import { quadraticLoss, zerothOrder } from './zeroth-order';

beforeAll(async () => {
  await initBackend('cpu');
});

/** k = 5 standard errors, as in monte-carlo.test.ts (6e-7 two-sided per comparison). */
const K = 5;

describe('zerothOrder on a quadratic at its minimum equals S', () => {
  for (const [name, { measure, spectrum }] of Object.entries(cases)) {
    for (const d of [2, 20]) {
      it(`${name}, d = ${d}: agrees with the closed form`, async () => {
        const H = withSpectrum(spectrum(d), d);
        const m = measure(d);
        const truth = exact(m, H);
        const result = await zerothOrder(m, quadraticLoss(H, { loss: 0.3 }), {
          shapes: [[d]],
          rho: 0.05,
          samples: 4000,
          seed: 100 + d,
        });
        expect(result.loss).toBe(0.3);
        expect(K * result.standardError).toBeLessThan(0.25 * Math.abs(truth));
        expect(Math.abs(result.value - truth)).toBeLessThan(K * result.standardError);
      });
    }
    it(`${name}, d = 50: probe for probe equal to monteCarlo with the same seed`, async () => {
      // Same seed ⇒ same v; (L(x+ρv) − L(x))/ρ² = ½vᵀHv exactly for a quadratic, so the
      // two differ only by float32 rounding in the HVP (relative ~1e-6 on q).
      const d = 50;
      const H = withSpectrum(spectrum(d), d);
      const m = measure(d);
      const options = { shapes: [[20], [30]], samples: 200, seed: 7 };
      const zo = await zerothOrder(m, quadraticLoss(H), { ...options, rho: 0.01 });
      const mc = await monteCarlo(m, explicitHvp(H), options);
      zo.probes.forEach((p, i) => {
        expect(Math.abs(p.q - mc.probes[i]!.q)).toBeLessThan(1e-4 * (1 + Math.abs(p.q)));
      });
      expect(Math.abs(zo.value - mc.value)).toBeLessThan(1e-3 * Math.abs(mc.value));
    });
  }
});

describe('zerothOrder', () => {
  it('counts 1 + n (shared) or 1 + n·m loss evaluations, and hands the loss δ = ρv', async () => {
    const H = [
      [2, 0],
      [0, 1],
    ];
    const seen: number[][] = [];
    const loss = quadraticLoss(H);
    const recording = async (delta: tf.Tensor[] | null) => {
      if (delta) seen.push(Array.from(await delta[0]!.data()));
      return loss(delta);
    };
    const shared = await zerothOrder(frobenius(), recording, {
      shapes: [[2]],
      rho: 0.1,
      samples: 4,
    });
    expect(shared.evaluations).toBe(5);
    const mc = await monteCarlo(frobenius(), explicitHvp(H), { shapes: [[2]], samples: 4 });
    // Same default seed: the loss saw ρ times Monte Carlo's v, q = ½vᵀHv = v₁² + ½v₂².
    seen.forEach((delta, i) => {
      expect(mc.probes[i]!.q).toBeCloseTo((delta[0]! ** 2 + 0.5 * delta[1]! ** 2) / 0.01, 4);
    });
    const separate = await zerothOrder(maxEigenvalue({ directions: 3 }), loss, {
      shapes: [[2]],
      rho: 0.1,
      samples: 4,
    });
    expect(separate.evaluations).toBe(13);
  });

  it('away from a minimum carries gᵀv/ρ per probe: unbiased for symmetric μ, noisier as ρ shrinks', async () => {
    const d = 5;
    const H = withSpectrum(linspace(-1, 3, d), 4);
    const truth = exact(trace('gaussian'), H);
    const gradient = [0.2, -0.1, 0.05, 0.3, 0];
    const errors: number[] = [];
    for (const rho of [1, 0.02]) {
      const result = await zerothOrder(trace('gaussian'), quadraticLoss(H, { gradient }), {
        shapes: [[d]],
        rho,
        samples: 2000,
        seed: 3,
      });
      expect(Math.abs(result.value - truth)).toBeLessThan(K * result.standardError);
      errors.push(result.standardError);
    }
    // The gᵀv/ρ term has sd ‖g‖/ρ (0.37 and 19) against sd(q) = 2.7: the SE grows ~7×.
    expect(errors[1]!).toBeGreaterThan(3 * errors[0]!);
  });

  it('leaks no tensors', async () => {
    const H = withSpectrum(linspace(0.8, 1.25, 3), 1);
    const loss = quadraticLoss(H);
    await zerothOrder(trace(), loss, { shapes: [[3]], rho: 0.1, samples: 2 });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) {
      await zerothOrder(frobenius(), loss, { shapes: [[1], [2]], rho: 0.1, samples: 10, seed: i });
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad ρ, losses and shapes with one-line fixes', async () => {
    const loss = quadraticLoss([
      [1, 0],
      [0, 1],
    ]);
    const run = (options: object, f = loss) =>
      zerothOrder(trace(), f, { shapes: [[2]], rho: 0.1, samples: 4, ...options });
    for (const rho of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(run({ rho })).rejects.toThrow(
        /rho must be a finite number > 0 \(Definition 2 divides by ρ²\)/,
      );
    }
    await expect(run({ samples: 0 })).rejects.toThrow(/samples must be an integer ≥ 2/);
    await expect(run({}, () => Number.NaN)).rejects.toThrow(
      /the loss at x is NaN; perturbedLoss must return finite numbers/,
    );
    await expect(run({}, (delta) => (delta ? Number.POSITIVE_INFINITY : 0))).rejects.toThrow(
      /the loss at x \+ ρv \(probe 0\) is Infinity/,
    );
    await expect(run({ shapes: [[3]] })).rejects.toThrow(
      /δ has 3 entries but H is 2×2; dimension mismatch/,
    );
    await expect(run({}, 'loss' as never)).rejects.toThrow(/perturbedLoss must be a function/);
    expect(() =>
      quadraticLoss(
        [
          [1, 0],
          [0, 1],
        ],
        { gradient: [1] },
      ),
    ).toThrow(/gradient has 1 entries but H is 2×2/);
  });
});
