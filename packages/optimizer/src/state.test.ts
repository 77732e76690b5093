import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { maxEigenvalue } from '@usam/measures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  ['traceSam (sphere)', (o) => traceSam({ ...o, rho: 0.05, mu: 'sphere' })],
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

const onWasm = [
  ['wasm, momentum', () => tf.train.momentum(0.05, 0.9)],
  ['wasm, Nesterov momentum', () => tf.train.momentum(0.05, 0.9, true)],
  ['wasm, SGD', () => tf.train.sgd(0.05)],
  ['wasm, Adam', () => tf.train.adam(0.01)],
] as const;

// On wasm the SGD, momentum and Adam steps run as list kernels (base-step.ts): resume stays bit for bit.
describe.each([...bases, ...onWasm])(
  'save and restore (%s): 2k steps = k steps, save, fresh model and optimizer, k steps, bit for bit',
  (base, makeBase) => {
    beforeAll(async () => {
      if (base.startsWith('wasm')) await initBackend('wasm');
      else await tf.setBackend('cpu');
    });
    afterAll(async () => {
      await tf.setBackend('cpu'); // the tests below run on cpu
    });
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

describe('shapes at the door', () => {
  /** Two linear models on 4 inputs, 3 or 2 outputs: the same variable count, other shapes. */
  const linear = (outputs: number) => {
    const w = tf.variable(tf.zeros([4, outputs]), true, `w${Math.random()}`);
    const b = tf.variable(tf.zeros([outputs]), true, `b${Math.random()}`);
    const xs = tf.ones([2, 4]);
    const loss = () =>
      tf.tidy(() => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(xs, w), b), 1))) as tf.Scalar);
    return { params: [w, b], loss, dispose: () => tf.dispose([w, b, xs]) };
  };

  it.each(variants.filter(([name]) => name !== 'ssamF'))(
    '%s.setState refuses slots from a differently shaped variable, and keeps working',
    async (_name, build) => {
      const s = setup();
      const wide = linear(3);
      const narrow = linear(2);
      const from = build({ params: wide.params, base: tf.train.momentum(0.05, 0.9) }, s);
      await from.step(wide.loss);
      const state = await from.getState();
      const into = build({ params: narrow.params, base: tf.train.momentum(0.05, 0.9) }, s);
      let error: unknown;
      try {
        await into.setState(state);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(OptimizerError);
      expect((error as Error).message).toMatch(
        /setState: the state's slot 'base\/0\/momentum' has shape \[4,3\] but trained variable 0 \('w.*'\) has shape \[4,2\]; restore a state saved over the same architecture\.$/,
      );
      expect((error as Error).message).not.toContain('\n');
      // Nothing was restored: the next step runs on the optimizer's own (empty) slots.
      expect((await into.step(narrow.loss)).applied).toBe(true);
      disposeOptimizerState(state);
      for (const o of [from, into]) o.dispose();
      for (const x of [wide, narrow, s]) x.dispose();
    },
  );

  it('decodeOptimizerState refuses odd-length and mismatched tensor specs in one line', async () => {
    const s = setup();
    const opt = sam({ params: s.m, base: tf.train.momentum(0.1, 0.9) });
    await opt.step(s.loss);
    const state = await opt.getState();
    const { json, data } = await encodeOptimizerState(state);
    disposeOptimizerState(state);
    const edit = (change: (spec: Record<string, unknown>) => void) => {
      const parsed = JSON.parse(json);
      change(parsed.tensors[1]);
      return JSON.stringify(parsed);
    };
    const name = JSON.parse(json).tensors[1].name;
    const cases: [string, RegExp][] = [
      [
        edit((t) => {
          t.length = (t.length as number) - 1;
        }),
        new RegExp(
          `tensor '${name}' has length \\d+, expected \\d+ bytes \\(4 per entry of shape \\[4,6\\]\\)`,
        ),
      ],
      [
        edit((t) => {
          t.shape = [5, 6];
        }),
        /has length 96, expected 120 bytes \(4 per entry of shape \[5,6\]\)/,
      ],
      [
        edit((t) => {
          t.dtype = 'float16';
        }),
        /has dtype "float16", expected 'float32' or 'int32'/,
      ],
      [
        edit((t) => {
          t.shape = [4, -6];
        }),
        /has shape \[4,-6\], expected a list of non-negative integers/,
      ],
      [
        edit((t) => {
          t.offset = 1.5;
        }),
        /has offset 1.5, expected a non-negative integer/,
      ],
      [JSON.stringify({ ...JSON.parse(json), tensors: [null] }), /tensors\[0\] in json is null/],
      [JSON.stringify({ ...JSON.parse(json), tensors: 3 }), /not an optimizer state/],
    ];
    for (const [text, pattern] of cases) {
      let error: unknown;
      try {
        decodeOptimizerState(text, data);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(OptimizerError);
      expect((error as Error).message).toMatch(pattern);
      expect((error as Error).message).not.toContain('\n');
    }
    opt.dispose();
    s.dispose();
  });
});
