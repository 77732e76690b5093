import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { detSam, frobSam, plain, traceSam } from './instances';
import { asam, sam } from './sam';
import type { SharpnessAwareOptimizer } from './sharpness-aware';
import type { OptimizerOptions } from './types';

/**
 * docs/optimizer-semantics.md: perturbed passes leave BatchNorm running statistics untouched. A
 * tfjs-layers BatchNormalization writes its moving mean and variance on every
 * training-mode forward pass, so without the snapshot/restore a SAM step
 * would move them 2 (or 1 + n) times instead of once.
 */

beforeAll(async () => {
  await initBackend('cpu');
});

function model(seed: number) {
  const m = tfl.sequential({
    layers: [
      tfl.layers.dense({
        inputShape: [4],
        units: 6,
        kernelInitializer: tfl.initializers.glorotUniform({ seed }),
      }),
      tfl.layers.batchNormalization({ momentum: 0.9 }),
      tfl.layers.activation({ activation: 'relu' }),
      tfl.layers.dense({
        units: 3,
        kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }),
      }),
    ],
  });
  const xs = tf.randomNormal([16, 4], 0, 1, 'float32', 5);
  const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0], 'int32'), 3);
  const loss = () =>
    tf.tidy(
      () =>
        tf.losses.meanSquaredError(ys, m.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar,
    );
  const read = (weights: tfl.LayerVariable[]) =>
    weights.map((w) => Array.from(w.read().dataSync()));
  return {
    m,
    loss,
    stats: () => read(m.nonTrainableWeights),
    weights: () => read(m.trainableWeights),
    dispose: () => {
      m.dispose();
      tf.dispose([xs, ys]);
    },
  };
}

const variants: [string, (o: OptimizerOptions) => SharpnessAwareOptimizer][] = [
  ['sam', (o) => sam(o)],
  ['asam', (o) => asam(o)],
  ['frobSam', (o) => frobSam({ ...o, samples: 3, rho: 0.05, lambda: 0.1 })],
  ['traceSam', (o) => traceSam({ ...o, samples: 2 })],
  ['detSam', (o) => detSam(o)],
];

describe.each(variants)('%s on a tfjs-layers model with BatchNorm', (_name, build) => {
  it('running statistics after a step equal those after a plain step', async () => {
    const reference = model(1);
    const subject = model(1);
    expect(subject.stats()).toEqual(reference.stats());
    await plain({ params: reference.m, base: tf.train.sgd(0.1) }).step(reference.loss);
    const opt = build({ params: subject.m, base: tf.train.sgd(0.1) });
    const stats = await opt.step(subject.loss);
    expect(stats.gradientEvaluations).toBeGreaterThan(1);
    expect(subject.stats()).toEqual(reference.stats());
    // The perturbed passes did change the weights' update (the test is not vacuous) …
    expect(subject.weights()).not.toEqual(reference.weights());
    // … and a training-mode pass does move the statistics when nothing restores them.
    const before = subject.stats();
    subject.loss().dispose();
    expect(subject.stats()).not.toEqual(before);
    reference.dispose();
    subject.dispose();
  });

  it('a refused step leaves the running statistics as before the step', async () => {
    const subject = model(2);
    const before = subject.stats();
    const opt = build({ params: subject.m, base: tf.train.sgd(0.1) });
    const stats = await opt.step(() => tf.mul(subject.loss(), Number.NaN) as tf.Scalar);
    expect(stats.applied).toBe(false);
    expect(subject.stats()).toEqual(before);
    subject.dispose();
  });
});

it("takes a model's weight lists too (trainableWeights, state: nonTrainableWeights)", async () => {
  const reference = model(3);
  const subject = model(3);
  await sam({ params: reference.m, base: tf.train.sgd(0.1) }).step(reference.loss);
  const opt = sam({
    params: subject.m.trainableWeights,
    state: subject.m.nonTrainableWeights,
    base: tf.train.sgd(0.1),
  });
  expect(opt.variables).toHaveLength(6); // two dense kernels and biases, BatchNorm γ and β
  expect(opt.state).toHaveLength(2);
  await opt.step(subject.loss);
  expect(subject.weights()).toEqual(reference.weights());
  expect(subject.stats()).toEqual(reference.stats());
  expect(() =>
    sam({
      params: [...subject.m.trainableWeights, subject.m.trainableWeights[0]!],
      base: tf.train.sgd(0.1),
    }),
  ).toThrow(/is listed twice/);
  expect(() =>
    sam({
      params: subject.m.trainableWeights,
      state: subject.m.trainableWeights,
      base: tf.train.sgd(0.1),
    }),
  ).toThrow(/both trained and in the state/);
  reference.dispose();
  subject.dispose();
});

it("preserve is the option's name; state, its old name, still works the same", async () => {
  const run = async (key: 'preserve' | 'state' | undefined) => {
    const subject = model(4);
    const opt = sam({
      params: subject.m.trainableWeights,
      ...(key && { [key]: subject.m.nonTrainableWeights }),
      base: tf.train.sgd(0.1),
    });
    expect(opt.preserve).toHaveLength(key ? 2 : 0);
    expect(opt.state).toEqual(opt.preserve);
    await opt.step(subject.loss);
    const result = { weights: subject.weights(), stats: subject.stats() };
    opt.dispose();
    subject.dispose();
    return result;
  };
  const reference = model(4);
  const whole = sam({ params: reference.m, base: tf.train.sgd(0.1) });
  await whole.step(reference.loss);
  const expected = { weights: reference.weights(), stats: reference.stats() };
  whole.dispose();
  reference.dispose();
  expect(await run('preserve')).toEqual(expected);
  expect(await run('state')).toEqual(expected);
  // Without it a list of weights preserves nothing: the perturbed pass moves the statistics.
  expect((await run(undefined)).stats).not.toEqual(expected.stats);
  const subject = model(4);
  expect(() =>
    sam({
      params: subject.m.trainableWeights,
      preserve: subject.m.nonTrainableWeights,
      state: subject.m.nonTrainableWeights,
      base: tf.train.sgd(0.1),
    }),
  ).toThrow(/^sam: got both preserve and state; pass preserve only \(state is its old name\)\.$/);
  subject.dispose();
});

it('steps of two optimizers on the same variables never interleave: each sees the weights the other left', async () => {
  // Two optimizers share a model: started together, their steps must equal the same steps in turn.
  const run = async (together: boolean) => {
    const subject = model(4);
    const a = sam({ params: subject.m, base: tf.train.sgd(0.1) });
    const b = frobSam({ params: subject.m, base: tf.train.sgd(0.1), rho: 0.05, lambda: 0.1 });
    if (together) await Promise.all([a.step(subject.loss), b.step(subject.loss)]);
    else {
      await a.step(subject.loss);
      await b.step(subject.loss);
    }
    const weights = subject.weights();
    subject.dispose();
    return weights;
  };
  expect(await run(true)).toEqual(await run(false));
});

it('a step started from inside another step on the same variables is refused, per variable', async () => {
  const subject = model(4);
  const outer = sam({ params: subject.m, base: tf.train.sgd(0.1) });
  const inner = sam({ params: subject.m, base: tf.train.sgd(0.1) });
  let nested: Promise<unknown> | undefined;
  await outer.step(() => {
    nested ??= inner.step(subject.loss);
    return subject.loss();
  });
  await expect(nested).rejects.toThrow(
    /is being stepped by sam right now.*one step at a time per variable/,
  );
  expect((await inner.step(subject.loss)).applied).toBe(true);
  subject.dispose();
});
