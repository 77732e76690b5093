import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@usam/backend';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModel } from './create-model';
import { ModelError } from './errors';
import {
  countParameters,
  forward,
  nonTrainableVariables,
  parameterCount,
  type StateSnapshot,
  snapshotState,
  trainableVariables,
} from './state';

let resnet: tfl.LayersModel;
let x: tf.Tensor;

beforeAll(async () => {
  await initBackend('cpu');
  resnet = createModel('resnet18', { width: 0.0625, inputShape: [8, 8, 3] });
  x = tf.randomNormal([4, 8, 8, 3], 0, 1, 'float32', 11);
});

afterAll(() => {
  resnet.dispose();
  x.dispose();
});

const values = (vs: readonly tf.Variable[]) => vs.map((v) => Array.from(v.dataSync()));
/** Bytes of each variable: equality of these is bit-exactness (NaN and −0 included). */
const bits = (vs: readonly tf.Variable[]) =>
  vs.map((v) => Array.from(new Uint32Array(v.dataSync().buffer.slice(0))));

/** A training-mode pass whose output is thrown away (BatchNorm statistics move). */
const trainPass = (m: tfl.LayersModel, input = x) =>
  forward(m, input, { training: true }).dispose();

describe('variables', () => {
  it('are the tf.Variables behind trainableWeights / nonTrainableWeights, in order', () => {
    const trainable = trainableVariables(resnet);
    expect(trainable).toEqual(resnet.trainableWeights.map((w) => w.read()));
    expect(trainable.every((v) => v instanceof tf.Variable && v.trainable)).toBe(true);
    const state = nonTrainableVariables(resnet);
    expect(state).toHaveLength(40); // moving mean and variance of 20 BatchNorms
    expect(state.every((v) => /moving_(mean|variance)$/.test(v.name) && !v.trainable)).toBe(true);
    const mlp = createModel('mlp', { inputShape: [3] });
    expect(nonTrainableVariables(mlp)).toEqual([]);
    mlp.dispose();
  });

  it('a shared layer counts once', () => {
    const shared = tfl.layers.dense({ units: 4, inputShape: [4] });
    const input = tfl.input({ shape: [4] });
    const twice = shared.apply(shared.apply(input)) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: twice });
    expect(trainableVariables(model)).toHaveLength(2);
    expect(parameterCount(model)).toBe(20);
    // Duplicated entries in a hand-made model-like object count once as well.
    const w = model.trainableWeights;
    const doubled = { trainableWeights: [...w, ...w], nonTrainableWeights: [] };
    expect(trainableVariables(doubled)).toHaveLength(2);
    expect(countParameters(doubled)).toEqual({ trainable: 20, nonTrainable: 0, total: 20 });
    model.dispose();
  });

  it('anything else gives a ModelError', () => {
    expect(() => trainableVariables({} as never)).toThrow(ModelError);
    expect(() => trainableVariables(null as never)).toThrow(/pass a tf.LayersModel/);
    expect(() =>
      nonTrainableVariables({
        trainableWeights: [],
        nonTrainableWeights: [{ read: () => 3 }],
      } as never),
    ).toThrow(/nonTrainableWeights\[0\] is not a tfjs-layers weight/);
  });
});

describe('train vs eval mode', () => {
  it('BatchNorm uses batch statistics and moves running statistics only in training mode', () => {
    const state = nonTrainableVariables(resnet);
    const snapshot = snapshotState(resnet);
    const before = bits(state);
    const evalA = forward(resnet, x, { training: false });
    const evalB = forward(resnet, x, { training: false });
    expect(bits(state)).toEqual(before); // eval mode changes nothing …
    expect(Array.from(evalA.dataSync())).toEqual(Array.from(evalB.dataSync())); // … and is repeatable
    const train = forward(resnet, x, { training: true });
    expect(bits(state)).not.toEqual(before); // training mode moves the statistics
    const diff = tf.max(tf.abs(tf.sub(train, evalA))).dataSync()[0]!;
    expect(diff).toBeGreaterThan(1e-3); // and normalises with the batch's own statistics
    // Running mean after one pass from 0: 0.9·0 + 0.1·batch mean (momentum 0.9).
    const stemMean = resnet.getLayer('stem_bn').getWeights()[2]!;
    const conv = resnet.getLayer('stem_conv').apply(x) as tf.Tensor;
    const batchMean = tf.mean(conv, [0, 1, 2]);
    expect(tf.max(tf.abs(tf.sub(stemMean, tf.mul(batchMean, 0.1)))).dataSync()[0]).toBeLessThan(
      1e-6,
    );
    tf.dispose([evalA, evalB, train, conv, batchMean]);
    snapshot.restore();
    snapshot.dispose();
  });

  it('BatchNorm is configured as PyTorch: momentum 0.1 (Keras 0.9), epsilon 1e-5', () => {
    const config = resnet.getLayer('layer1_block1_bn1').getConfig();
    expect(config.momentum).toBe(0.9);
    expect(config.epsilon).toBe(1e-5);
  });

  it('forward needs an explicit mode and a single-output model', () => {
    expect(() => forward(resnet, x, {} as never)).toThrow(/options.training must be true or false/);
    const input = tfl.input({ shape: [2] });
    const two = tfl.model({
      inputs: input,
      outputs: [
        tfl.layers.dense({ units: 1 }).apply(input) as tfl.SymbolicTensor,
        tfl.layers.dense({ units: 1 }).apply(input) as tfl.SymbolicTensor,
      ],
    });
    const before = tf.memory().numTensors;
    const xs = tf.ones([1, 2]);
    expect(() => forward(two, xs, { training: false })).toThrow(/gave 2 outputs/);
    xs.dispose();
    expect(tf.memory().numTensors).toBe(before);
    two.dispose();
  });
});

describe('snapshotState', () => {
  it('restore leaves the running statistics bit-exactly as they were, any number of times', () => {
    trainPass(resnet); // statistics away from their initial 0/1
    const state = nonTrainableVariables(resnet);
    const before = bits(state);
    const weights = bits(trainableVariables(resnet));
    const snapshot = snapshotState(resnet);
    expect(snapshot.variables).toEqual(state);
    for (let round = 0; round < 2; round++) {
      trainPass(resnet);
      trainPass(
        resnet,
        tf.tidy(() => tf.mul(x, 3)),
      );
      expect(bits(state)).not.toEqual(before);
      snapshot.restore();
      expect(bits(state)).toEqual(before);
    }
    expect(bits(trainableVariables(resnet))).toEqual(weights); // trainable weights untouched
    // The variables are still the model's own (assigned, not replaced).
    expect(nonTrainableVariables(resnet)).toEqual(state);
    snapshot.dispose();
    snapshot.dispose(); // idempotent
    expect(snapshot.isDisposed).toBe(true);
    expect(() => snapshot.restore()).toThrow(/snapshot is disposed/);
  });

  it('survives the tf.tidy it is taken in', () => {
    const before = bits(nonTrainableVariables(resnet));
    let snapshot = undefined as unknown as StateSnapshot;
    tf.tidy(() => {
      snapshot = snapshotState(resnet);
      trainPass(resnet);
    });
    trainPass(resnet);
    snapshot.restore();
    expect(bits(nonTrainableVariables(resnet))).toEqual(before);
    snapshot.dispose();
  });

  it('takes a variable list, and rejects disposed variables', () => {
    const v = tf.variable(tf.tensor1d([1, 2, 3]));
    const snapshot = snapshotState([v]);
    v.assign(tf.tensor1d([4, 5, 6]));
    snapshot.restore();
    expect(values([v])).toEqual([[1, 2, 3]]);
    snapshot.dispose();
    v.dispose();
    expect(() => snapshotState([v])).toThrow(/is disposed/);
  });

  it('is empty (and harmless) for a model without state', () => {
    const mlp = createModel('mlp', { inputShape: [3] });
    const snapshot = snapshotState(mlp);
    expect(snapshot.variables).toEqual([]);
    snapshot.restore();
    snapshot.dispose();
    mlp.dispose();
  });
});

describe('no tensor leaks', () => {
  it('repeated forward passes, snapshots and restores leave the tensor count as it was', () => {
    const cycle = () => {
      forward(resnet, x, { training: false }).dispose();
      const s = snapshotState(resnet);
      trainPass(resnet);
      s.restore();
      s.dispose();
      trainableVariables(resnet);
      countParameters(resnet);
    };
    cycle(); // first calls may cache
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) cycle();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a gradient step through forward leaks nothing either', () => {
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 10);
    const optimizer = tf.train.sgd(0.01);
    const step = () => {
      const snapshot = snapshotState(resnet);
      const loss = optimizer.minimize(
        () => tf.losses.softmaxCrossEntropy(labels, forward(resnet, x, { training: true })),
        true,
        trainableVariables(resnet),
      );
      loss!.dispose();
      snapshot.restore();
      snapshot.dispose();
    };
    step();
    const before = tf.memory().numTensors;
    step();
    step();
    expect(tf.memory().numTensors).toBe(before);
    optimizer.dispose();
    labels.dispose();
  });
});

describe("a user's own tfjs-layers model", () => {
  it('works with every helper', () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({ inputShape: [5], units: 8 }),
        tfl.layers.batchNormalization(),
        tfl.layers.activation({ activation: 'relu' }),
        tfl.layers.dense({ units: 3 }),
      ],
    });
    expect(countParameters(model)).toEqual({
      trainable: 48 + 16 + 27,
      nonTrainable: 16,
      total: 107,
    });
    const xs = tf.randomNormal([6, 5], 0, 1, 'float32', 2);
    const snapshot = snapshotState(model);
    const before = bits(nonTrainableVariables(model));
    const y = forward(model, xs, { training: true });
    expect(y.shape).toEqual([6, 3]);
    expect(bits(nonTrainableVariables(model))).not.toEqual(before);
    snapshot.restore();
    expect(bits(nonTrainableVariables(model))).toEqual(before);
    snapshot.dispose();
    tf.dispose([xs, y]);
    model.dispose();
  });
});
