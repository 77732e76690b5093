import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@usam/backend';
import { frobenius } from '@usam/measures';
import { beforeAll, describe, expect, it } from 'vitest';
import { hessian } from './hessian';
import { createHvp } from './hvp';
import {
  eigenvaluesOf,
  frobeniusSquared,
  gaussians,
  matVec,
  mlpHessian,
  relativeError,
  type TinyMlp,
  tinyMlp,
  trace,
} from './test-utils';

beforeAll(async () => {
  await initBackend('cpu');
});

const K = 4; // standard errors allowed, as in hutchinson.test.ts

/** The tiny MLP of test-utils as a tfjs-layers model with the same weights (θ order = layer weight order). */
function layersMlp(
  m: TinyMlp,
  theta: readonly number[],
  head: 'softmax' | 'sigmoid' | 'softmaxLayer' | 'activationLayer' | undefined = undefined,
) {
  const model = tfl.sequential({
    layers: [
      tfl.layers.dense({ units: m.hidden, activation: m.activation, inputShape: [m.inputs] }),
      tfl.layers.dense({
        units: m.outputs,
        ...((head === 'softmax' || head === 'sigmoid') && { activation: head }),
      }),
      ...(head === 'softmaxLayer' ? [tfl.layers.softmax()] : []),
      ...(head === 'activationLayer' ? [tfl.layers.activation({ activation: 'softmax' })] : []),
    ],
  });
  let at = 0;
  model.setWeights(
    model.getWeights().map((w) => {
      const values = theta.slice(at, at + w.size);
      at += w.size;
      return tf.tensor(values, w.shape);
    }),
  );
  return model;
}

const bits = (ts: readonly tf.Tensor[]) =>
  ts.map((t) => Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer)));

describe('hessian(model, { data })', () => {
  it('is the float64 Hessian of a layers MLP: softmax cross-entropy (default) and mean squared error', async () => {
    for (const [activation, loss] of [
      ['tanh', 'crossEntropy'],
      ['relu', 'crossEntropy'],
      ['softplus', 'mse'],
    ] as const) {
      const { model: m, theta } = tinyMlp({
        activation,
        loss,
        examples: 7,
        seed: `h-${activation}`,
      });
      const model = layersMlp(m, theta);
      const H = hessian(model, {
        data: { xs: tf.tensor2d(m.xs), ys: tf.tensor2d(m.ys) },
        batchSize: 3, // batches of 3, 3, 1: weighted to the mean over all 7
        ...(loss === 'mse' && { loss: 'meanSquaredError' as const }),
      });
      expect(H.dimension).toBe(theta.length);
      const v = theta.map(gaussians(`h-${activation}-v`));
      const hv = await H.operator.apply(tf.tensor1d(v));
      // float32 rounding only; the relu reference differences with h = 1e-4
      // away from kinks (tinyMlp's pre-activations are O(1)).
      expect(relativeError(await hv.data(), matVec(mlpHessian(m, theta), v))).toBeLessThan(1e-4);
      H.dispose();
    }
  });

  it('estimates trace, ‖H‖_F², top eigenvalues, density and a measure, each within its error', async () => {
    const { model: m, theta } = tinyMlp({
      activation: 'tanh',
      loss: 'crossEntropy',
      examples: 8,
      seed: 'est',
    });
    const exact = mlpHessian(m, theta);
    const eigen = eigenvaluesOf(exact);
    const H = hessian(layersMlp(m, theta), {
      data: { xs: tf.tensor2d(m.xs), ys: tf.tensor2d(m.ys) },
      seed: 3,
    });
    const t = await H.trace({ probes: 60 });
    expect(Math.abs(t.estimate - trace(exact))).toBeLessThan(K * t.standardError);
    const f = await H.frobenius({ probes: 60 });
    expect(Math.abs(f.estimate - frobeniusSquared(exact))).toBeLessThan(K * f.standardError);
    const top = await H.eigenvalues({ k: 2, tolerance: 1e-6, maxIterations: 500 });
    const byMagnitude = [...eigen].sort((a, b) => Math.abs(b) - Math.abs(a));
    expect(top.converged[0]).toBe(true);
    expect(Math.abs(top.eigenvalues[0]! / byMagnitude[0]! - 1)).toBeLessThan(1e-3);
    const density = await H.density({ iterations: theta.length, probes: 2, gridSize: 2000 });
    expect(density.grid).toHaveLength(2000);
    expect(density.values).toHaveLength(2000);
    expect(Math.abs(Math.max(...density.nodes[0]!) - Math.max(...eigen))).toBeLessThan(1e-3);
    // The Frobenius measure of @usam/measures: S = ‖H‖_F² (docs/measures.md).
    const s = await H.measure(frobenius(), { samples: 60 });
    expect(Math.abs(s.estimate - frobeniusSquared(exact))).toBeLessThan(K * s.standardError);
    // The seed given to hessian() is every method's default.
    expect((await H.trace({ probes: 5 })).probes).toEqual(
      (await H.trace({ probes: 5, seed: 3 })).probes,
    );
    H.dispose();
  });

  it('takes integer class labels for softmax cross-entropy, and batches as they are', async () => {
    const { model: m, theta } = tinyMlp({
      activation: 'tanh',
      loss: 'crossEntropy',
      examples: 6,
      seed: 'int',
    });
    const model = layersMlp(m, theta);
    const xs = tf.tensor2d(m.xs);
    const oneHot = hessian(model, { data: { xs, ys: tf.tensor2d(m.ys) } });
    const labels = tf.tensor1d(
      m.ys.map((row) => row.indexOf(1)),
      'int32',
    );
    const indices = hessian(model, { data: [{ xs, ys: labels }] });
    const v = tf.tensor1d(theta.map(gaussians('int-v')));
    const a = await (await oneHot.operator.apply(v)).data();
    const b = await (await indices.operator.apply(v)).data();
    expect(relativeError(b, Array.from(a))).toBeLessThan(1e-6);
  });

  it('runs a BatchNorm model in eval mode and leaves its moving statistics bit-identical', async () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({ units: 6, inputShape: [4], useBias: false }),
        tfl.layers.batchNormalization(),
        tfl.layers.activation({ activation: 'relu' }),
        tfl.layers.dense({ units: 3 }),
      ],
    });
    const g = gaussians('bn');
    const xs = tf.tensor2d(
      Array.from({ length: 32 }, () => Array.from({ length: 4 }, () => 3 + g())),
    );
    const ys = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: 32 }, (_, i) => i % 3),
        'int32',
      ),
      3,
    );
    const stats = () => model.nonTrainableWeights.map((w) => w.read());
    const before = bits(stats());
    const H = hessian(model, { data: { xs, ys }, batchSize: 8 });
    await H.trace({ probes: 3 });
    await H.eigenvalues({ maxIterations: 5 });
    expect(bits(stats())).toEqual(before);

    // A training-mode loss moves them (moving mean 0 → ≈ 0.01·E[x]); `preserve` restores them.
    const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const trainingLoss = () =>
      tf.tidy(
        () =>
          tf.losses.meanSquaredError(
            ys,
            model.apply(xs, { training: true }) as tf.Tensor,
          ) as tf.Scalar,
      );
    const v = tf.ones([H.dimension]) as tf.Tensor1D;
    (
      await createHvp({ variables, loss: trainingLoss, preserve: stats() as tf.Variable[] }).apply(
        v,
      )
    ).dispose();
    expect(bits(stats())).toEqual(before);
    (await createHvp({ variables, loss: trainingLoss }).apply(v)).dispose();
    expect(bits(stats())).not.toEqual(before);
  });

  it('leaks no tensors over repeated estimates; dispose frees the batches it made', async () => {
    const { model: m, theta } = tinyMlp({
      activation: 'tanh',
      loss: 'crossEntropy',
      examples: 6,
      seed: 'leak',
    });
    const model = layersMlp(m, theta);
    const xs = tf.tensor2d(m.xs);
    const ys = tf.tensor2d(m.ys);
    const start = tf.memory().numTensors;
    const H = hessian(model, { data: { xs, ys }, batchSize: 4 });
    await H.trace({ probes: 2 });
    const steady = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      await H.trace({ probes: 2 });
      await H.frobenius({ probes: 2 });
      await H.eigenvalues({ maxIterations: 3 });
      await H.density({ iterations: 4 });
    }
    expect(tf.memory().numTensors).toBe(steady);
    H.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });
});

describe('hessian() on a model that ends in a softmax or sigmoid activation', () => {
  // The reference is the float64 Hessian of the cross-entropy on the logits of
  // the same MLP without the activation; agreement to 1e-4 relative is float32
  // rounding (as in the first test above), while reading the probabilities as
  // logits gives a different matrix altogether (a negative trace in the issue).
  async function hvpError(
    head: Parameters<typeof layersMlp>[2],
    loss: 'crossEntropy' | 'binaryCrossEntropy',
    options: { loss?: 'softmaxCrossEntropy' | 'sigmoidCrossEntropy' } = {},
  ) {
    const { model: m, theta } = tinyMlp({
      activation: 'tanh',
      loss,
      examples: 7,
      seed: `head-${loss}`,
    });
    const model = layersMlp(m, theta, head);
    const xs = tf.tensor2d(m.xs);
    const H = hessian(model, { data: { xs, ys: tf.tensor2d(m.ys) }, ...options });
    const v = theta.map(gaussians(`head-${loss}-v`));
    const hv = await H.operator.apply(tf.tensor1d(v));
    const error = relativeError(await hv.data(), matVec(mlpHessian(m, theta), v));
    // The model still ends in its activation afterwards: its outputs are probabilities.
    const p = model.predict(xs) as tf.Tensor;
    const rowSums = (await tf.sum(p, -1).data()) as Float32Array;
    const inUnit = (await p.data()).every((x) => x > 0 && x < 1);
    H.dispose();
    return { error, rowSums: Array.from(rowSums), inUnit };
  }

  it('softmax (a Dense activation, an Activation layer, a Softmax layer): the default loss is the cross-entropy on the pre-activation', async () => {
    for (const head of ['softmax', 'activationLayer', 'softmaxLayer'] as const) {
      const run = await hvpError(head, 'crossEntropy');
      expect(run.error).toBeLessThan(1e-4);
      for (const s of run.rowSums) expect(s).toBeCloseTo(1, 5);
    }
    expect(
      (await hvpError('softmax', 'crossEntropy', { loss: 'softmaxCrossEntropy' })).error,
    ).toBeLessThan(1e-4);
  });

  it('sigmoid: the default loss is the sigmoid cross-entropy on the pre-activation', async () => {
    const run = await hvpError('sigmoid', 'binaryCrossEntropy');
    expect(run.error).toBeLessThan(1e-4);
    expect(run.inUnit).toBe(true);
    expect(
      (await hvpError('sigmoid', 'binaryCrossEntropy', { loss: 'sigmoidCrossEntropy' })).error,
    ).toBeLessThan(1e-4);
    // Without the activation, 'sigmoidCrossEntropy' is taken on the outputs as logits.
    expect(
      (await hvpError(undefined, 'binaryCrossEntropy', { loss: 'sigmoidCrossEntropy' })).error,
    ).toBeLessThan(1e-4);
  });

  it('a cross-entropy that does not match the activation is refused with the fix', () => {
    const { model: m, theta } = tinyMlp({
      activation: 'tanh',
      loss: 'crossEntropy',
      examples: 4,
      seed: 'x',
    });
    const data = { xs: tf.tensor2d(m.xs), ys: tf.tensor2d(m.ys) };
    expect(() =>
      hessian(layersMlp(m, theta, 'sigmoid'), { data, loss: 'softmaxCrossEntropy' }),
    ).toThrow(
      /ends in a sigmoid activation, so its outputs are probabilities.*pass loss: 'sigmoidCrossEntropy' \(evaluated on the pre-activation\)/,
    );
    expect(() =>
      hessian(layersMlp(m, theta, 'softmax'), { data, loss: 'sigmoidCrossEntropy' }),
    ).toThrow(/ends in a softmax activation.*pass loss: 'softmaxCrossEntropy'/);
    tf.dispose([data.xs, data.ys]);
  });
});
