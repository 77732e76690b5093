import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { dampedDeterminant } from '@usam/measures';
import { beforeAll, describe, expect, it } from 'vitest';
import { traceSam, universalSam } from './instances';
import type { SharpnessAwareOptimizer } from './sharpness-aware';
import type { OptimizerOptions } from './types';

/**
 * Theorem 2 of "On Scale-Invariant Sharpness Measures" as an experiment, on the
 * scale-invariant toy loss L = (x₁x₂ − 1)² (L(Dx) = L(x) for D = diag(k, 1/k)).
 * For μ_f = f(v₁⋯v_d)dv the objective L + λρ²R_ρ is itself invariant (substitute
 * v = Du in R_ρ), so it is constant along the zero-loss manifold x₁x₂ = 1 and
 * pulls nowhere along it: started at x₀ and at Dx₀, Algorithm 3 with the
 * (log) damped determinant ends at D-images of each other, near where it
 * started. Trace-SAM's R_ρ ≈ tr H/2 = x₁² + x₂² is least at |x₁| = |x₂| = 1, and
 * both its runs drift toward that one point. See docs/scale-invariant.md.
 */

const STEPS = 2000;
const x0: [number, number] = [2, 0.5];
const k = 2; // D = diag(2, ½): Dx₀ = (4, 0.25), on the same manifold

beforeAll(async () => {
  await initBackend('cpu');
});

async function end(
  start: [number, number],
  build: (o: OptimizerOptions) => SharpnessAwareOptimizer,
) {
  const x = tf.variable(tf.tensor1d(start));
  const loss = () => tf.tidy(() => tf.square(tf.sub(tf.prod(x), 1)) as tf.Scalar);
  const opt = build({ params: [x], base: tf.train.sgd(0.01) });
  const before = tf.memory().numTensors;
  for (let i = 0; i < STEPS; i++) await opt.step(loss);
  expect(tf.memory().numTensors).toBe(before);
  const [a, b] = Array.from(await x.data()) as [number, number];
  opt.dispose();
  x.dispose();
  return [a, b] as [number, number];
}

/** log(x₁/x₂): D = diag(k, 1/k) adds 2·log k to it, and nothing else does on the manifold. */
const logRatio = ([a, b]: [number, number]) => Math.log(a / b);

describe('Theorem 2 on the toy loss: runs from x₀ and Dx₀ end at D-images of each other', () => {
  it('log damped determinant (λ = 0.25, ρ = 0.1, n = 16): yes, and both stay where they began', async () => {
    // λ < ½: L + λρ²·log S = (1 − 2λ)L + 2λ·(a soft minimum of L around x), see the catalogue.
    const build = (o: OptimizerOptions) =>
      universalSam({
        ...o,
        measure: dampedDeterminant(2, { logarithm: true }),
        rho: 0.1,
        lambda: 0.25,
        samples: 16,
        seed: 1,
      });
    const a = await end(x0, build);
    const b = await end([k * x0[0], x0[1] / k], build);
    for (const p of [a, b]) expect(Math.abs(p[0] * p[1] - 1)).toBeLessThan(0.05);
    // Measured (cpu, seed 1): log-ratios 1.368 and 2.767 against 1.386 and 2.773 at the
    // start (ends (1.981, 0.505) and (3.970, 0.250)): drifts of 0.018 and 0.006, sampling
    // noise, against Trace-SAM's 0.20 and 0.28 below; 0.06 and 0.05 bound them.
    expect(Math.abs(logRatio(a) - logRatio(x0))).toBeLessThan(0.06);
    expect(Math.abs(logRatio(b) - logRatio(x0) - 2 * Math.log(k))).toBeLessThan(0.06);
    expect(Math.abs(logRatio(b) - logRatio(a) - 2 * Math.log(k))).toBeLessThan(0.05);
  });

  it('Trace-SAM at the same ρ, λ: no, both drift toward |x₁| = |x₂| = 1', async () => {
    const build = (o: OptimizerOptions) => traceSam({ ...o, rho: 0.1, lambda: 0.25, seed: 1 });
    const a = await end(x0, build);
    const b = await end([k * x0[0], x0[1] / k], build);
    for (const p of [a, b]) expect(Math.abs(p[0] * p[1] - 1)).toBeLessThan(0.1);
    // Measured (cpu, seed 1): ends (1.825, 0.557) and (3.586, 0.296), log-ratios 1.187 and
    // 2.495: each falls toward 0 by ten times the damped runs' drift (0.20 and 0.28), so
    // neither run stays where it began. The gap between the ends (1.308) is no evidence at
    // this λ: the drift rate, ≈ 4ηλρ²(x₁² − x₂²)/(x₁² + x₂²), is nearly the same from x₀ as
    // from Dx₀, so the gap is only noise away from 2·log 2 (1.31–1.39 over seeds 0–3,
    // docs/scale-invariant.md), and it is not asserted; the λ = 1 case below shows a gap.
    expect(logRatio(a)).toBeLessThan(logRatio(x0) - 0.15);
    expect(logRatio(b)).toBeLessThan(logRatio(x0) + 2 * Math.log(k) - 0.15);
  });

  it('Trace-SAM at λ = 1: the run from x₀ slows near (1, 1), so the ends are not D-images', async () => {
    const build = (o: OptimizerOptions) => traceSam({ ...o, rho: 0.1, lambda: 1, seed: 1 });
    const a = await end(x0, build);
    const b = await end([k * x0[0], x0[1] / k], build);
    // Gaps of 1.04–1.18 over seeds 0–3 (docs/scale-invariant.md) against 2·log 2 = 1.386:
    // at least 0.2 short, against the damped runs' 0.05 above; 0.15 leaves room for noise.
    expect(2 * Math.log(k) - (logRatio(b) - logRatio(a))).toBeGreaterThan(0.15);
  });
});
