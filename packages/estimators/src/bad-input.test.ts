/**
 * Bad input, as a new user writes it from plain JavaScript or TypeScript:
 * every row must fail with a one-line `EstimatorError` whose message contains
 * the fragment (what was wrong, what it got, what is accepted). Add a row
 * with every new public function.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@usam/backend';
import { frobenius } from '@usam/measures';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createHvp,
  EstimatorError,
  firstBatches,
  frobeniusNormSquared,
  type HessianOperator,
  hessian,
  hutchinsonTrace,
  measureMonteCarlo,
  spectralDensity,
  topEigenvalues,
} from './index';
import { ownedVariable } from './test-utils';

beforeAll(async () => {
  await initBackend('cpu');
});

// biome-ignore lint/suspicious/noExplicitAny: calls as plain JavaScript makes them.
type Loose = any;

const square = () => {
  const w = tf.variable(tf.tensor1d([1, 2, 3]));
  return { w, loss: () => tf.sum(tf.square(w)) as tf.Scalar };
};
const operator = (apply: (v: tf.Tensor1D) => unknown): HessianOperator => ({
  dimension: 3,
  apply: async (v) => apply(v) as tf.Tensor1D,
});
const identity = operator((v) => tf.clone(v));
const nanOperator = operator((v) => tf.mul(v, Number.NaN));
const model = () => tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [3] })] });
const model1 = () => tfl.sequential({ layers: [tfl.layers.dense({ units: 1, inputShape: [3] })] });
const data = () => ({ xs: tf.ones([4, 3]), ys: tf.oneHot(tf.tensor1d([0, 1, 0, 1], 'int32'), 2) });

const cases: [string, () => unknown, string][] = [
  [
    'createHvp()',
    () => (createHvp as Loose)(),
    'createHvp: options must be an object { variables, loss, data? }, got undefined',
  ],
  [
    'createHvp({})',
    () => createHvp({} as Loose),
    'variables must be a non-empty array of tf.Variables, got undefined',
  ],
  [
    'unknown option',
    () => createHvp({ loss: square().loss, varibles: [] } as Loose),
    "unknown option 'varibles'; valid options are variables, loss",
  ],
  [
    'loss a string',
    () => createHvp({ variables: [square().w], loss: 'mse' as Loose }),
    "loss must be a function (batch) => tf.Scalar, got 'mse'",
  ],
  [
    'method',
    () => createHvp({ variables: [square().w], loss: square().loss, method: 'forward' as Loose }),
    "method must be 'exact' or 'central', got 'forward'",
  ],
  [
    'H.apply(3)',
    () => createHvp({ variables: [square().w], loss: square().loss }).apply(3 as Loose),
    'apply(v) needs a float32 tensor of shape [3] (the parameters, flattened), got 3',
  ],
  [
    'H.apply(int32)',
    () =>
      createHvp({ variables: [square().w], loss: square().loss }).apply(
        tf.tensor1d([1, 2, 3], 'int32'),
      ),
    'got an int32 tensor of shape [3]',
  ],
  [
    'H.apply(wrong length)',
    () =>
      createHvp({ variables: [square().w], loss: square().loss }).apply(
        tf.ones([4]) as tf.Tensor1D,
      ),
    'got a float32 tensor of shape [4]',
  ],
  [
    'preserve',
    () =>
      createHvp({
        loss: square().loss,
        variables: [square().w],
        preserve: [tf.ones([2])] as Loose,
      }),
    'preserve must be an array of tf.Variables',
  ],
  [
    'operator missing',
    () => hutchinsonTrace(undefined as Loose),
    'hutchinsonTrace: H must be a Hessian operator { dimension ≥ 1, apply(v) }, got undefined',
  ],
  [
    'operator returns wrong length',
    () =>
      hutchinsonTrace(
        operator(() => tf.ones([2])),
        { probes: 2 },
      ),
    'H.apply(v) returned a float32 tensor of shape [2]; it must return a float32 tensor of shape [3]',
  ],
  [
    'operator returns a number',
    () =>
      frobeniusNormSquared(
        operator(() => 5),
        { probes: 2 },
      ),
    'frobeniusNormSquared: H.apply(v) returned 5',
  ],
  [
    'NaN product: trace',
    () => hutchinsonTrace(nanOperator, { probes: 2 }),
    'hutchinsonTrace: a Hessian-vector product has NaN or infinite entries',
  ],
  [
    'NaN product: Frobenius',
    () => frobeniusNormSquared(nanOperator, { probes: 2 }),
    'frobeniusNormSquared: a Hessian-vector product has NaN',
  ],
  [
    'NaN product: eigenvalues',
    () => topEigenvalues(nanOperator),
    'topEigenvalues: a Hessian-vector product has NaN',
  ],
  [
    'NaN product: density',
    () => spectralDensity(nanOperator),
    'spectralDensity: a Hessian-vector product has NaN',
  ],
  [
    '∞ product: measure',
    () =>
      measureMonteCarlo(
        operator((v) => tf.div(v, 0)),
        frobenius(),
        { samples: 2 },
      ),
    'measureMonteCarlo: a Hessian-vector product has NaN or infinite entries',
  ],
  [
    "distribution: 'cauchy'",
    () => hutchinsonTrace(identity, { distribution: 'cauchy' as Loose }),
    "hutchinsonTrace: distribution must be 'rademacher' or 'gaussian', got 'cauchy'",
  ],
  [
    "SLQ distribution: 'cauchy'",
    () => spectralDensity(identity, { distribution: 'cauchy' as Loose }),
    "got 'cauchy'",
  ],
  [
    "probes: '10'",
    () => hutchinsonTrace(identity, { probes: '10' as Loose }),
    "probes must be an integer ≥ 2 (a standard error needs two probes), got '10'",
  ],
  [
    'unknown estimator option',
    () => topEigenvalues(identity, { topK: 2 } as Loose),
    "topEigenvalues: unknown option 'topK'; valid options are k, tolerance",
  ],
  [
    'options a number',
    () => spectralDensity(identity, 3 as Loose),
    'spectralDensity: options must be an object, got 3',
  ],
  [
    'tolerance NaN',
    () => topEigenvalues(identity, { tolerance: Number.NaN }),
    'tolerance must be a finite number > 0, got NaN',
  ],
  [
    'firstBatches mismatch',
    () => firstBatches(tf.ones([3, 2]), tf.ones([2])),
    'xs has 3 examples but ys has 2',
  ],
  [
    'hessian(null)',
    () => hessian(null as Loose, { data: data() }),
    'hessian: model must be a tfjs-layers model (apply, trainableWeights), got null',
  ],
  [
    'hessian without options',
    () => (hessian as Loose)(model()),
    'hessian: options must be an object { data, loss?, batchSize?, seed? }, got undefined',
  ],
  [
    'hessian data: a number',
    () => hessian(model(), { data: 3 as Loose }),
    'hessian: data must be { xs, ys } tensors (e.g. the first 1280 training examples) or an array of such batches, got 3',
  ],
  [
    'hessian data: plain arrays',
    () => hessian(model(), { data: { xs: [[1, 2, 3]], ys: [[1, 0]] } as Loose }),
    'data must be { xs, ys } tensors',
  ],
  ['hessian empty batches', () => hessian(model(), { data: [] }), 'got an empty array'],
  [
    "hessian loss: 'hinge'",
    () => hessian(model(), { data: data(), loss: 'hinge' as Loose }),
    "hessian: loss must be 'softmaxCrossEntropy', 'sigmoidCrossEntropy', 'meanSquaredError' or a function (labels, outputs) => tf.Scalar, got 'hinge'",
  ],
  [
    'hessian unknown option',
    () => hessian(model(), { data: data(), probes: 10 } as Loose),
    "hessian: unknown option 'probes'; valid options are data, loss, batchSize, seed",
  ],
  [
    'hessian batchSize 0',
    () => hessian(model(), { data: data(), batchSize: 0 }),
    'hessian: batchSize must be an integer ≥ 1, got 0',
  ],
  [
    'hessian: 3 classes of labels for 2 logits',
    () =>
      hessian(model(), {
        data: { xs: tf.ones([4, 3]), ys: tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3) },
      }),
    "hessian: data.ys has shape [4, 3] but the model outputs [*, 2] (2 classes), so 'softmaxCrossEntropy' cannot pair them; pass one-hot rows of 2 (tf.oneHot(labels, 2)) or int32 class indices.",
  ],
  [
    'hessian: class index past the classes',
    () =>
      hessian(model(), { data: { xs: tf.ones([4, 3]), ys: tf.tensor1d([0, 1, 5, 1], 'int32') } }),
    'hessian: data.ys holds class index 5 (example 2) but the model has 2 classes; pass indices in [0, 1].',
  ],
  [
    'hessian: inputs 5 wide for a model taking 3',
    () => hessian(model(), { data: { xs: tf.ones([4, 5]), ys: data().ys } }),
    "hessian: data.xs has shape [4, 5] but the model takes inputs of shape [*, 3]; pass examples shaped like the model's input.",
  ],
  [
    'hessian: labels [n] for a sigmoid output [n, 1]',
    () =>
      hessian(model1(), {
        data: { xs: tf.ones([4, 3]), ys: tf.tensor1d([0, 1, 1, 0]) },
        loss: 'sigmoidCrossEntropy',
      }),
    "data.ys has shape [4] but the model outputs [*, 1], so 'sigmoidCrossEntropy' cannot pair them; pass labels shaped like the model's output.",
  ],
  [
    'hessian: a model without symbolic shapes, 3 classes for 2 logits (at the first product)',
    () => {
      const w = tf.variable(tf.ones([3, 2]));
      const bare = {
        apply: (x: tf.Tensor) => tf.matMul(x, w),
        trainableWeights: [{ read: () => w }],
        nonTrainableWeights: [],
      };
      return hessian(bare, {
        data: { xs: tf.ones([4, 3]), ys: tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3) },
      }).trace({ probes: 2 });
    },
    'hessian: data.ys has shape [4, 3] but the model outputs [4, 2] (2 classes)',
  ],
  [
    'hessian with tf.losses',
    () =>
      hessian(model(), {
        data: data(),
        loss: (y, z) => tf.losses.softmaxCrossEntropy(y, z) as tf.Scalar,
      }).trace({ probes: 2 }),
    "customGrad op 'softmaxCrossEntropy', whose second derivative tfjs drops",
  ],
];

describe('bad input to @usam/estimators', () => {
  it.each(cases)('%s', async (_, call, fragment) => {
    let error: unknown;
    try {
      await call();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EstimatorError);
    expect((error as Error).message).toContain(fragment);
    expect((error as Error).message).not.toContain('\n');
  });
});

describe('failing calls leave no tensors behind', () => {
  /** Each call must reject; 20 of them (after one to warm up) must leave tf.memory() as it was. */
  const failing: [string, () => Promise<unknown>][] = [];
  const w = () => ownedVariable(tf.tensor1d([1, 2, 3]));
  const v = () => tf.ones([3]) as tf.Tensor1D;
  const hvpCase = (name: string, loss: (w: tf.Variable) => tf.Scalar, method?: 'central') => {
    failing.push([
      name,
      async () => {
        const x = w();
        const dir = v();
        try {
          await createHvp({ variables: [x], loss: () => loss(x), ...(method && { method }) }).apply(
            dir,
          );
        } finally {
          tf.dispose([x, dir]);
        }
      },
    ]);
  };
  hvpCase('a non-scalar loss (exact)', (x) => tf.square(x) as Loose);
  hvpCase('a non-scalar loss (central)', (x) => tf.square(x) as Loose, 'central');
  hvpCase('a loss that throws after recording ops', (x) => {
    tf.sum(tf.square(x));
    throw new Error('boom');
  });
  hvpCase('a NaN loss', (x) => tf.mul(tf.sum(tf.square(x)), Number.NaN) as tf.Scalar);
  hvpCase('a NaN loss linear in x', (x) => tf.mul(tf.sum(x), Number.NaN) as tf.Scalar);
  hvpCase(
    'a customGrad loss (refused)',
    (x) =>
      tf.losses.softmaxCrossEntropy(tf.tensor2d([[0, 1, 0]]), tf.reshape(x, [1, 3])) as tf.Scalar,
  );
  hvpCase('a loss not reading the variables', () => tf.scalar(1));
  const onModel = (name: string, makeData: () => { xs: tf.Tensor; ys: tf.Tensor }) =>
    failing.push([
      name,
      async () => {
        const m = model();
        const d = tf.tidy(makeData);
        try {
          const H = hessian(m, { data: d });
          try {
            await H.trace({ probes: 2 });
          } finally {
            H.dispose();
          }
        } finally {
          m.dispose();
          tf.dispose([d.xs, d.ys]);
        }
      },
    ]);
  onModel('hessian: 3 classes for 2 logits', () => ({
    xs: tf.ones([4, 3]),
    ys: tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3),
  }));
  onModel('hessian: inputs 5 wide for a model taking 3', () => ({
    xs: tf.ones([4, 5]),
    ys: tf.oneHot(tf.tensor1d([0, 1, 0, 1], 'int32'), 2),
  }));

  it.each(failing)('%s', async (_, call) => {
    await expect(call()).rejects.toThrow();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) await expect(call()).rejects.toThrow();
    expect(tf.memory().numTensors).toBe(before);
  });
});
