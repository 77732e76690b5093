import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { createModel, type ModelName, type ModelOptions } from './create-model';
import { forward, snapshotState, trainableVariables } from './state';

beforeAll(async () => {
  expect((await initBackend('wasm')).name).toBe('wasm');
});

/**
 * A few steps on one fixed batch must lower its loss: the models, their
 * gradients (the wasm training kernels for conv nets) and BatchNorm in
 * training mode fit together.
 */
describe.each([
  ['mlp', { inputShape: [20], numClasses: 4 }, [16, 20]],
  ['cnn', { inputShape: [12, 12, 1], numClasses: 4, width: 0.5 }, [16, 12, 12, 1]],
  ['resnet18', { inputShape: [8, 8, 3], numClasses: 4, width: 0.125 }, [16, 8, 8, 3]],
] as const)('%s on wasm', (name, options, shape) => {
  it('a few training steps reduce the loss', () => {
    const model = createModel(name as ModelName, options as ModelOptions);
    const xs = tf.randomNormal([...shape], 0, 1, 'float32', 1);
    const ys = tf.oneHot(tf.randomUniform([shape[0]], 0, 4, 'int32', 2) as tf.Tensor1D, 4);
    const optimizer = tf.train.adam(0.01);
    const evalLoss = () =>
      tf.tidy(
        () =>
          tf.losses.softmaxCrossEntropy(ys, forward(model, xs, { training: false })).dataSync()[0]!,
      );
    const trainLoss = () =>
      tf.losses.softmaxCrossEntropy(ys, forward(model, xs, { training: true })) as tf.Scalar;
    const variables = trainableVariables(model);
    const initial = tf.tidy(() => trainLoss().dataSync()[0]!);
    const before = tf.memory().numTensors;
    const losses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const loss = optimizer.minimize(trainLoss, true, variables)!;
      losses.push(loss.dataSync()[0]!);
      loss.dispose();
    }
    const final = tf.tidy(() => trainLoss().dataSync()[0]!);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(final).toBeLessThan(0.7 * initial);
    if (name !== 'resnet18') expect(evalLoss()).toBeLessThan(0.7 * initial);
    // Optimizer slots are created in the first step; nothing grows after that.
    const afterFirst = tf.memory().numTensors;
    const snapshot = snapshotState(model);
    optimizer.minimize(trainLoss, true, variables)!.dispose();
    snapshot.restore();
    snapshot.dispose();
    expect(tf.memory().numTensors).toBe(afterFirst);
    expect(afterFirst).toBeGreaterThanOrEqual(before);
    tf.dispose([xs, ys]);
    optimizer.dispose();
    model.dispose();
  });
});
