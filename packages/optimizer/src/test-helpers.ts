import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@usam/backend';
import { afterEach, beforeAll } from 'vitest';

/**
 * Small problems with exact answers for the optimizer tests: a quadratic
 * L(x) = ½xᵀAx + bᵀx over two variables (so "all parameters" spans tensors),
 * whose losses and gradients are known in float64, and a tiny tanh MLP.
 */

export interface Quadratic {
  readonly variables: tf.Variable[];
  readonly loss: () => tf.Scalar;
  /** L and ∇L at a flat point, in float64. */
  exact(x: readonly number[]): { loss: number; gradient: number[] };
  /** The variables' current values, flat. */
  read(): number[];
  dispose(): void;
}

/** d = 3 + 2: A is SPD with entries of order 1, b a fixed vector. */
export function quadratic(start: readonly number[] = [0.3, -0.7, 1.1, 0.5, -0.2]): Quadratic {
  const A = [
    [2.0, 0.3, -0.2, 0.1, 0.0],
    [0.3, 1.5, 0.4, 0.0, 0.2],
    [-0.2, 0.4, 3.0, -0.5, 0.1],
    [0.1, 0.0, -0.5, 1.0, 0.3],
    [0.0, 0.2, 0.1, 0.3, 2.5],
  ];
  const b = [0.5, -1.0, 0.25, 0.0, 0.75];
  const u = tf.variable(tf.tensor1d(start.slice(0, 3)), true, `u${Math.random()}`);
  const w = tf.variable(tf.tensor2d([start.slice(3)], [1, 2]), true, `w${Math.random()}`);
  const At = tf.tensor2d(A);
  const bt = tf.tensor1d(b);
  const loss = () =>
    tf.tidy(() => {
      const x = tf.concat([u, tf.reshape(w, [2])]);
      const Ax = tf.squeeze(tf.matMul(At, tf.reshape(x, [5, 1])));
      return tf.add(tf.mul(0.5, tf.sum(tf.mul(x, Ax))), tf.sum(tf.mul(bt, x))) as tf.Scalar;
    });
  const exact = (x: readonly number[]) => {
    const Ax = A.map((row) => row.reduce((s, a, j) => s + a * x[j]!, 0));
    const gradient = Ax.map((ax, i) => ax + b[i]!);
    const value = x.reduce((s, xi, i) => s + 0.5 * xi * Ax[i]! + b[i]! * xi, 0);
    return { loss: value, gradient };
  };
  return {
    variables: [u, w],
    loss,
    exact,
    read: () => [...u.dataSync(), ...w.dataSync()],
    dispose: () => {
      for (const t of [u, w, At, bt]) t.dispose();
    },
  };
}

/** Flat vector → per-variable tensors shaped like `variables`. */
export function split(x: readonly number[], variables: readonly tf.Variable[]): tf.Tensor[] {
  let offset = 0;
  return variables.map((v) => {
    const part = x.slice(offset, offset + v.size);
    offset += v.size;
    return tf.tensor(part, v.shape, 'float32');
  });
}

export const add = (a: readonly number[], b: readonly number[], s = 1) =>
  a.map((ai, i) => ai + s * b[i]!);

/** max_i |a_i − b_i| / max(1, max_i |b_i|). */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let err = 0;
  let scale = 1;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return err / scale;
}

/** The flat values of some variables. */
export const flat = (variables: readonly tf.Variable[]) =>
  variables.flatMap((v) => Array.from(v.dataSync()));

/** A loss given as a function of parameter tensors, so it can be differentiated at any point. */
export interface Problem {
  readonly variables: tf.Variable[];
  readonly loss: () => tf.Scalar;
  /** L and ∇L at a flat point (float64 where exact, else tf's float32 read back). */
  at(x: readonly number[]): { loss: number; gradient: number[] };
  dispose(): void;
}

/** The quadratic as a `Problem`, with exact float64 answers. */
export function quadraticProblem(): Problem {
  const q = quadratic();
  return { variables: q.variables, loss: q.loss, at: q.exact, dispose: q.dispose };
}

/**
 * A 2-4-1 tanh MLP with a mean squared error on 6 fixed examples: ∇L at any
 * point comes from tf.grads of the same function (independent of the optimizer).
 */
export function mlpProblem(): Problem {
  const shapes = [[2, 4], [4], [4, 1], [1]];
  const init = [
    [0.5, -0.3, 0.8, 0.1, -0.6, 0.4, 0.2, -0.9],
    [0.1, -0.1, 0.05, 0],
    [0.7, -0.5, 0.3, 0.9],
    [0.2],
  ];
  const variables = shapes.map((s, i) =>
    tf.variable(tf.tensor(init[i]!, s), true, `mlp${i}_${Math.random()}`),
  );
  const xs = tf.tensor2d([
    [0, 1],
    [1, 0],
    [1, 1],
    [-1, 0.5],
    [0.3, -0.8],
    [2, -1],
  ]);
  const ys = tf.tensor2d([[1], [0], [0.5], [-0.5], [0.2], [1.5]]);
  const lossOf = (p: readonly tf.Tensor[]) =>
    tf.tidy(() => {
      const h = tf.tanh(tf.add(tf.matMul(xs, p[0] as tf.Tensor2D), p[1]!));
      const out = tf.add(tf.matMul(h, p[2] as tf.Tensor2D), p[3]!);
      return tf.mean(tf.square(tf.sub(out, ys))) as tf.Scalar;
    });
  return {
    variables,
    loss: () => lossOf(variables),
    at: (x) => {
      const p = split(x, variables);
      const { value, grads } = tf.valueAndGrads((...q: tf.Tensor[]) => lossOf(q))(p);
      const out = {
        loss: value.dataSync()[0]!,
        gradient: grads.flatMap((g) => Array.from(g.dataSync())),
      };
      for (const t of [...p, value, ...grads]) t.dispose();
      return out;
    },
    dispose: () => {
      for (const t of [...variables, xs, ys]) t.dispose();
    },
  };
}

/**
 * Test-file setup: the cpu backend before all tests, and a `make(kind)` whose
 * problems are disposed after each test.
 */
export function problemFactory(): (kind?: 'quadratic' | 'mlp') => Problem {
  let problems: Problem[] = [];
  beforeAll(async () => {
    await initBackend('cpu');
  });
  afterEach(() => {
    for (const p of problems) p.dispose();
    problems = [];
  });
  return (kind = 'mlp') => {
    const p = kind === 'quadratic' ? quadraticProblem() : mlpProblem();
    problems.push(p);
    return p;
  };
}

/**
 * A dense–BatchNorm–relu–dense tfjs-layers model, 4 → 6 → 3, with seeded
 * initialisers (the same weights on every call), and its weights layer by layer
 * (trainable and BatchNorm statistics, in the layers' order).
 */
export function batchNormModel() {
  const m = tfl.sequential({
    layers: [
      tfl.layers.dense({
        inputShape: [4],
        units: 6,
        kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }),
      }),
      tfl.layers.batchNormalization({ momentum: 0.9 }),
      tfl.layers.activation({ activation: 'relu' }),
      tfl.layers.dense({
        units: 3,
        kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }),
      }),
    ],
  });
  const weights = () =>
    m.layers.flatMap((l) => l.getWeights().map((w) => Array.from(w.dataSync())));
  return { m, weights };
}
