import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, expect, it } from 'vitest';
import { initBackend } from './node';

beforeAll(async () => {
  await initBackend('wasm');
});

const buffers = () => tf.engine().backend.numDataIds();

it('a clone on wasm shares its buffer until the last tensor on it goes', () => {
  const x = tf.tensor2d([
    [1, -2, 3],
    [4, 5, -6],
  ]);
  const start = buffers();
  const y = tf.clone(x);
  expect(buffers()).toBe(start); // wasm's own Identity allocated a copy
  const z = tf.clone(y);
  x.dispose();
  y.dispose();
  expect(buffers()).toBe(start);
  expect(z.shape).toEqual([2, 3]);
  expect(Array.from(z.dataSync())).toEqual([1, -2, 3, 4, 5, -6]);
  z.dispose();
  expect(buffers()).toBe(start - 1);
});

it('a cast to the same dtype shares the buffer; other casts convert', () => {
  const x = tf.tensor1d([1.5, -2, 0]);
  const start = buffers();
  const same = tf.cast(x, 'float32');
  expect(buffers()).toBe(start);
  x.dispose();
  expect(Array.from(same.dataSync())).toEqual([1.5, -2, 0]);
  const ints = tf.cast(same, 'int32');
  const back = tf.cast(ints, 'float32');
  expect(buffers()).toBe(start + 2);
  expect([ints.dtype, back.dtype]).toEqual(['int32', 'float32']);
  expect(Array.from(ints.dataSync())).toEqual([1, -2, 0]);
  expect(Array.from(back.dataSync())).toEqual([1, -2, 0]);
  const sameInts = tf.cast(ints, 'int32');
  expect(buffers()).toBe(start + 2);
  expect(Array.from(sameInts.dataSync())).toEqual([1, -2, 0]);
  tf.dispose([same, ints, back, sameInts]);
  expect(buffers()).toBe(start - 1);
});

it('clones of int32, bool and string tensors keep their values', () => {
  const tensors = [
    tf.tensor1d([7, -8], 'int32'),
    tf.tensor1d([1, 0], 'bool'),
    tf.tensor1d(['a', 'bc']),
  ];
  const start = buffers();
  for (const x of tensors) {
    const y = tf.clone(x);
    expect(y.dtype).toBe(x.dtype);
    expect(y.dataSync()).toEqual(x.dataSync());
    y.dispose();
  }
  expect(buffers()).toBe(start);
  tf.dispose(tensors);
});

it('a saved clone outlives the tensor it was taken of, and the gradient is right', () => {
  const x = tf.tensor1d([0.5, -1, 2]);
  const start = tf.memory().numTensors;
  // tanh's gradient reads the saved input after the forward's tensors are gone.
  const g = tf.grad((x: tf.Tensor) => tf.sum(tf.tanh(tf.mul(x, 2))))(x);
  const want = [0.5, -1, 2].map((v) => 2 * (1 - Math.tanh(2 * v) ** 2));
  for (const [i, v] of g.dataSync().entries()) expect(v).toBeCloseTo(want[i]!, 6);
  g.dispose();
  expect(tf.memory().numTensors).toBe(start);
  x.dispose();
});
