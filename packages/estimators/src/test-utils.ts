/**
 * Test-only references (not exported from the package): explicit Hessians in
 * float64, computed without TensorFlow.js, to check the estimators against.
 */
import * as tf from '@tensorflow/tfjs-core';
import { EigenvalueDecomposition, Matrix, QrDecomposition } from 'ml-matrix';
import type { HessianOperator } from './operator';
import { seededRng } from './rng';
import {
  twiceDifferentiableSigmoidCrossEntropy,
  twiceDifferentiableSoftmaxCrossEntropy,
} from './twice-differentiable';

/** A variable holding `initial`'s values; `initial` itself is disposed (no stray tensor). */
export function ownedVariable(initial: tf.Tensor): tf.Variable {
  const v = tf.variable(initial);
  initial.dispose();
  return v;
}

/** A seeded N(0, 1) stream in float64. */
export function gaussians(seed: string): () => number {
  const rng = seededRng(seed);
  return () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

/** Q diag(eigenvalues) Qᵀ with a seeded random orthogonal Q. */
export function symmetricWithEigenvalues(eigenvalues: readonly number[], seed: string): number[][] {
  const d = eigenvalues.length;
  const g = gaussians(seed);
  const Q = new QrDecomposition(Matrix.from1DArray(d, d, Array.from({ length: d * d }, g)))
    .orthogonalMatrix;
  const H = Q.mmul(Matrix.diag([...eigenvalues])).mmul(Q.transpose());
  return symmetrize(H.to2DArray());
}

export const symmetrize = (H: number[][]): number[][] =>
  H.map((row, i) => row.map((h, j) => 0.5 * (h + H[j]![i]!)));

/** Eigenvalues of a symmetric matrix, descending. */
export function eigenvaluesOf(H: number[][]): number[] {
  const evd = new EigenvalueDecomposition(new Matrix(H), { assumeSymmetric: true });
  return [...evd.realEigenvalues].sort((a, b) => b - a);
}

export const trace = (H: number[][]) => H.reduce((s, row, i) => s + row[i]!, 0);
export const frobeniusSquared = (H: number[][]) =>
  H.reduce((s, row) => s + row.reduce((t, h) => t + h * h, 0), 0);
export const matVec = (H: number[][], v: ArrayLike<number>) =>
  H.map((row) => row.reduce((s, h, j) => s + h * v[j]!, 0));
export const norm = (v: ArrayLike<number>) =>
  Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));
export const relativeError = (got: ArrayLike<number>, want: ArrayLike<number>) =>
  norm(Array.from(want, (w, i) => got[i]! - w)) / norm(want);

/** An exact (float32 matmul) operator for an explicit matrix. */
export function matrixOperator(H: number[][]): HessianOperator & { calls: number } {
  const M = tf.keep(tf.tensor2d(H));
  const op = {
    dimension: H.length,
    calls: 0,
    async apply(v: tf.Tensor1D) {
      op.calls++;
      return tf.tidy(() => tf.reshape(tf.matMul(M, tf.reshape(v, [-1, 1])), [-1]) as tf.Tensor1D);
    },
  };
  return op;
}

/**
 * A tiny MLP in float64 plain JavaScript, independent of TensorFlow.js:
 * in → hidden (tanh or softplus) → out, mean softmax cross-entropy or mean
 * squared error. Parameters flattened as W1 [in, hidden], b1, W2 [hidden,
 * out], b2, row-major: the order `createHvp` concatenates the variables in.
 */
export interface TinyMlp {
  readonly inputs: number;
  readonly hidden: number;
  readonly outputs: number;
  readonly activation: 'tanh' | 'softplus' | 'relu';
  /** Softmax or sigmoid (binary, per output) cross-entropy on the logits, or squared error. */
  readonly loss: 'crossEntropy' | 'binaryCrossEntropy' | 'mse';
  readonly xs: number[][];
  /** One-hot labels (cross-entropy) or regression targets (mse). */
  readonly ys: number[][];
}

export function mlpSizes(m: TinyMlp): number[] {
  return [m.inputs * m.hidden, m.hidden, m.hidden * m.outputs, m.outputs];
}

const act = (kind: TinyMlp['activation'], z: number) =>
  kind === 'tanh'
    ? Math.tanh(z)
    : kind === 'relu'
      ? Math.max(z, 0)
      : z > 30
        ? z
        : Math.log1p(Math.exp(z));
const actPrime = (kind: TinyMlp['activation'], z: number) =>
  kind === 'tanh'
    ? 1 - Math.tanh(z) ** 2
    : kind === 'relu'
      ? z > 0
        ? 1
        : 0
      : 1 / (1 + Math.exp(-z));

/** The analytic gradient of the mean loss over `rows` (default all examples), float64. */
export function mlpGradient(
  m: TinyMlp,
  theta: readonly number[],
  rows?: readonly number[],
): number[] {
  const { inputs: I, hidden: J, outputs: K } = m;
  const W1 = (i: number, j: number) => theta[i * J + j]!;
  const b1 = (j: number) => theta[I * J + j]!;
  const W2 = (j: number, k: number) => theta[I * J + J + j * K + k]!;
  const b2 = (k: number) => theta[I * J + J + J * K + k]!;
  const grad = new Array<number>(theta.length).fill(0);
  const use = rows ?? m.xs.map((_, n) => n);
  const N = use.length;
  for (const n of use) {
    const x = m.xs[n]!;
    const y = m.ys[n]!;
    const z1 = Array.from(
      { length: J },
      (_, j) => b1(j) + x.reduce((s, xi, i) => s + xi * W1(i, j), 0),
    );
    const a1 = z1.map((z) => act(m.activation, z));
    const z2 = Array.from(
      { length: K },
      (_, k) => b2(k) + a1.reduce((s, a, j) => s + a * W2(j, k), 0),
    );
    let dz2: number[];
    if (m.loss === 'crossEntropy') {
      const top = Math.max(...z2);
      const e = z2.map((z) => Math.exp(z - top));
      const sum = e.reduce((s, t) => s + t, 0);
      dz2 = e.map((t, k) => (t / sum - y[k]!) / N);
    } else if (m.loss === 'binaryCrossEntropy') {
      // d/dz of softplus(z) − yz is σ(z) − y; the mean is over N·K entries.
      dz2 = z2.map((z, k) => (1 / (1 + Math.exp(-z)) - y[k]!) / (N * K));
    } else {
      dz2 = z2.map((z, k) => (2 * (z - y[k]!)) / (N * K));
    }
    for (let j = 0; j < J; j++) {
      for (let k = 0; k < K; k++) grad[I * J + J + j * K + k]! += a1[j]! * dz2[k]!;
    }
    for (let k = 0; k < K; k++) grad[I * J + J + J * K + k]! += dz2[k];
    const dz1 = a1.map(
      (_, j) => dz2.reduce((s, d, k) => s + d * W2(j, k), 0) * actPrime(m.activation, z1[j]!),
    );
    for (let i = 0; i < I; i++) {
      for (let j = 0; j < J; j++) grad[i * J + j]! += x[i]! * dz1[j]!;
    }
    for (let j = 0; j < J; j++) grad[I * J + j]! += dz1[j];
  }
  return grad;
}

/**
 * The Hessian of the mean loss, column by column: H e_j by central
 * differences of the float64 analytic gradient with h = 1e-4 (truncation
 * ≈ h²·|∇⁴L| ≈ 1e-8, rounding ≈ 1e-16/h = 1e-12), symmetrised. For relu this
 * is the almost-everywhere Hessian as long as no pre-activation is within
 * ≈ 1e-4 of 0 (`minPreActivation` checks).
 */
export function mlpHessian(
  m: TinyMlp,
  theta: readonly number[],
  rows?: readonly number[],
): number[][] {
  const h = 1e-4;
  const columns = theta.map((_, j) => {
    const plus = [...theta];
    const minus = [...theta];
    plus[j]! += h;
    minus[j]! -= h;
    const gp = mlpGradient(m, plus, rows);
    const gm = mlpGradient(m, minus, rows);
    return gp.map((g, i) => (g - gm[i]!) / (2 * h));
  });
  // columns[j][i] = H_ij
  return symmetrize(theta.map((_, i) => theta.map((_, j) => columns[j]![i]!)));
}

/** min |z| over the hidden pre-activations, to check the relu reference avoids kinks. */
export function minPreActivation(m: TinyMlp, theta: readonly number[]): number {
  const { inputs: I, hidden: J } = m;
  let min = Number.POSITIVE_INFINITY;
  for (const x of m.xs) {
    for (let j = 0; j < J; j++) {
      const z = theta[I * J + j]! + x.reduce((s, xi, i) => s + xi * theta[i * J + j]!, 0);
      min = Math.min(min, Math.abs(z));
    }
  }
  return min;
}

/** The same MLP in TensorFlow.js: variables (from `theta`) and a loss over a batch of rows. */
export function tfMlp(m: TinyMlp, theta: readonly number[]) {
  const [s1, s2, s3] = mlpSizes(m);
  const at = (from: number, size: number) => theta.slice(from, from + size);
  const variables = [
    ownedVariable(tf.tensor2d(at(0, s1!), [m.inputs, m.hidden])),
    ownedVariable(tf.tensor1d(at(s1!, s2!))),
    ownedVariable(tf.tensor2d(at(s1! + s2!, s3!), [m.hidden, m.outputs])),
    ownedVariable(tf.tensor1d(at(s1! + s2! + s3!, m.outputs))),
  ];
  const [W1, b1, W2, b2] = variables as [tf.Variable, tf.Variable, tf.Variable, tf.Variable];
  const loss = (batch: { xs: tf.Tensor2D; ys: tf.Tensor2D }) =>
    tf.tidy(() => {
      const z1 = tf.add(tf.matMul(batch.xs, W1), b1);
      const a1 =
        m.activation === 'tanh'
          ? tf.tanh(z1)
          : m.activation === 'relu'
            ? tf.relu(z1)
            : tf.softplus(z1);
      const z2 = tf.add(tf.matMul(a1, W2), b2);
      return (
        m.loss === 'crossEntropy'
          ? twiceDifferentiableSoftmaxCrossEntropy(batch.ys, z2)
          : m.loss === 'binaryCrossEntropy'
            ? twiceDifferentiableSigmoidCrossEntropy(batch.ys, z2)
            : tf.mean(tf.square(tf.sub(z2, batch.ys)))
      ) as tf.Scalar;
    });
  const batch = (rows: readonly number[]) => ({
    xs: tf.tensor2d(rows.map((n) => m.xs[n]!)),
    ys: tf.tensor2d(rows.map((n) => m.ys[n]!)),
  });
  return { variables, loss, batch };
}

/** A seeded tiny MLP problem: parameters θ and `examples` random inputs with labels. */
export function tinyMlp(
  options: Pick<TinyMlp, 'activation' | 'loss'> & { examples: number; seed: string },
): { model: TinyMlp; theta: number[] } {
  const g = gaussians(options.seed);
  const inputs = 3;
  const hidden = 4;
  const outputs = 2;
  const xs = Array.from({ length: options.examples }, () => Array.from({ length: inputs }, g));
  const ys = xs.map((_, n) =>
    options.loss !== 'mse'
      ? Array.from({ length: outputs }, (_, k) => (k === n % outputs ? 1 : 0))
      : Array.from({ length: outputs }, g),
  );
  const model: TinyMlp = { inputs, hidden, outputs, xs, ys, ...options };
  const theta = mlpSizes(model).flatMap((size, i) =>
    Array.from({ length: size }, () => (i % 2 === 0 ? g() : 0.3 * g())),
  );
  return { model, theta };
}
