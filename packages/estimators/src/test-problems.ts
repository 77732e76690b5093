/**
 * Test-only problems shared by the estimator tests: a quadratic split over
 * two variables of different shapes (so flattening is exercised) with a known
 * spectrum, and a tiny tanh MLP with its float64 Hessian.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createHvp } from './hvp';
import {
  gaussians,
  mlpHessian,
  ownedVariable,
  symmetricWithEigenvalues,
  tfMlp,
  tinyMlp,
} from './test-utils';

/** L = ½xᵀHx + bᵀx, x = [a (2×3), c (4)], spec(H) = `eigenvalues` (length 10). */
export function splitQuadratic(
  eigenvalues: readonly number[] = [9, 4, 3, 2, 1.5, 1, 0.5, -0.5, -1, 0.25],
  seed = 'q',
) {
  const H = symmetricWithEigenvalues(eigenvalues, seed);
  const g = gaussians(`${seed}-x`);
  const x0 = Array.from({ length: 10 }, g);
  const a = ownedVariable(tf.tensor2d(x0.slice(0, 6), [2, 3]));
  const c = ownedVariable(tf.tensor1d(x0.slice(6)));
  const Ht = tf.keep(tf.tensor2d(H));
  const b = tf.keep(tf.tensor1d(Array.from({ length: 10 }, g)));
  const loss = () =>
    tf.tidy(() => {
      const x = tf.concat([tf.reshape(a, [-1]), c]);
      const hx = tf.reshape(tf.matMul(Ht, tf.reshape(x, [-1, 1])), [-1]);
      return tf.add(tf.mul(0.5, tf.sum(tf.mul(x, hx))), tf.sum(tf.mul(b, x))) as tf.Scalar;
    });
  const variables: tf.Variable[] = [a, c];
  return { H, eigenvalues, variables, loss, hvp: createHvp({ variables, loss }) };
}

/** A 3 → 4 (tanh) → 2 softmax cross-entropy MLP on 8 examples in batches of 5 and 3 (d = 26). */
export function tanhMlp(seed = 'mlp') {
  const { model, theta } = tinyMlp({ activation: 'tanh', loss: 'crossEntropy', examples: 8, seed });
  const net = tfMlp(model, theta);
  const H = mlpHessian(model, theta);
  const data = [net.batch([0, 1, 2, 3, 4]), net.batch([5, 6, 7])];
  return {
    H,
    variables: net.variables,
    hvp: createHvp({ variables: net.variables, loss: net.loss, data }),
  };
}
