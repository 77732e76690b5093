import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { asam, NORM_EPSILON, sam, ssamF, topShareMask } from './sam';
import { add, flat, problemFactory, relativeError } from './test-helpers';

/**
 * SAM, ASAM and SSAM-F against docs/sharpness-aware-step.md by hand: e from ∇L(x) in float64, the
 * gradient at x + e, one SGD step. Tolerance 1e-5 relative (float32 throughout,
 * ε = 1.2e-7, amplified at most by the O(10) condition of these small problems).
 */
const TOLERANCE = 1e-5;
const LR = 0.1;

const make = problemFactory();
const norm = (v: number[]) => Math.hypot(...v);

describe.each(['quadratic', 'mlp'] as const)('on the %s', (kind) => {
  it('SAM: e = ρg/(‖g‖ + 1e-12), the gradient at x + e replaces g', async () => {
    const p = make(kind);
    const x = flat(p.variables);
    const stats = await sam({ params: p.variables, base: tf.train.sgd(LR), rho: 0.2 }).step(p.loss);
    const g = p.at(x).gradient;
    const e = g.map((gi) => (0.2 * gi) / (norm(g) + NORM_EPSILON));
    const expected = add(x, p.at(add(x, e)).gradient, -LR);
    expect(relativeError(flat(p.variables), expected)).toBeLessThan(TOLERANCE);
    expect(stats.gradientEvaluations).toBe(2);
    expect(stats.sharpness).toBeCloseTo(p.at(add(x, e)).loss - p.at(x).loss, 5);
  });

  it('SAM with λ = 0.5 interpolates: g = ∇L + λ(∇L(x + e) − ∇L)', async () => {
    const p = make(kind);
    const x = flat(p.variables);
    await sam({ params: p.variables, base: tf.train.sgd(LR), rho: 0.2, lambda: 0.5 }).step(p.loss);
    const g = p.at(x).gradient;
    const g1 = p.at(
      add(
        x,
        g.map((gi) => (0.2 * gi) / norm(g)),
      ),
    ).gradient;
    const expected = add(x, add(g, add(g1, g, -1), 0.5), -LR);
    expect(relativeError(flat(p.variables), expected)).toBeLessThan(TOLERANCE);
  });

  it('ASAM: T = |x| + η, e = ρT²g/‖Tg‖', async () => {
    const p = make(kind);
    const x = flat(p.variables);
    await asam({ params: p.variables, base: tf.train.sgd(LR), rho: 0.5, eta: 0.01 }).step(p.loss);
    const g = p.at(x).gradient;
    const T = x.map((xi) => Math.abs(xi) + 0.01);
    const Tg = g.map((gi, i) => T[i]! * gi);
    const e = Tg.map((v, i) => (0.5 * T[i]! * v) / (norm(Tg) + NORM_EPSILON));
    const expected = add(x, p.at(add(x, e)).gradient, -LR);
    expect(relativeError(flat(p.variables), expected)).toBeLessThan(TOLERANCE);
  });
});

describe('SSAM-F', () => {
  /**
   * Per-example losses ℓ_j(x) = (a_jᵀx − y_j)² on the quadratic's 5
   * parameters: ∇ℓ_j = 2(a_jᵀx − y_j)a_j, so the Fisher Σ_j(∇ℓ_j)² is known.
   */
  const examples = [
    { a: [1, 0, 0, 0.5, 0], y: 1 },
    { a: [0, 0, 2, 0, 0.1], y: -1 },
    { a: [0.3, 0, 0, 0, 0], y: 0.5 },
  ];
  const exampleLoss = (vars: tf.Variable[], a: number[], y: number) => () =>
    tf.tidy(() => {
      const x = tf.concat(vars.map((v) => tf.reshape(v, [-1])));
      return tf.square(tf.sub(tf.sum(tf.mul(x, tf.tensor1d(a))), y)) as tf.Scalar;
    });
  const fisherByHand = (x: number[]) => {
    const f = x.map(() => 0);
    for (const { a, y } of examples) {
      const r = a.reduce((s, ai, i) => s + ai * x[i]!, 0) - y;
      a.forEach((ai, i) => {
        f[i]! += (2 * r * ai) ** 2;
      });
    }
    return f;
  };

  it('perturbs only the top (1 − sparsity) by Fisher information: e = m ⊙ ρg/‖g‖', async () => {
    const p = make('quadratic');
    const x = flat(p.variables);
    const calls: number[] = [];
    const opt = ssamF({
      params: p.variables,
      base: tf.train.sgd(LR),
      rho: 0.3,
      sparsity: 0.6,
      numSamples: 3,
      fisherLosses: (count, epoch) => {
        calls.push(epoch);
        return examples.slice(0, count).map(({ a, y }) => exampleLoss(p.variables, a, y));
      },
    });
    const stats = await opt.step(p.loss);
    // Keep round(0.4·5) = 2 entries with the largest Fisher values.
    const f = fisherByHand(x);
    const top = [...f.keys()].sort((i, j) => f[j]! - f[i]!).slice(0, 2);
    const mask = f.map((_, i) => (top.includes(i) ? 1 : 0));
    expect(opt.perturbation.mask!.flatMap((t) => Array.from(t.dataSync()))).toEqual(mask);
    const g = p.at(x).gradient;
    const e = g.map((gi, i) => (mask[i]! * 0.3 * gi) / (norm(g) + NORM_EPSILON));
    const expected = add(x, p.at(add(x, e)).gradient, -LR);
    expect(relativeError(flat(p.variables), expected)).toBeLessThan(TOLERANCE);
    expect(stats.gradientEvaluations).toBe(2);
    expect(opt.perturbation.fisherEvaluations).toBe(3);
    expect(calls).toEqual([0]);
    opt.dispose();
  });

  it('recomputes the mask every updateFreq epochs, not every step', async () => {
    const p = make('quadratic');
    const calls: number[] = [];
    const opt = ssamF({
      params: p.variables,
      base: tf.train.sgd(0.01),
      numSamples: 2,
      updateFreq: 2,
      fisherLosses: (count, epoch) => {
        calls.push(epoch);
        return examples.slice(0, count).map(({ a, y }) => exampleLoss(p.variables, a, y));
      },
    });
    for (const epoch of [0, 0, 1, 1, 2, 3, 4]) await opt.step(p.loss, { epoch });
    expect(calls).toEqual([0, 2, 4]);
    opt.dispose();
  });

  it('topShareMask keeps exactly round(share·d), ties to the earliest entries', async () => {
    const values = [tf.tensor1d([0, 3, 3, 1]), tf.tensor2d([[3, 0]])];
    const masks = await topShareMask(values, 0.5);
    expect(masks.flatMap((m) => Array.from(m.dataSync()))).toEqual([0, 1, 1, 0, 1, 0]);
    const two = await topShareMask(values, 1 / 3);
    expect(two.flatMap((m) => Array.from(m.dataSync()))).toEqual([0, 1, 1, 0, 0, 0]);
    for (const t of [...values, ...masks, ...two]) t.dispose();
  });
});
