import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { variableGrads } from './gradients';

beforeAll(async () => {
  await initBackend('cpu');
});

describe('variableGrads: tf.variableGrads that leaves nothing behind when it throws', () => {
  const failing = (f: () => unknown) => {
    const before = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) expect(() => f()).toThrow();
    return tf.memory().numTensors - before;
  };

  it('a throw after ops recorded for the backward pass: their saved copies are freed', () => {
    const w = tf.variable(tf.zeros([3]));
    const throwing = () => {
      tf.sum(tf.exp(tf.square(w)));
      throw new Error('boom');
    };
    expect(failing(() => tf.variableGrads(throwing, [w]))).toBeGreaterThan(0); // tfjs's own leaks
    expect(failing(() => variableGrads(throwing as () => tf.Scalar, [w]))).toBe(0);
    w.dispose();
  });

  it('"no connection": the loss value is freed, but never a tensor the caller made', () => {
    const w = tf.variable(tf.zeros([3]));
    expect(failing(() => variableGrads(() => tf.scalar(1), [w]))).toBe(0);
    const mine = tf.scalar(2);
    expect(() => variableGrads(() => mine, [w])).toThrow(/connection/);
    expect(mine.isDisposed).toBe(false);
    tf.dispose([mine, w]);
  });

  it('nested (second order): an inner throw is cleaned up by the outermost call', () => {
    const w = tf.variable(tf.ones([2]));
    const nested = () =>
      variableGrads(() => {
        const inner = variableGrads(() => {
          tf.sum(tf.pow(w, 3));
          throw new Error('inner');
        }, [w]);
        return inner.value;
      }, [w]);
    expect(failing(nested)).toBe(0);
    // And a successful nested call still gives the right second derivative: d/dw Σ 3w² = 6w.
    const { value, grads } = variableGrads(() => {
      const inner = variableGrads(() => tf.sum(tf.pow(w, 3)) as tf.Scalar, [w]);
      return tf.sum(inner.grads[w.name]!) as tf.Scalar;
    }, [w]);
    expect(Array.from(grads[w.name]!.dataSync())).toEqual([6, 6]);
    tf.dispose([value, grads[w.name]!, w]);
  });
});
