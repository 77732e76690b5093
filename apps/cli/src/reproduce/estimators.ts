import * as tf from '@tensorflow/tfjs-core';
import {
  createHvp,
  frobeniusNormSquared,
  hutchinsonTrace,
  spectralDensity,
  topEigenvalues,
} from '@usam/estimators';
import { symmetricEigenvalues } from '@usam/measures';
import { randomHessian } from './table1';

/** One Hessian quantity: its exact value and an estimator's, with the error bar. */
export interface EstimatorRow {
  readonly quantity: string;
  readonly exact: number;
  readonly estimate: number;
  /** Standard error (residual ‖Hv − λv‖ for eigenvalues, a deterministic bound). */
  readonly standardError: number;
  readonly hvps: number;
}

/**
 * The estimators of docs/hessian-estimators.md on a loss whose Hessian is known exactly: the
 * quadratic L(x) = ½xᵀHx with x split over two variables (a 6×8 matrix and a
 * 16-vector, d = 64), so the flattening across parameters is exercised. Each
 * HVP goes through the loss closure and tfjs gradients, as on a real model.
 */
export async function estimatorsOnQuadratic(seed: number, probes: number): Promise<EstimatorRow[]> {
  const d = 64;
  const H = randomHessian(d, seed);
  const lambda = symmetricEigenvalues(H).sort((a, b) => b - a);
  const Hm = tf.keep(tf.tensor2d(H));
  const variables = [
    tf.variable(tf.randomNormal([6, 8], 0, 1, 'float32', seed + 1)),
    tf.variable(tf.randomNormal([16], 0, 1, 'float32', seed + 2)),
  ];
  const loss = () =>
    tf.tidy(() => {
      const x = tf.reshape(tf.concat(variables.map((v) => tf.reshape(v, [-1]))), [d, 1]);
      return tf.reshape(tf.mul(0.5, tf.matMul(tf.matMul(x, Hm, true), x)), []) as tf.Scalar;
    });
  try {
    const operator = createHvp({ variables, loss });
    const rows: EstimatorRow[] = [];
    const add = async (
      quantity: string,
      exact: number,
      run: () => Promise<{ estimate: number; standardError: number }>,
    ) => {
      const before = operator.products;
      const { estimate, standardError } = await run();
      rows.push({ quantity, exact, estimate, standardError, hvps: operator.products - before });
    };
    await add('tr H (Hutchinson, Rademacher)', sum(lambda), () =>
      hutchinsonTrace(operator, { probes, seed }),
    );
    await add('‖H‖_F² (E‖Hz‖², Gaussian)', sum(lambda.map((l) => l * l)), () =>
      frobeniusNormSquared(operator, { probes, seed }),
    );
    const top = await topEigenvalues(operator, { k: 3, seed });
    top.eigenvalues.forEach((value, i) => {
      rows.push({
        quantity: `λ_${i + 1} (power iteration, deflation)`,
        exact: lambda[i]!,
        estimate: value,
        standardError: top.residualNorms[i]!,
        hvps: top.iterations[i]!,
      });
    });
    await add('tr H (stochastic Lanczos quadrature)', sum(lambda), () =>
      spectralDensity(operator, { steps: 30, probes: 4, seed }),
    );
    return rows;
  } finally {
    tf.dispose([Hm, ...variables]);
  }
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
