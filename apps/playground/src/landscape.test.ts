import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { filterNormalizedDirection, lossSlice, sliceGrid } from './landscape';

beforeAll(async () => {
  await initBackend('cpu');
});

// θ = (W: 2×3, b: 3), flattened W row-major then b: d = 9.
const D = 9;
// A symmetric indefinite A and a linear term c with simple exact entries.
const A = Array.from({ length: D }, (_, i) =>
  Array.from({ length: D }, (_, j) => (i === j ? (i % 3) - 0.5 : 0.1 * ((i + j) % 4) - 0.15)),
);
const c = Array.from({ length: D }, (_, i) => 0.25 * (i - 4));
const theta0 = Array.from({ length: D }, (_, i) => Math.sin(i + 1));
const e1 = Array.from({ length: D }, (_, i) => Math.cos(2 * i));
const e2 = Array.from({ length: D }, (_, i) => (i % 2 === 0 ? 0.5 : -0.25));

const quad = (x: number[]) => {
  let s = 0;
  for (let i = 0; i < D; i++) {
    s += c[i]! * x[i]!;
    for (let j = 0; j < D; j++) s += 0.5 * x[i]! * A[i]![j]! * x[j]!;
  }
  return s;
};

function setup() {
  const W = tf.variable(tf.tensor2d(theta0.slice(0, 6), [2, 3]));
  const b = tf.variable(tf.tensor1d(theta0.slice(6)));
  const At = tf.tensor2d(A.flat(), [D, D]);
  const ct = tf.tensor1d(c);
  const loss = () =>
    tf.tidy(() => {
      const x = tf.concat([tf.reshape(W, [6]), b]);
      const Ax = tf.squeeze(tf.matMul(At, tf.reshape(x, [D, 1])));
      return tf.add(tf.mul(0.5, tf.dot(x, Ax)), tf.dot(ct, x)) as tf.Scalar;
    });
  const split = (v: number[]) => [tf.tensor2d(v.slice(0, 6), [2, 3]), tf.tensor1d(v.slice(6))];
  return { W, b, loss, split, dispose: () => tf.dispose([W, b, At, ct]) };
}

describe('lossSlice on a quadratic', () => {
  // float32 arithmetic on values of order 10: 1e-4 absolute is ~100 float32 ulps.
  const tolerance = 1e-4;

  it('1-D slice equals L(θ + α·d) exactly, a parabola in α', async () => {
    const q = setup();
    const d1 = q.split(e1);
    const grid = sliceGrid(7, 1.5);
    const values = await lossSlice({ variables: [q.W, q.b], loss: q.loss, directions: [d1], grid });
    grid.forEach((alpha, i) => {
      const expected = quad(theta0.map((t, k) => t + alpha * e1[k]!));
      expect(Math.abs(values[i]! - expected)).toBeLessThan(tolerance);
    });
    tf.dispose(d1);
    q.dispose();
  });

  it('2-D slice equals L(θ + α·d₁ + β·d₂) at every grid point, α fastest', async () => {
    const q = setup();
    const before = [...q.W.dataSync(), ...q.b.dataSync()];
    const [d1, d2] = [q.split(e1), q.split(e2)];
    const grid = sliceGrid(5, 2);
    const values = await lossSlice({
      variables: [q.W, q.b],
      loss: q.loss,
      directions: [d1, d2],
      grid,
    });
    expect(values).toHaveLength(25);
    grid.forEach((beta, j) => {
      grid.forEach((alpha, i) => {
        const expected = quad(theta0.map((t, k) => t + alpha * e1[k]! + beta * e2[k]!));
        expect(Math.abs(values[j * 5 + i]! - expected)).toBeLessThan(tolerance);
      });
    });
    // Restored from saved copies, not by subtracting: bit-identical.
    expect([...q.W.dataSync(), ...q.b.dataSync()]).toEqual(before);
    tf.dispose([d1, d2]);
    q.dispose();
  });

  it('restores the weights when the loss throws', async () => {
    const q = setup();
    const before = [...q.W.dataSync(), ...q.b.dataSync()];
    const d1 = q.split(e1);
    let calls = 0;
    const failing = () => {
      if (++calls === 3) throw new Error('boom');
      return q.loss();
    };
    await expect(
      lossSlice({ variables: [q.W, q.b], loss: failing, directions: [d1], grid: sliceGrid(5, 1) }),
    ).rejects.toThrow('boom');
    expect([...q.W.dataSync(), ...q.b.dataSync()]).toEqual(before);
    tf.dispose(d1);
    q.dispose();
  });

  it('leaks no tensors', async () => {
    const q = setup();
    const d1 = q.split(e1);
    const d2 = q.split(e2);
    const before = tf.memory().numTensors;
    for (let round = 0; round < 3; round++) {
      await lossSlice({
        variables: [q.W, q.b],
        loss: q.loss,
        directions: [d1, d2],
        grid: sliceGrid(3, 1),
      });
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([d1, d2]);
    q.dispose();
  });
});

describe('filterNormalizedDirection', () => {
  it('gives each filter (last axis) the norm of the weight filter, and biases zero', async () => {
    const kernel = tf.tensor4d(
      Array.from({ length: 3 * 3 * 2 * 4 }, (_, i) => Math.sin(i) * (1 + (i % 4))),
      [3, 3, 2, 4],
    );
    const dense = tf.tensor2d(
      Array.from({ length: 5 * 3 }, (_, i) => i - 7),
      [5, 3],
    );
    const bias = tf.tensor1d([1, 2, 3]);
    const [dk, dd, db] = filterNormalizedDirection([kernel, dense, bias], 7);
    const norms = (t: tf.Tensor) =>
      tf.norm(tf.reshape(t, [-1, t.shape[t.rank - 1]!]), 'euclidean', 0).arraySync() as number[];
    // float32 norms of a few dozen terms: 1e-5 relative.
    for (const [d, w] of [
      [dk!, kernel],
      [dd!, dense],
    ] as const) {
      const expected = norms(w);
      norms(d).forEach((n, f) => {
        expect(n).toBeCloseTo(expected[f]!, 4);
      });
    }
    expect(db!.arraySync()).toEqual([0, 0, 0]);
    // Same seed, same direction; another seed, another one.
    const [again] = filterNormalizedDirection([kernel], 7);
    const [other] = filterNormalizedDirection([kernel], 8);
    expect(again!.arraySync()).toEqual(dk!.arraySync());
    expect(other!.arraySync()).not.toEqual(dk!.arraySync());
    tf.dispose([kernel, dense, bias, dk!, dd!, db!, again!, other!]);
  });
});
