import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { createHvp } from './hvp';
import {
  twiceDifferentiableExp,
  twiceDifferentiableSigmoidCrossEntropy,
  twiceDifferentiableSoftmaxCrossEntropy,
} from './twice-differentiable';

beforeAll(async () => {
  await initBackend('cpu');
});

describe('twiceDifferentiableExp', () => {
  it('has second and third derivatives eˣ, like tf.exp once @usam/backend fixed its gradient', () => {
    const x = tf.scalar(0.7);
    const d2 = tf.grad(tf.grad((t: tf.Tensor) => twiceDifferentiableExp(t)));
    const d3 = tf.grad(tf.grad(tf.grad((t: tf.Tensor) => twiceDifferentiableExp(t))));
    expect(d2(x).dataSync()[0]).toBeCloseTo(Math.exp(0.7), 5);
    expect(d3(x).dataSync()[0]).toBeCloseTo(Math.exp(0.7), 5);
    expect(
      tf
        .grad(tf.grad((t: tf.Tensor) => tf.exp(t)))(x)
        .dataSync()[0],
    ).toBeCloseTo(Math.exp(0.7), 5);
  });
});

describe('twiceDifferentiableSoftmaxCrossEntropy', () => {
  // Built per test: tensors need the backend, which beforeAll starts.
  const logitsAndLabels = () => ({
    logits: tf.tensor2d([
      [1, 2, 3],
      [50, -20, 0.5],
    ]),
    labels: tf.tensor2d([
      [0, 0, 1],
      [0, 1, 0],
    ]),
  });

  it('equals tf.losses.softmaxCrossEntropy and its gradient', () => {
    const { logits, labels } = logitsAndLabels();
    expect(twiceDifferentiableSoftmaxCrossEntropy(labels, logits).dataSync()[0]).toBeCloseTo(
      tf.losses.softmaxCrossEntropy(labels, logits).dataSync()[0]!,
      4,
    );
    const ours = tf.grad((z: tf.Tensor) => twiceDifferentiableSoftmaxCrossEntropy(labels, z))(
      logits,
    );
    const theirs = tf.grad((z: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, z))(logits);
    const theirValues = theirs.dataSync();
    ours.dataSync().forEach((g, i) => {
      expect(Math.abs(g - theirValues[i]!)).toBeLessThan(1e-6);
    });
  });

  it('has the softmax Hessian (diag(p) − ppᵀ)/N along a direction', () => {
    // ∂²/∂z² of the mean loss over N = 2 rows, applied to u, row by row.
    const { logits, labels } = logitsAndLabels();
    const u = tf.tensor2d([
      [1, -1, 0.5],
      [0.2, 0.3, -2],
    ]);
    const hu = tf.grad((z: tf.Tensor) => {
      const g = tf.grad((w: tf.Tensor) => twiceDifferentiableSoftmaxCrossEntropy(labels, w))(z);
      return tf.sum(tf.mul(g, u));
    })(logits);
    const p = tf.softmax(logits).arraySync();
    const uu = u.arraySync();
    const want = p.map((row, n) => {
      const pu = row.reduce((s, pk, k) => s + pk * uu[n]![k]!, 0);
      return row.map((pk, k) => (pk * uu[n]![k]! - pk * pu) / 2);
    });
    (hu.arraySync() as number[][]).forEach((row, n) => {
      row.forEach((h, k) => {
        expect(h).toBeCloseTo(want[n]![k]!, 6);
      });
    });
  });
});

describe('twiceDifferentiableSigmoidCrossEntropy', () => {
  it('equals tf.losses.sigmoidCrossEntropy, stays finite at |z| = 100, and has the Hessian diag(σ(1 − σ))/(NK)', () => {
    const logits = tf.tensor2d([
      [1, -2, 0.5],
      [100, -100, 0],
    ]);
    const labels = tf.tensor2d([
      [0, 1, 1],
      [1, 0, 0],
    ]);
    const ours = twiceDifferentiableSigmoidCrossEntropy(labels, logits).dataSync()[0]!;
    expect(ours).toBeCloseTo(tf.losses.sigmoidCrossEntropy(labels, logits).dataSync()[0]!, 5);
    const u = tf.tensor2d([
      [1, -1, 0.5],
      [0.2, 0.3, -2],
    ]);
    const hu = tf.grad((z: tf.Tensor) => {
      const g = tf.grad((w: tf.Tensor) => twiceDifferentiableSigmoidCrossEntropy(labels, w))(z);
      return tf.sum(tf.mul(g, u));
    })(logits);
    const z = logits.arraySync();
    const uu = u.arraySync();
    // The mean runs over N·K = 6 entries; σ(±100)(1 − σ(±100)) underflows to 0 in float32.
    (hu.arraySync() as number[][]).forEach((row, n) => {
      row.forEach((h, k) => {
        const s = 1 / (1 + Math.exp(-z[n]![k]!));
        expect(h).toBeCloseTo((s * (1 - s) * uu[n]![k]!) / 6, 6);
      });
    });
  });
});

describe('the helpers under createHvp', () => {
  it('leak no tensors over many exact products', async () => {
    const w = tf.variable(tf.randomNormal([3, 4], 0, 1, 'float32', 1));
    const batch = {
      xs: tf.randomNormal([5, 3], 0, 1, 'float32', 2),
      ys: tf.oneHot([0, 1, 2, 3, 0], 4),
    };
    const hvp = createHvp({
      variables: [w],
      loss: (b: typeof batch) =>
        tf.tidy(() => twiceDifferentiableSoftmaxCrossEntropy(b.ys, tf.relu(tf.matMul(b.xs, w)))),
      data: [batch],
      method: 'exact',
    });
    const v = tf.ones([12]) as tf.Tensor1D;
    (await hvp.apply(v)).dispose();
    const start = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) (await hvp.apply(v)).dispose();
    expect(tf.memory().numTensors).toBe(start);
  });
});
