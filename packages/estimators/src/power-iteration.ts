import * as tf from '@tensorflow/tfjs-core';
import { pacer, requireAtMost, requireSignal } from './abort';
import { EstimatorError, requireInteger, requireOptions, requirePositive } from './errors';
import type { HessianOperator } from './operator';
import { product, requireOperator } from './operator';
import { probeVector, type Seed, seededRng } from './rng';
import type { Estimate } from './stats';

export interface TopEigenvaluesOptions {
  /** How many eigenvalues; default 1. */
  readonly k?: number;
  /** Stop when the relative change of the Rayleigh quotient is below this (PyHessian: 1e-3). */
  readonly tolerance?: number;
  /**
   * Also required for convergence: ‖Hv − λv‖ ≤ residualTolerance·|λ|; default
   * √tolerance. The Rayleigh quotient can stand still while v is far from an
   * eigenvector (eigenvalues ±λ: it oscillates between them at a fixed
   * quotient), the residual cannot; and |λ − nearest eigenvalue| ≤ ‖Hv − λv‖.
   */
  readonly residualTolerance?: number;
  /** Iterations per eigenvalue at most; default 100 (PyHessian's). */
  readonly maxIterations?: number;
  /** Seed of the start vectors; default 0. */
  readonly seed?: Seed;
  /** Aborts the call: it rejects with an `AbortError` and disposes its tensors. */
  readonly signal?: AbortSignal;
}

export interface TopEigenvalues extends Estimate {
  /** λ_1 (the eigenvalue largest in magnitude). */
  readonly estimate: number;
  /**
   * ‖Hv − λ_1 v‖ for the final unit v: H has an eigenvalue within this
   * distance of `estimate` (a deterministic bound, up to HVP error, not a
   * statistical standard error).
   */
  readonly standardError: number;
  /** The Rayleigh quotients of λ_1's iterations, in order. */
  readonly probes: number[];
  /** λ_1, …, λ_k, in the order found (decreasing magnitude when converged). */
  readonly eigenvalues: number[];
  /** ‖Hv − λv‖ for each eigenvalue's final iterate. */
  readonly residualNorms: number[];
  /** HVPs spent on each eigenvalue. */
  readonly iterations: number[];
  /** Whether each met both `tolerance` and `residualTolerance` within `maxIterations`. */
  readonly converged: boolean[];
}

/**
 * The k eigenvalues of H largest in magnitude, by power iteration with
 * deflation (PyHessian, Yao et al. 2020): each start vector is Gaussian
 * (seeded) and every iterate is orthogonalised against the eigenvectors
 * already found, until |λ_t − λ_{t−1}| / (|λ_{t−1}| + 1e-6) < tolerance
 * and the residual ‖Hv − λv‖ ≤ residualTolerance·|λ|; `converged` says which did.
 * One HVP per iteration. Convergence is geometric in |λ_{i+1}/λ_i|, so close
 * eigenvalues need more iterations for the same accuracy.
 */
export async function topEigenvalues(
  H: HessianOperator,
  options: TopEigenvaluesOptions = {},
): Promise<TopEigenvalues> {
  const where = 'topEigenvalues';
  requireOperator(where, H);
  requireOptions(where, options, [
    'k',
    'tolerance',
    'residualTolerance',
    'maxIterations',
    'seed',
    'signal',
  ]);
  const k = requireInteger(where, 'k', options.k ?? 1, 1);
  if (k > H.dimension) {
    throw new EstimatorError(
      `${where}: k = ${k} exceeds the dimension d = ${H.dimension}; pass k ≤ ${H.dimension}.`,
    );
  }
  const tolerance = requirePositive(where, 'tolerance', options.tolerance ?? 1e-3);
  const residualTolerance = requirePositive(
    where,
    'residualTolerance',
    options.residualTolerance ?? Math.sqrt(tolerance),
  );
  const maxIterations = requireAtMost(
    where,
    'maxIterations',
    requireInteger(where, 'maxIterations', options.maxIterations ?? 100, 1),
    'a Hessian-vector product',
  );
  const pace = pacer(
    where,
    requireSignal(where, options.signal),
    k * maxIterations,
    'Hessian-vector products at most',
  );
  const rng = seededRng(options.seed ?? 0);

  const found: tf.Tensor1D[] = [];
  const eigenvalues: number[] = [];
  const residualNorms: number[] = [];
  const iterations: number[] = [];
  const converged: boolean[] = [];
  let history: number[] = [];
  try {
    for (let i = 0; i < k; i++) {
      const start = probeVector(H.dimension, 'gaussian', rng);
      let v = (await deflateAndNormalize(start, found)).vector;
      start.dispose();
      const quotients: number[] = [];
      let residual = Number.NaN;
      let done = false;
      try {
        while (quotients.length < maxIterations && !done) {
          await pace.next();
          const hv = await product(where, H, v);
          const stats = tf.tidy(() => {
            const lambda = tf.sum(tf.mul(v, hv));
            return tf.stack([lambda, tf.norm(tf.sub(hv, tf.mul(lambda, v)))]);
          });
          const [lambda, r] = await stats.data();
          stats.dispose();
          quotients.push(lambda!);
          residual = r!;
          const next = await deflateAndNormalize(hv, found);
          hv.dispose();
          if (next.norm === 0) {
            // Hv = 0 on the deflated space: v is an eigenvector of eigenvalue 0.
            next.vector.dispose();
            done = true;
            break;
          }
          v.dispose();
          v = next.vector;
          const t = quotients.length;
          if (t >= 2) {
            const previous = quotients[t - 2]!;
            done =
              Math.abs(lambda! - previous) / (Math.abs(previous) + 1e-6) < tolerance &&
              r! <= residualTolerance * Math.abs(lambda!);
          }
        }
      } catch (error) {
        v.dispose();
        throw error;
      }
      found.push(v);
      eigenvalues.push(quotients[quotients.length - 1]!);
      residualNorms.push(residual);
      iterations.push(quotients.length);
      converged.push(done);
      if (i === 0) history = quotients;
    }
  } finally {
    tf.dispose(found);
  }
  return {
    estimate: eigenvalues[0]!,
    standardError: residualNorms[0]!,
    probes: history,
    eigenvalues,
    residualNorms,
    iterations,
    converged,
  };
}

/** v minus its projections on the (orthonormal) `basis`, scaled to unit norm; norm 0 stays 0. */
async function deflateAndNormalize(
  v: tf.Tensor1D,
  basis: readonly tf.Tensor1D[],
): Promise<{ vector: tf.Tensor1D; norm: number }> {
  const w = tf.tidy(() => {
    let r: tf.Tensor1D = tf.clone(v); // a new tensor even when the basis is empty
    // Modified Gram–Schmidt, twice ("twice is enough") for float32.
    for (let pass = 0; pass < 2; pass++) {
      for (const u of basis) r = tf.sub(r, tf.mul(tf.sum(tf.mul(r, u)), u));
    }
    return r;
  });
  const n = tf.norm(w);
  const norm = (await n.data())[0]!;
  n.dispose();
  if (norm === 0) return { vector: w, norm };
  const vector = tf.tidy(() => tf.div(w, norm) as tf.Tensor1D);
  w.dispose();
  return { vector, norm };
}
