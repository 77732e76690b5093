import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { TOY_DEFAULTS, TOY_LOSSES, TOY_RUNS } from './toy';
import { TENSOR_LOSSES, toyMeasures, toyTrajectories, toyTrajectory } from './toy-trajectory';

beforeAll(async () => {
  await initBackend('cpu');
});

const example2 = TOY_LOSSES.example2;
// On the zero-loss manifold x₁x₂ = 1 (exact in float32: 2.5·0.4 rounds to 1).
const START = [2.5, 0.4] as const;

describe('the toy losses', () => {
  it('as tensor ops equal the plain numbers, and their closed-form Hessians equal autodiff', () => {
    for (const name of ['example1', 'example2'] as const) {
      const toy = TOY_LOSSES[name];
      for (const [a, b] of [
        [0.3, -1.7],
        [2.5, 0.4],
        [-1.2, 0.9],
      ] as const) {
        const x = tf.tensor1d([a, b]);
        const loss = TENSOR_LOSSES[name];
        // float32 evaluation of values below 10: 1e-5 absolute.
        expect(loss(x).dataSync()[0]).toBeCloseTo(toy.value(a, b), 5);
        const grad = tf.grad((v: tf.Tensor) => loss(v));
        const rows = [0, 1].map((i) =>
          Array.from(
            tf
              .grad((v: tf.Tensor) => tf.squeeze(tf.slice(grad(v), [i], [1])))(x)
              .dataSync(),
          ),
        );
        rows.forEach((row, i) => {
          row.forEach((h, j) => {
            expect(h).toBeCloseTo(toy.hessian(a, b)[i]![j]!, 4);
          });
        });
        x.dispose();
      }
    }
  });
});

describe('toy measures (closed forms of the paper)', () => {
  it('Example 1: tr H = 0, ‖H‖_F² = 2, det H = −1 at any point', () => {
    for (const p of [
      [0, 0],
      [1.5, -2],
    ] as const) {
      const m = toyMeasures(TOY_LOSSES.example1, p);
      expect(m.trace).toBeCloseTo(0, 12);
      expect(m.frobenius).toBeCloseTo(2, 12);
      expect(m.determinant).toBeCloseTo(-1, 12);
    }
  });

  it('Example 2 on x₁x₂ = 1: det H = 0 for every k, tr H = 2(k² + 1/k²)', () => {
    for (const k of [0.5, 1, 2.5]) {
      const m = toyMeasures(example2, [k, 1 / k]);
      expect(m.loss).toBeCloseTo(0, 12);
      // eigenvalues via ml-matrix in float64: 1e-9 absolute.
      expect(m.determinant).toBeCloseTo(0, 9);
      expect(m.trace).toBeCloseTo(2 * (k * k + 1 / (k * k)), 9);
      expect(m.frobenius).toBeCloseTo((2 * (k * k + 1 / (k * k))) ** 2, 9);
    }
  });
});

describe('trajectories from a point of the zero-loss manifold of Example 2', () => {
  it('SGD, SAM and ASAM stay where they start: ∇L = 0 there, so SAM’s ascent is 0 too', async () => {
    for (const optimizer of ['sgd', 'sam', 'asam'] as const) {
      const { path } = await toyTrajectory(example2, optimizer, START);
      expect(path).toHaveLength(301);
      expect(path.at(-1)![0]).toBeCloseTo(START[0], 6);
      expect(path.at(-1)![1]).toBeCloseTo(START[1], 6);
    }
  });

  it('Trace-SAM and Frob-SAM slide along the manifold toward |x₁| = |x₂| = 1, lowering tr H', async () => {
    for (const optimizer of ['trace-sam', 'frob-sam'] as const) {
      const { path, measures } = await toyTrajectory(example2, optimizer, START);
      const [x1, x2] = path.at(-1)!;
      // The theory's end point is (1, 1), the manifold's point of least tr H and ‖H‖_F².
      // Sampled perturbations (ρ = 0.3) and a finite run leave it within 0.2; from
      // (2.5, 0.4) that is a move of 1.4 along x₁.
      expect(Math.abs(x1 - 1)).toBeLessThan(0.2);
      expect(Math.abs(x2 - 1)).toBeLessThan(0.2);
      // Near the manifold still (the regulariser biases it off by O(λρ²)).
      expect(measures.at(-1)!.loss).toBeLessThan(0.05);
      // tr H falls from 12.82 to near its manifold minimum 4.
      expect(measures[0]!.trace).toBeCloseTo(12.82, 2);
      expect(measures.at(-1)!.trace).toBeLessThan(4.5);
    }
  });

  // To first order, Det-SAM on a hypercube of half-width h drifts like Trace-SAM with weight
  // λρ²h²/3 in place of λρ²/2: here (1·0.01/3)/(0.09/2) ≈ 0.074 of Trace-SAM's rate while both
  // are far from (1, 1). Trace-SAM then stops at (1, 1), so over the whole run the ratio of
  // distances is larger than 0.074 (0.14 measured); a quarter bounds it with room for the noise
  // of 4 samples a step.
  it('Det-SAM barely moves: less than a quarter of the way Trace-SAM goes', async () => {
    const det = await toyTrajectory(example2, 'det-sam', START);
    const tr = await toyTrajectory(example2, 'trace-sam', START);
    const moved = (p: readonly (readonly [number, number])[]) =>
      Math.hypot(p.at(-1)![0] - START[0], p.at(-1)![1] - START[1]);
    expect(moved(tr.path)).toBeGreaterThan(1);
    expect(moved(det.path)).toBeLessThan(0.25 * moved(tr.path));
    expect(det.measures.at(-1)!.loss).toBeLessThan(1e-3);
  });

  // Theorem 2 of the scale-invariant paper: the log damped determinant's objective
  // L + λρ²·log S is D-invariant, so it is constant along x₁x₂ = 1 and pulls nowhere along it.
  // From (2.5, 0.4) and from D·(2.5, 0.4), D = diag(2, ½), the runs stay where they began and
  // so end at D-images of each other: log(x₁/x₂) apart by 2·log 2 = 1.386. Trace-SAM's runs
  // both slide toward (1, 1) (above), so its log-ratios fall by more than 1 from x₀.
  it('the log damped determinant (scale-invariant family) stays put, from x₀ and from Dx₀ alike', async () => {
    const logRatio = (p: readonly [number, number]) => Math.log(p[0] / p[1]);
    const from = await toyTrajectory(example2, 'log-damped-determinant', START);
    const image = await toyTrajectory(example2, 'log-damped-determinant', [5, 0.2]);
    const tr = await toyTrajectory(example2, 'trace-sam', START);
    for (const t of [from, image]) {
      expect(t.left).toBeUndefined();
      expect(t.measures.at(-1)!.loss).toBeLessThan(1e-3);
    }
    // Measured (cpu, seed 1, 300 steps, 16 samples a step): drifts of −0.012 and +0.005, so a
    // gap of 1.403; sampling noise, bounded by 0.05 with room. Trace-SAM's log-ratio falls by
    // 1.57 (from 1.833 to 0.265, end (1.12, 0.86)).
    expect(Math.abs(logRatio(from.path.at(-1)!) - logRatio(START))).toBeLessThan(0.05);
    expect(Math.abs(logRatio(image.path.at(-1)!) - logRatio([5, 0.2]))).toBeLessThan(0.05);
    expect(
      Math.abs(logRatio(image.path.at(-1)!) - logRatio(from.path.at(-1)!) - 2 * Math.log(2)),
    ).toBeLessThan(0.05);
    expect(logRatio(START) - logRatio(tr.path.at(-1)!)).toBeGreaterThan(1);
  });

  it("takes the page's ρ and h: Det-SAM with h = 1 slides much further than at its default h = 0.1", async () => {
    const request = { id: 1, toy: 'example2', start: START, options: TOY_DEFAULTS } as const;
    const run = (halfWidth: number) =>
      toyTrajectories({
        ...request,
        optimizers: ['det-sam'],
        runs: { 'det-sam': { ...TOY_RUNS['det-sam'], halfWidth } },
      });
    const moved = async (h: number) => {
      const r = await run(h);
      if (r.type !== 'trajectories') throw new Error(r.type);
      const [x, y] = r.trajectories[0]!.path.at(-1)!;
      return Math.hypot(x - START[0], y - START[1]);
    };
    // h enters its drift as h²·tr H/6 (toy.ts): 100× at h = 1, so at least several times further.
    expect(await moved(1)).toBeGreaterThan(3 * (await moved(0.1)));
  });

  it('marks where a trajectory diverges: lr 0.5 sends Frob-SAM off the plot, 0.02 keeps it', async () => {
    const fast = await toyTrajectory(example2, 'frob-sam', START, { lr: 0.5, steps: 300, seed: 1 });
    expect(fast.left).toBe(fast.path.length - 1);
    expect(fast.left).toBeLessThan(20);
    const slow = await toyTrajectory(example2, 'frob-sam', START, {
      lr: 0.02,
      steps: 300,
      seed: 1,
    });
    expect(slow.left).toBeUndefined();
    expect(slow.path).toHaveLength(301);
  });

  it('Example 1: every optimizer leaves the saddle along x₂ (tr H = 0 calls it flat)', async () => {
    for (const optimizer of ['sgd', 'trace-sam'] as const) {
      const { path } = await toyTrajectory(TOY_LOSSES.example1, optimizer, [1, 0.2]);
      const [x1, x2] = path.at(-1)!;
      expect(Math.abs(x1)).toBeLessThan(0.1);
      expect(Math.abs(x2)).toBeGreaterThan(1);
    }
  });
});
