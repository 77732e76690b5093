import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { maxEigenvalue } from '@usam/measures';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptimizerError } from './errors';
import { detSam, frobSam, plain, traceSam, universalSam } from './instances';
import { asam, sam, ssamF } from './sam';
import type { SharpnessAwareOptimizer } from './sharpness-aware';
import { decodeOptimizerState, disposeOptimizerState, encodeOptimizerState } from './state';
import { batchNormModel } from './test-helpers';
import type { BatchPart, OptimizerOptions } from './types';

beforeAll(async () => {
  await initBackend('cpu');
});

/** A dense–BatchNorm–dense model on 16 fixed examples, the same weights for the same seed. */
function setup() {
  const { m, weights } = batchNormModel();
  const xs = tf.randomNormal([16, 4], 0, 1, 'float32', 5);
  const ys = tf.randomNormal([16, 3], 0, 1, 'float32', 6);
  const lossOn = (x: tf.Tensor, y: tf.Tensor) => () =>
    tf.tidy(
      () => tf.losses.meanSquaredError(y, m.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
    );
  const loss = (part: BatchPart) => lossOn(part.slice(xs), part.slice(ys))();
  const fisherLosses = (count: number, epoch: number) =>
    Array.from({ length: count }, (_, i) => {
      const j = (i + 3 * epoch) % 16;
      return () => tf.tidy(() => lossOn(tf.slice(xs, j, 1), tf.slice(ys, j, 1))());
    });
  return {
    m,
    loss,
    fisherLosses,
    weights,
    dispose: () => {
      m.dispose();
      tf.dispose([xs, ys]);
    },
  };
}

type Setup = ReturnType<typeof setup>;
type Build = (o: OptimizerOptions, s: Setup) => SharpnessAwareOptimizer;

const variants: [string, Build][] = [
  ['plain', (o) => plain(o)],
  ['sam', (o) => sam({ ...o, rho: 0.1 })],
  ['sam, m = 2', (o) => sam({ ...o, rho: 0.1, mSharpness: 2 })],
  ['asam', (o) => asam(o)],
  ['ssamF', (o, s) => ssamF({ ...o, numSamples: 3, fisherLosses: s.fisherLosses })],
  ['frobSam', (o) => frobSam({ ...o, rho: 0.05, lambda: 0.1, samples: 3 })],
  ['traceSam', (o) => traceSam({ ...o, rho: 0.05 })],
  ['detSam', (o) => detSam({ ...o, halfWidth: 0.05 })],
  [
    'universalSam (max eigenvalue, m = 2 unshared)',
    (o) =>
      universalSam({ ...o, measure: maxEigenvalue({ directions: 2 }), rho: 0.05, lambda: 0.1 }),
  ],
];
const bases: [string, () => tf.Optimizer][] = [
  ['momentum', () => tf.train.momentum(0.05, 0.9)],
  ['Adam', () => tf.train.adam(0.01)],
];

describe.each(bases)(
  'save and restore (%s): 2k steps = k steps, save, fresh model and optimizer, k steps, bit for bit',
  (_base, makeBase) => {
    const k = 3;
    const epochOf = (step: number) => Math.floor(step / 2); // SSAM-F refreshes its mask each epoch

    it.each(variants)('%s', async (_name, build) => {
      // In one go.
      const straight = setup();
      const a = build(
        { params: straight.m, base: makeBase(), weightDecay: 1e-3, seed: 4 },
        straight,
      );
      for (let i = 0; i < 2 * k; i++) await a.step(straight.loss, { epoch: epochOf(i) });

      // k steps, saved through JSON + binary, continued in a fresh model and optimizer.
      const first = setup();
      const b = build({ params: first.m, base: makeBase(), weightDecay: 1e-3, seed: 4 }, first);
      for (let i = 0; i < k; i++) await b.step(first.loss, { epoch: epochOf(i) });
      const state = await b.getState();
      const { json, data } = await encodeOptimizerState(state);
      disposeOptimizerState(state);
      const restoredState = decodeOptimizerState(JSON.parse(JSON.stringify(json)), data.slice());
      const second = setup();
      second.m.setWeights(first.m.getWeights());
      const c = build({ params: second.m, base: makeBase(), weightDecay: 1e-3, seed: 99 }, second);
      await c.setState(restoredState);
      disposeOptimizerState(restoredState);
      for (let i = k; i < 2 * k; i++) await c.step(second.loss, { epoch: epochOf(i) });

      expect(second.weights()).toEqual(straight.weights());
      expect(c.counters).toEqual(a.counters);
      for (const o of [a, b, c]) o.dispose();
      for (const s of [straight, first, second]) s.dispose();
    });
  },
);

it('save and restore hold no tensors beyond the state', async () => {
  const s = setup();
  const opt = frobSam({ params: s.m, base: tf.train.adam(0.01), rho: 0.05 });
  await opt.step(s.loss);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) {
    const state = await opt.getState();
    await opt.setState(state);
    disposeOptimizerState(state);
  }
  expect(tf.memory().numTensors).toBe(before);
  opt.dispose();
  s.dispose();
});

it('the learning rate is part of the state', async () => {
  const s = setup();
  const opt = sam({ params: s.m, base: tf.train.sgd(0.1) });
  opt.setLearningRate(0.025);
  const state = await opt.getState();
  const other = sam({ params: s.m, base: tf.train.sgd(0.1) });
  await other.setState(state);
  expect(other.learningRate).toBe(0.025);
  disposeOptimizerState(state);
  opt.dispose();
  other.dispose();
  s.dispose();
});

it('bad states are refused with a one-line OptimizerError', async () => {
  const s = setup();
  const opt = sam({ params: s.m, base: tf.train.sgd(0.1) });
  const state = await opt.getState();
  await expect(frobSam({ params: s.m, base: tf.train.sgd(0.1) }).setState(state)).rejects.toThrow(
    /saved by 'sam', not 'frobSam'; restore it into the same variant/,
  );
  await expect(opt.setState({} as never)).rejects.toThrow(/not an optimizer state/);
  expect(() => decodeOptimizerState('{', new Uint8Array())).toThrow(OptimizerError);
  const { json } = await encodeOptimizerState(state);
  expect(() => decodeOptimizerState(json, 'x' as never)).toThrow(
    /data must be the Uint8Array .* got 'x'/,
  );
  disposeOptimizerState(state);
  opt.dispose();
  s.dispose();
});
