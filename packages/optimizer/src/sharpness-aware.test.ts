import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { determinant, frobenius, type Sampler, tensorList, trace } from '@usam/measures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptimizerError } from './errors';
import { detSam, frobSam, plain, traceSam, universalSam } from './instances';
import { asam, sam, ssamF } from './sam';
import type { SharpnessAwareOptimizer } from './sharpness-aware';
import { flat, type Problem, problemFactory } from './test-helpers';
import type { OptimizerOptions } from './types';

const make = problemFactory();

const noFisher = () => [];
type Build = (o: OptimizerOptions) => SharpnessAwareOptimizer;

/** Every variant, configured so that it must reduce to the base optimizer. */
const degenerate: [string, Build][] = [
  ['frobSam λ = 0', (o) => frobSam({ ...o, lambda: 0 })],
  ['traceSam λ = 0', (o) => traceSam({ ...o, lambda: 0 })],
  ['detSam λ = 0', (o) => detSam({ ...o, lambda: 0 })],
  ['universalSam λ = 0', (o) => universalSam({ ...o, measure: frobenius(), rho: 0.1, lambda: 0 })],
  ['sam λ = 0', (o) => sam({ ...o, lambda: 0 })],
  ['sam ρ = 0', (o) => sam({ ...o, rho: 0 })],
  ['asam ρ = 0', (o) => asam({ ...o, rho: 0 })],
  ['ssamF ρ = 0', (o) => ssamF({ ...o, rho: 0, fisherLosses: noFisher })],
  ['ssamF λ = 0', (o) => ssamF({ ...o, lambda: 0, fisherLosses: noFisher })],
  ['plain', (o) => plain(o)],
];

/** Base optimizers a user might wrap: each must see exactly the gradient it would alone. */
const bases: [string, () => tf.Optimizer][] = [
  ['SGD with momentum', () => tf.train.momentum(0.05, 0.9)],
  ['Adam', () => tf.train.adam(0.01)],
  ['RMSProp', () => tf.train.rmsprop(0.01, 0.9, 0.5)],
];

describe.each(bases)(
  'degenerate settings are the base optimizer (%s), bit for bit (docs/sharpness-aware-step.md)',
  (_base, makeBase) => {
    /** The base optimizer alone, as a user would write it: ∇L + wd·x, then applyGradients. */
    function reference(p: Problem, steps: number, weightDecay: number) {
      const base = makeBase();
      for (let i = 0; i < steps; i++) {
        const { value, grads } = tf.variableGrads(p.loss, p.variables);
        const decayed: tf.NamedTensorMap = {};
        for (const v of p.variables)
          decayed[v.name] = tf.add(grads[v.name]!, tf.mul(v, weightDecay));
        base.applyGradients(decayed);
        tf.dispose([value, grads, decayed]);
      }
      base.dispose();
      return flat(p.variables);
    }

    it.each(degenerate)('%s', async (_name, build) => {
      const expected = reference(make(), 5, 5e-4);
      const p = make();
      const opt = build({ params: p.variables, base: makeBase(), weightDecay: 5e-4 });
      for (let i = 0; i < 5; i++) {
        const stats = await opt.step(p.loss);
        expect(stats.gradientEvaluations).toBe(1);
        expect(stats.perturbedLosses).toEqual([]);
      }
      expect(new Float32Array(flat(p.variables))).toEqual(new Float32Array(expected));
      opt.dispose();
    });
  },
);

/** A loss that turns bad on chosen calls (1 = the clean pass). */
function scripted(p: Problem, bad: (call: number) => 'nan' | 'throw' | undefined) {
  let call = 0;
  return () => {
    call++;
    const what = bad(call);
    if (what === 'throw') throw new Error('interrupted');
    const L = p.loss();
    return what === 'nan' ? (tf.mul(L, Number.NaN) as tf.Scalar) : L;
  };
}

const variants: [string, Build][] = [
  ['frobSam', (o) => frobSam({ ...o, rho: 0.05 })],
  ['traceSam', (o) => traceSam(o)],
  ['detSam', (o) => detSam(o)],
  ['sam', (o) => sam(o)],
  ['asam', (o) => asam(o)],
  ['ssamF', (o) => ssamF({ ...o, fisherLosses: (n) => [makeFisher(o)].slice(0, n) })],
  ['plain', (o) => plain(o)],
];
const makeFisher = (o: OptimizerOptions) => () =>
  tf.tidy(() => tf.sum(tf.square((o.params as tf.Variable[])[0]!)) as tf.Scalar);

describe.each(variants)('%s', (_name, build) => {
  it('refuses a step with a NaN clean loss: weights unchanged, reported, counted', async () => {
    const p = make();
    const x = flat(p.variables);
    const opt = build({ params: p.variables, base: tf.train.momentum(0.1, 0.9) });
    const stats = await opt.step(scripted(p, (c) => (c === 1 ? 'nan' : undefined)));
    expect(stats.applied).toBe(false);
    expect(stats.nonFinite).toBe(true);
    expect(stats.reason).toMatch(/step refused.*weights unchanged/);
    expect(flat(p.variables)).toEqual(x);
    expect(opt.counters).toMatchObject({ steps: 1, refused: 1, applied: 0 });
    const next = await opt.step(p.loss);
    expect(next.applied).toBe(true);
    expect(flat(p.variables)).not.toEqual(x);
    opt.dispose();
  });

  it('a loss that throws mid-step leaves the weights exactly as they were', async () => {
    const p = make();
    const x = flat(p.variables);
    const opt = build({ params: p.variables, base: tf.train.sgd(0.1) });
    await opt.step(p.loss); // allocate the base optimizer's slots first
    const before = flat(p.variables);
    const tensors = tf.memory().numTensors;
    const lastCall = opt.name === 'plain' ? 1 : 2;
    await expect(
      opt.step(scripted(p, (c) => (c === lastCall ? 'throw' : undefined))),
    ).rejects.toThrow('interrupted');
    expect(flat(p.variables)).toEqual(before);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(x).not.toEqual(before);
    opt.dispose();
  });

  it('leaks no tensors without weight decay (g taken over from one gradient), refused steps included', async () => {
    const p = make('quadratic');
    const opt = build({ params: p.variables, base: tf.train.sgd(0.01) });
    await opt.step(p.loss);
    const tensors = tf.memory().numTensors;
    for (let i = 1; i < 200; i++) {
      const stats = await opt.step(i % 50 === 0 ? scripted(p, () => 'nan') : p.loss);
      expect(stats.applied).toBe(i % 50 !== 0);
    }
    expect(tf.memory().numTensors).toBe(tensors);
    opt.dispose();
  });

  it('leaks no tensors over 1000 steps (docs/optimizer-semantics.md)', async () => {
    const p = make('quadratic');
    const opt = build({
      params: p.variables,
      base: tf.train.momentum(0.01, 0.9),
      weightDecay: 1e-4,
    });
    await opt.step(p.loss);
    const after1 = tf.memory().numTensors;
    for (let i = 1; i < 1000; i++) await opt.step(p.loss, { epoch: Math.floor(i / 100) });
    expect(tf.memory().numTensors).toBe(after1);
    expect(opt.counters.steps).toBe(1000);
    opt.dispose();
  });
});

it.each([
  ['frobSam', (o: OptimizerOptions & { seed: number }) => frobSam({ ...o, rho: 0.05 })],
  ['traceSam', (o: OptimizerOptions & { seed: number }) => traceSam(o)],
  ['detSam', (o: OptimizerOptions & { seed: number }) => detSam(o)],
])(
  '%s: the same seed gives the same trajectory on cpu, another seed another',
  async (_n, build) => {
    const run = async (seed: number) => {
      const p = make();
      const opt = build({ params: p.variables, base: tf.train.sgd(0.1), seed });
      for (let i = 0; i < 20; i++) await opt.step(p.loss);
      opt.dispose();
      return flat(p.variables);
    };
    const a = await run(7);
    expect(await run(7)).toEqual(a);
    expect(await run(8)).not.toEqual(a);
  },
);

it('refuses a step whose gradient is NaN although the loss is finite', async () => {
  const x = tf.variable(tf.zeros([3]));
  const opt = traceSam({ params: [x], base: tf.train.sgd(0.1) });
  // ∇‖x‖ = x/‖x‖ is 0/0 at x = 0.
  const stats = await opt.step(() => tf.sqrt(tf.sum(tf.square(x))) as tf.Scalar);
  expect(stats.loss).toBe(0);
  expect(stats.applied).toBe(false);
  expect(stats.reason).toMatch(/gradient has NaN/);
  expect(Array.from(x.dataSync())).toEqual([0, 0, 0]);
  x.dispose();
});

describe('on wasm: g and its finiteness test in one pass (tensorList.checkedCombination)', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  afterAll(async () => {
    await tf.setBackend('cpu'); // the tests below run on cpu
  });

  // L = k·x at x = 1: ∇L = k and wd·x = wd, both finite; g = k + wd overflows float32 past 3.4e38.
  const stepWith = async (k: number, weightDecay: number) => {
    const x = tf.variable(tf.ones([1]));
    const opt = plain({ params: [x], base: tf.train.momentum(0.1, 0.9), weightDecay });
    const loss = () => tf.sum(tf.mul(x, k)) as tf.Scalar;
    let stats: Awaited<ReturnType<typeof opt.step>> | undefined;
    const { kernelNames } = await tf.profile(async () => {
      stats = await opt.step(loss);
    });
    const after = Array.from(x.dataSync());
    opt.dispose();
    x.dispose();
    return { stats: stats!, kernelNames, after };
  };

  it('refuses a step whose g = ∇L + wd·x overflows although ∇L and x are finite', async () => {
    const { stats, kernelNames, after } = await stepWith(2e38, 2e38);
    expect(stats.loss).toBe(Math.fround(2e38)); // finite: only g overflows
    expect(stats.applied).toBe(false);
    expect(stats.reason).toMatch(/gradient has NaN or ±∞/);
    expect(after).toEqual([1]);
    // Counted in g's own pass: no separate finiteness kernel ran.
    expect(kernelNames).toContain(tensorList.LIST_KERNELS.linearCombination);
    expect(kernelNames).not.toContain(tensorList.LIST_KERNELS.finiteSquares);
  });

  it('applies the same step where g stays finite', async () => {
    const { stats, after } = await stepWith(1e38, 1e38);
    expect(stats.applied).toBe(true);
    // x − 0.1·(k + wd·x) in float32.
    expect(after[0]).toBe(Math.fround(1 - Math.fround(0.1) * Math.fround(2e38)));
  });
});

it('refuses a step where only a perturbed loss is NaN', async () => {
  const p = make();
  const x = flat(p.variables);
  const opt = frobSam({ params: p.variables, base: tf.train.sgd(0.1) });
  const stats = await opt.step(scripted(p, (c) => (c === 3 ? 'nan' : undefined)));
  expect(stats.applied).toBe(false);
  expect(stats.reason).toMatch(/a loss is NaN/);
  expect(flat(p.variables)).toEqual(x);
});

describe('bad input gets a one-line OptimizerError naming the fix', () => {
  const cases: [string, (o: OptimizerOptions) => unknown, RegExp][] = [
    [
      'frobSam n = 1',
      (o) => frobSam({ ...o, samples: 1 }),
      /samples must be an integer ≥ 2 \(measure 'frobenius' needs 2/,
    ],
    ['frobSam ρ = 0', (o) => frobSam({ ...o, rho: 0 }), /rho \(ρ\) must be a finite number > 0/],
    ['traceSam ρ < 0', (o) => traceSam({ ...o, rho: -0.01 }), /rho \(ρ\) must be .* > 0/],
    ['detSam ρ = NaN', (o) => detSam({ ...o, rho: Number.NaN }), /rho \(ρ\)/],
    ['detSam h = 0', (o) => detSam({ ...o, halfWidth: 0 }), /halfWidth \(h\) must be .* > 0/],
    [
      'frobSam samples 1e9',
      (o) => frobSam({ ...o, samples: 1e9 }),
      /^frobSam: samples must be an integer ≤ 1024 \(each costs a gradient evaluation per step\), got 1000000000; pass samples: 1024 or fewer\.$/,
    ],
    [
      'traceSam samples 1025',
      (o) => traceSam({ ...o, samples: 1025 }),
      /samples must be an integer ≤ 1024/,
    ],
    ['universalSam without ρ', (o) => universalSam({ ...o, measure: frobenius() } as never), /rho/],
    [
      'universalSam without a measure',
      (o) => universalSam({ ...o, rho: 1 } as never),
      /measure must be/,
    ],
    ['λ < 0', (o) => traceSam({ ...o, lambda: -1 }), /lambda \(λ\) must be a finite number ≥ 0/],
    ['λ = ∞', (o) => sam({ ...o, lambda: Number.POSITIVE_INFINITY }), /lambda \(λ\)/],
    ['sam ρ < 0', (o) => sam({ ...o, rho: -1 }), /rho \(ρ\) must be a finite number ≥ 0/],
    ['asam η = 0', (o) => asam({ ...o, eta: 0 }), /eta \(η\) must be .* > 0/],
    ['ssamF without fisherLosses', (o) => ssamF(o as never), /fisherLosses must be a function/],
    [
      'ssamF sparsity 1',
      (o) => ssamF({ ...o, sparsity: 1, fisherLosses: noFisher }),
      /sparsity must be in \[0, 1\)/,
    ],
    ['weight decay < 0', (o) => plain({ ...o, weightDecay: -1 }), /weightDecay must be .* ≥ 0/],
    ['empty variable list', (o) => sam({ ...o, params: [] }), /variable list is empty/],
    [
      'no base optimizer',
      (o) => sam({ ...o, base: undefined as never }),
      /base must be a tfjs optimizer/,
    ],
    [
      'determinant built for another d',
      (o) => universalSam({ ...o, measure: determinant(7), rho: 1 }),
      /built for d = 7 but the parameters have d = 17/,
    ],
    // Misspelt or foreign option names: an error listing the valid ones, never ignored.
    [
      'universalSam({ sample: 4 })',
      (o) => universalSam({ ...o, measure: frobenius(), rho: 0.1, sample: 4 } as never),
      /unknown option 'sample'; valid options are params, state, base, .*samples/,
    ],
    [
      'frobSam({ learningRate })',
      (o) => frobSam({ ...o, learningRate: 0.1 } as never),
      /unknown option 'learningRate' \(the learning rate belongs to base.*setLearningRate\)/,
    ],
    [
      'universalSam({ coefficients }): no rule can be paired with a measure',
      (o) => universalSam({ ...o, measure: trace(), rho: 0.1, coefficients: {} } as never),
      /unknown option 'coefficients'/,
    ],
    [
      'sam({ eta }) (an ASAM option)',
      (o) => sam({ ...o, eta: 0.1 } as never),
      /unknown option 'eta'/,
    ],
    [
      'universalSam(frobenius(), samples: 1)',
      (o) => universalSam({ ...o, measure: frobenius(), rho: 0.1, samples: 1 }),
      /samples must be an integer ≥ 2 \(measure 'frobenius' needs 2/,
    ],
    ['options not an object', () => sam('fast' as never), /pass an options object .* got 'fast'/],
    [
      'mSharpness 0',
      (o) => sam({ ...o, mSharpness: 0 }),
      /mSharpness must be an integer ≥ 1, got 0/,
    ],
    ['clipNorm 0', (o) => sam({ ...o, clipNorm: 0 }), /clipNorm must be a finite number > 0/],
    ['rho as a string', (o) => sam({ ...o, rho: '0.05' as never }), /rho \(ρ\) .* got '0.05'/],
  ];
  it.each(cases)('%s', (_name, build, message) => {
    const p = make();
    let error: unknown;
    try {
      build({ params: p.variables, base: tf.train.sgd(0.1) });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OptimizerError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  it.each([
    ['a number', () => 3, /must return an iterable .* got 3/],
    ['null', () => null, /must return an iterable .* got null/],
    ['non-functions', () => [1, 2], /yielded 1 at position 0; yield loss closures/],
  ])('ssamF whose fisherLosses returns %s', async (_what, fisherLosses, message) => {
    const p = make();
    const opt = ssamF({ params: p.variables, base: tf.train.sgd(0.1), fisherLosses } as never);
    const x = flat(p.variables);
    await expect(opt.step(p.loss)).rejects.toThrow(message);
    await expect(opt.step(p.loss)).rejects.toBeInstanceOf(OptimizerError);
    expect(flat(p.variables)).toEqual(x);
  });

  it('a non-trainable variable in params', () => {
    const v = tf.variable(tf.zeros([2]), false);
    expect(() => sam({ params: [v], base: tf.train.sgd(0.1) })).toThrow(/is not trainable/);
    v.dispose();
  });

  it('a loss closure that does not return a scalar', async () => {
    const p = make();
    const opt = traceSam({ params: p.variables, base: tf.train.sgd(0.1) });
    await expect(opt.step(() => tf.ones([2]) as unknown as tf.Scalar)).rejects.toThrow(
      /must return a float32 scalar .* shape \[2\]; reduce it with tf.mean/,
    );
    await expect(opt.step(() => tf.scalar(1))).rejects.toThrow(
      /does not depend on any of the variables/,
    );
    await expect(opt.step(undefined as never)).rejects.toThrow(/pass a loss closure/);
  });

  it('a sampler whose draws do not match the parameter shapes', async () => {
    const p = make();
    const bad: Sampler = { name: 'bad', sample: () => [tf.zeros([3])] };
    const opt = traceSam({ params: p.variables, base: tf.train.sgd(0.1), sampler: bad });
    const x = flat(p.variables);
    await expect(opt.step(p.loss)).rejects.toThrow(
      /sampler 'bad' returned tensors that do not match/,
    );
    expect(flat(p.variables)).toEqual(x);
  });
});
