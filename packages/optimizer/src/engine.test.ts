import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { determinant, fixed, frobenius, tensorList } from '@usam/measures';
import { describe, expect, it } from 'vitest';
import { detSam, plain, sharpnessAware, traceSam, universalSam } from './instances';
import { ascent, sam } from './sam';
import { add, flat, problemFactory, relativeError } from './test-helpers';
import type { BatchPart } from './types';

const make = problemFactory();
const LR = 0.1;

/**
 * Least squares on 6 examples, L(w) = mean_i (a_i·w − y_i)², with ∇L in float64
 * for any subset of the examples: the m-sharpness reference.
 */
function leastSquares() {
  const a = [
    [1, 0.5],
    [-0.3, 2],
    [0.7, -1],
    [2, 0.2],
    [-1, -0.4],
    [0.1, 1.5],
  ];
  const y = [0.5, -1, 2, 0.3, 1, -0.7];
  const w = tf.variable(tf.tensor1d([0.2, -0.1]), true, `w${Math.random()}`);
  const xs = tf.tensor2d(a);
  const ys = tf.tensor1d(y);
  const loss = (part: BatchPart) =>
    tf.tidy(() => {
      const r = tf.sub(
        tf.squeeze(tf.matMul(part.slice(xs), tf.reshape(w, [2, 1])), [1]),
        part.slice(ys),
      );
      return tf.mean(tf.square(r)) as tf.Scalar;
    });
  const gradient = (at: readonly number[], rows: readonly number[]) =>
    [0, 1].map(
      (j) =>
        rows.reduce(
          (s, i) => s + 2 * (a[i]![0]! * at[0]! + a[i]![1]! * at[1]! - y[i]!) * a[i]![j]!,
          0,
        ) / rows.length,
    );
  return { w, loss, gradient, dispose: () => tf.dispose([w, xs, ys]) };
}

const norm = (v: readonly number[]) => Math.hypot(...v);

describe('mSharpness', () => {
  // Float64 reference against a float32 step: 1e-5 relative (a few roundings of O(1) values).
  it('m = 2: SAM per part, each with its own e, the composite gradients averaged', async () => {
    const p = leastSquares();
    const x = Array.from(p.w.dataSync());
    const rho = 0.3;
    const opt = sam({ params: [p.w], base: tf.train.sgd(LR), rho, mSharpness: 2 });
    const stats = await opt.step(p.loss);
    const parts = [
      [0, 1, 2],
      [3, 4, 5],
    ];
    const g = parts
      .map((rows) => {
        const g0 = p.gradient(x, rows);
        const e = g0.map((gi) => (rho * gi) / norm(g0));
        return p.gradient(add(x, e), rows);
      })
      .reduce((s, gp) => add(s, gp, 0.5), [0, 0]);
    expect(relativeError(p.w.dataSync(), add(x, g, -LR))).toBeLessThan(1e-5);
    expect(stats.gradientEvaluations).toBe(4);
    expect(stats.perturbedLosses).toHaveLength(2);
    p.dispose();
  });

  it('m = 1 is the default step, and m parts cost m(1 + n) gradients for the (φ, ψ, μ) family', async () => {
    const run = async (options: { mSharpness?: number }) => {
      const p = leastSquares();
      const opt = traceSam({
        params: [p.w],
        base: tf.train.sgd(LR),
        samples: 2,
        rho: 0.1,
        ...options,
      });
      const stats = await opt.step(p.loss);
      const out = { x: Array.from(p.w.dataSync()), stats };
      p.dispose();
      return out;
    };
    const implicit = await run({});
    const one = await run({ mSharpness: 1 });
    expect(one.x).toEqual(implicit.x);
    expect(one.stats).toEqual(implicit.stats);
    const three = await run({ mSharpness: 3 });
    expect(three.stats.gradientEvaluations).toBe(3 * (1 + 2));
    expect(three.stats.perturbedLosses).toHaveLength(6);
    expect(three.x).not.toEqual(one.x);
  });

  it('a batch smaller than m is an error naming the fix', async () => {
    const p = leastSquares();
    const opt = sam({ params: [p.w], base: tf.train.sgd(LR), mSharpness: 7 });
    await expect(opt.step(p.loss)).rejects.toThrow(/batch of 6 cannot be split into 7 parts/);
    p.dispose();
  });
});

describe('clipNorm', () => {
  it('scales the composite gradient to the global norm c, then adds weight decay', async () => {
    const p = make('quadratic');
    const x = flat(p.variables);
    const g = p.at(x).gradient; // ‖g‖ ≈ 4.5 at the start point
    const c = 0.5;
    const opt = plain({
      params: p.variables,
      base: tf.train.sgd(LR),
      clipNorm: c,
      weightDecay: 0.01,
    });
    await opt.step(p.loss);
    const clipped = g.map((gi, i) => (gi * c) / norm(g) + 0.01 * x[i]!);
    expect(relativeError(flat(p.variables), add(x, clipped, -LR))).toBeLessThan(1e-6);
  });

  it('leaves a gradient shorter than c as it is, bit for bit', async () => {
    const run = async (clipNorm?: number) => {
      const p = make('quadratic');
      await plain({
        params: p.variables,
        base: tf.train.sgd(LR),
        ...(clipNorm && { clipNorm }),
      }).step(p.loss);
      return flat(p.variables);
    };
    expect(await run(1e6)).toEqual(await run());
  });
});

it('a new variant is one small strategy: fixed-direction SAM, e = ρu for a fixed u', async () => {
  const p = make('quadratic');
  const x = flat(p.variables);
  const u = [0.6, 0, -0.8, 0, 0];
  const rho = 0.2;
  const direction = tensorList.fromFlat(
    u.map((ui) => rho * ui),
    p.variables.map((v) => v.shape),
  );
  const fixedSam = sharpnessAware(
    'fixedSam',
    { params: p.variables, base: tf.train.sgd(LR) },
    ascent('fixed', () => tensorList.clone(direction)),
  );
  const stats = await fixedSam.step(p.loss);
  const expected = add(x, p.at(add(x, u, rho)).gradient, -LR);
  expect(relativeError(flat(p.variables), expected)).toBeLessThan(1e-6);
  expect(stats.gradientEvaluations).toBe(2);
  expect(stats.sharpness!).toBeCloseTo(p.at(add(x, u, rho)).loss - p.at(x).loss, 5);
  tensorList.dispose(direction);
});

it('universalSam(determinant(600)): importance weights beyond float64 in log space, the exact step', async () => {
  // L = ½‖x‖² at x = 0, μ = Lebesgue through N(0, I): log w = 300·log 2π + ‖v‖²/2 ≈ 851
  // (e^{851} overflows), φ = (2π)^600/t². One draw: c = 2·exp(2q − ‖v‖²) with
  // q = (L(ρv) − L(0))/ρ² = ½‖v‖², so c = 2 and g = λ·2·ρv: ‖Δx‖ = η·2λρ‖v‖.
  const x = tf.variable(tf.zeros([600]));
  const loss = () => tf.tidy(() => tf.mul(0.5, tf.sum(tf.square(x))) as tf.Scalar);
  const [rho, lambda] = [0.01, 0.5];
  const opt = universalSam({
    params: [x],
    base: tf.train.sgd(LR),
    measure: determinant(600),
    rho,
    lambda,
  });
  for (let step = 0; step < 2; step++) {
    x.assign(tf.zeros([600]));
    const stats = await opt.step(loss);
    expect(stats.applied).toBe(true);
    const v2 = (2 * stats.perturbedLosses[0]!) / rho ** 2;
    // q and ‖v‖² are float32 sums of 600 terms: 2q − ‖v‖² is off by ~1e-4, so c by as much.
    expect(norm(Array.from(x.dataSync())) / (LR * 2 * lambda * rho * Math.sqrt(v2))).toBeCloseTo(
      1,
      3,
    );
  }
  x.dispose();
});

describe('live parameters', () => {
  it("trains a model's current trainable weights: a frozen layer stops, an unfrozen one restarts, momentum stays each variable's own", async () => {
    const build = () =>
      tfl.sequential({
        layers: [
          tfl.layers.dense({
            inputShape: [3],
            units: 4,
            activation: 'tanh',
            kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }),
          }),
          tfl.layers.dense({
            units: 2,
            kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }),
          }),
        ],
      });
    const xs = tf.randomNormal([8, 3], 0, 1, 'float32', 3);
    const ys = tf.randomNormal([8, 2], 0, 1, 'float32', 4);
    const lossOf = (m: tfl.Sequential) => () =>
      tf.tidy(() => tf.losses.meanSquaredError(ys, m.apply(xs) as tf.Tensor) as tf.Scalar);
    const subject = build();
    const reference = build();
    const opt = plain({ params: subject, base: tf.train.momentum(0.1, 0.9) });
    // Reference: one momentum optimizer per variable, so no slot can be taken for another's.
    const bases = new Map<string, tf.Optimizer>();
    const referenceStep = () => {
      const variables = reference.trainableWeights.map((w) => w.read() as tf.Variable);
      const { value, grads } = tf.variableGrads(lossOf(reference), variables);
      variables.forEach((v, k) => {
        const key = String(k + (reference.layers[0]!.trainable ? 0 : 2));
        if (!bases.has(key)) bases.set(key, tf.train.momentum(0.1, 0.9));
        bases.get(key)!.applyGradients({ [v.name]: grads[v.name]! });
      });
      tf.dispose([value, grads]);
    };
    const weights = (m: tfl.Sequential) =>
      m.layers.flatMap((l) => l.getWeights().map((w) => Array.from(w.dataSync())));
    const phases: [boolean, number][] = [
      [true, 3],
      [false, 3],
      [true, 2],
    ];
    for (const [trainable, steps] of phases) {
      subject.layers[0]!.trainable = trainable;
      reference.layers[0]!.trainable = trainable;
      const frozen = weights(subject).slice(0, 2);
      for (let i = 0; i < steps; i++) {
        await opt.step(lossOf(subject));
        referenceStep();
      }
      expect(opt.variables).toHaveLength(trainable ? 4 : 2);
      if (!trainable) expect(weights(subject).slice(0, 2)).toEqual(frozen);
      expect(weights(subject)).toEqual(weights(reference));
    }
    for (const b of bases.values()) b.dispose();
    opt.dispose();
    subject.dispose();
    reference.dispose();
    tf.dispose([xs, ys]);
  });
});

it('no tensor leaks over 50 steps: m-sharpness, clipping, weight decay and clipped Det-SAM coefficients', async () => {
  const p = make('quadratic');
  const q = leastSquares();
  const dim = flat(p.variables).length;
  const huge = Array.from({ length: dim }, (_, j) => (j === 0 ? 30 : 0)); // gap ≈ 900: clipped coefficients
  const optimizers = [
    sam({
      params: [q.w],
      base: tf.train.momentum(0.01, 0.9),
      mSharpness: 3,
      clipNorm: 1,
      weightDecay: 1e-3,
    }),
    detSam({ params: p.variables, base: tf.train.sgd(1e-30), sampler: fixed([huge]), lambda: 1 }),
  ];
  const losses = [q.loss, p.loss];
  const run = async () => {
    for (let k = 0; k < optimizers.length; k++) await optimizers[k]!.step(losses[k]!);
  };
  await run();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 50; i++) await run();
  expect(tf.memory().numTensors).toBe(before);
  expect(optimizers[1]!.counters.clipped).toBeGreaterThan(0);
  for (const o of optimizers) o.dispose();
  q.dispose();
});

it('universalSam(frobenius()) at the default samples draws 2 and regularises (n = 1 would be the λ = 0 step)', async () => {
  const run = async (lambda: number) => {
    const p = make('mlp');
    const opt = universalSam({
      params: p.variables,
      base: tf.train.sgd(LR),
      measure: frobenius(),
      rho: 0.05,
      lambda,
    });
    const stats = await opt.step(p.loss);
    return { x: flat(p.variables), stats };
  };
  const regularised = await run(10);
  expect(regularised.stats.gradientEvaluations).toBe(3);
  expect(regularised.stats.sharpness).not.toBe(0);
  expect(regularised.x).not.toEqual((await run(0)).x);
});

it.each([
  ['momentum', () => tf.train.momentum(0.1, 0.9)],
  ['SGD', () => tf.train.sgd(0.1)],
  ['Adam', () => tf.train.adam(0.01)],
])(
  'dispose frees everything the optimizer made (%s base, incl. tfjs momentum’s leaked −lr scalar)',
  async (_name, makeBase) => {
    const p = make('quadratic');
    const before = tf.memory().numTensors;
    const opt = sam({ params: p.variables, base: makeBase() });
    await opt.step(p.loss);
    opt.setLearningRate(0.05);
    await opt.step(p.loss);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
  },
);

describe('failing steps leave no tensors behind', () => {
  const losses: [string, (w: tf.Variable) => () => tf.Scalar][] = [
    [
      'a loss that throws after recording ops',
      (w) => () => {
        tf.sum(tf.square(w));
        throw new Error('boom');
      },
    ],
    ['a non-scalar loss', (w) => () => tf.square(w) as unknown as tf.Scalar],
    [
      'a NaN loss (refused, not thrown)',
      (w) => () => tf.mul(tf.sum(tf.square(w)), Number.NaN) as tf.Scalar,
    ],
    ['a loss not reading the variables', () => () => tf.scalar(1)],
  ];
  const optimizers: [
    string,
    (w: tf.Variable) => { step: (l: () => tf.Scalar) => Promise<unknown>; dispose(): void },
  ][] = [
    ['plain', (w) => plain({ params: [w], base: tf.train.sgd(LR) })],
    ['sam', (w) => sam({ params: [w], base: tf.train.momentum(LR, 0.9) })],
    ['traceSam', (w) => traceSam({ params: [w], base: tf.train.sgd(LR) })],
  ];
  it.each(
    optimizers.flatMap(([o, build]) => losses.map(([l, loss]) => [o, l, build, loss] as const)),
  )('%s, %s: 20 steps', async (_o, _l, build, lossOf) => {
    const w = tf.variable(tf.tensor1d([1, 2, 3]));
    const opt = build(w);
    const loss = lossOf(w);
    const attempt = async () => {
      try {
        await opt.step(loss);
      } catch {
        // Throwing is right for all but the NaN loss (refused); only the tensors count here.
      }
    };
    await attempt();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) await attempt();
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    w.dispose();
  });
});
