import * as tf from '@tensorflow/tfjs-core';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { type pacer as Pacer, pacer, requireAtMost, requireSignal } from './abort';
import { EstimatorError, requireInteger, requireOptions, requirePositive } from './errors';
import type { HessianOperator } from './operator';
import { product, requireOperator } from './operator';
import {
  type ProbeDistribution,
  probeVector,
  requireDistribution,
  type Seed,
  seededRng,
} from './rng';
import { type Estimate, meanAndStandardError } from './stats';

export interface SpectralDensityOptions {
  /** Lanczos steps m per probe (capped at d); default 90 (Ghorbani et al. 2019). */
  readonly steps?: number;
  /** Probe vectors n; default 1 (PyHessian's; the density is then one quadrature). */
  readonly probes?: number;
  /** Seed of the probe vectors; default 0. */
  readonly seed?: Seed;
  /** Probe distribution before normalisation; default `'rademacher'`. */
  readonly distribution?: ProbeDistribution;
  /** Gaussian broadening σ; default 1% of the node range (or of |node| if they coincide). */
  readonly sigma?: number;
  /** Grid points; default 1000. The spacing must not exceed σ (checked). */
  readonly gridSize?: number;
  /**
   * Lanczos stops early when β_j ≤ breakdown·max(|α|, β) so far (the Krylov
   * space is invariant). Default 1e-6: with full reorthogonalisation every
   * new vector is orthogonal to the basis to float32 precision whatever β is,
   * so a small β needs no special care, and 1e-6 is just above the float32
   * rounding level of an HVP relative to ‖H‖. The old 1e-3 stopped after 5
   * steps when one eigenvalue of 1000 sat over a bulk on [−1, 1].
   */
  readonly breakdown?: number;
  /** Aborts the call: it rejects with an `AbortError` and disposes its tensors. */
  readonly signal?: AbortSignal;
}

export interface SpectralDensity extends Estimate {
  /** tr H ≈ d · (1/n) Σ_p Σ_j w_pj θ_pj, the density's first moment times d. */
  readonly estimate: number;
  /** Standard error of `estimate` over the probes (NaN with one probe). */
  readonly standardError: number;
  /** Per probe, d · Σ_j w_pj θ_pj (= d · vᵀHv/‖v‖²). */
  readonly probes: number[];
  /** Ritz values θ_pj (Gauss quadrature nodes) per probe, ascending. */
  readonly nodes: number[][];
  /** Quadrature weights w_pj per probe (squared first components; each row sums to 1). */
  readonly weights: number[][];
  /** The density's abscissae, evenly spaced over [min θ − 5σ, max θ + 5σ]. */
  readonly grid: number[];
  /** (1/n) Σ_p Σ_j w_pj N(t; θ_pj, σ²) on `grid`, what a plot draws; integrates to 1. */
  readonly values: number[];
  /** The broadening σ used. */
  readonly sigma: number;
  /** d. */
  readonly dimension: number;
}

/**
 * The spectral density of H by stochastic Lanczos quadrature (Ghorbani,
 * Krishnan & Xiao 2019; PyHessian). For each probe v (normalised), m Lanczos
 * steps with full reorthogonalisation give a tridiagonal T; its eigenpairs
 * (θ_j, q_j) are the nodes and weights w_j = q_j[0]² of a Gauss quadrature
 * for the spectral measure of H seen from v, so vᵀf(H)v/‖v‖² ≈ Σ_j w_j f(θ_j)
 * and tr f(H) ≈ d · E[Σ_j w_j f(θ_j)] (see `spectralSum`). The density is the
 * probes' average of Gaussians of width σ at the nodes. m HVPs per probe;
 * stops early when the Krylov space becomes invariant (β below `breakdown`
 * times the largest coefficient).
 */
export async function spectralDensity(
  H: HessianOperator,
  options: SpectralDensityOptions = {},
): Promise<SpectralDensity> {
  const where = 'spectralDensity';
  requireOperator(where, H);
  requireOptions(where, options, [
    'steps',
    'probes',
    'seed',
    'distribution',
    'sigma',
    'gridSize',
    'breakdown',
    'signal',
  ]);
  const d = H.dimension;
  const m = Math.min(requireInteger(where, 'steps', options.steps ?? 90, 1), d);
  const hvp = 'a Hessian-vector product per step';
  const n = requireAtMost(
    where,
    'probes',
    requireInteger(where, 'probes', options.probes ?? 1, 1),
    hvp,
  );
  const gridSize = requireAtMost(
    where,
    'gridSize',
    requireInteger(where, 'gridSize', options.gridSize ?? 1000, 2),
    'a density evaluation per node',
  );
  if (options.sigma !== undefined) requirePositive(where, 'sigma', options.sigma);
  const breakdown = requirePositive(where, 'breakdown', options.breakdown ?? 1e-6);
  const distribution = requireDistribution(where, options.distribution);
  const rng = seededRng(options.seed ?? 0);
  const pace = pacer(
    where,
    requireSignal(where, options.signal),
    n * m,
    'Hessian-vector products at most',
  );

  const nodes: number[][] = [];
  const weights: number[][] = [];
  for (let p = 0; p < n; p++) {
    const v = probeVector(d, distribution, rng);
    const { alpha, beta } = await lanczos(H, v, m, breakdown, pace).finally(() => v.dispose());
    const quadrature = gaussQuadrature(alpha, beta);
    nodes.push(quadrature.nodes);
    weights.push(quadrature.weights);
  }
  const probes = nodes.map((theta, p) => d * theta.reduce((a, t, j) => a + weights[p]![j]! * t, 0));
  const { mean, standardError } = meanAndStandardError(probes);

  const all = nodes.flat();
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const sigma = options.sigma ?? 0.01 * (hi > lo ? hi - lo : Math.max(Math.abs(hi), 1e-12));
  const start = lo - 5 * sigma;
  const step = (hi - lo + 10 * sigma) / (gridSize - 1);
  if (step > sigma) {
    const needed = Math.ceil((hi - lo + 10 * sigma) / sigma) + 1;
    throw new EstimatorError(
      `${where}: the grid spacing ${step.toExponential(2)} exceeds σ = ${sigma.toExponential(2)}, so the density cannot be resolved; pass gridSize: ${needed} or more, or a larger sigma.`,
    );
  }
  const grid = Array.from({ length: gridSize }, (_, i) => start + i * step);
  const norm = 1 / (n * sigma * Math.sqrt(2 * Math.PI));
  const values = grid.map((t) => {
    let s = 0;
    for (let p = 0; p < n; p++) {
      const theta = nodes[p]!;
      const w = weights[p]!;
      for (let j = 0; j < theta.length; j++)
        s += w[j]! * Math.exp(-0.5 * ((t - theta[j]!) / sigma) ** 2);
    }
    return s * norm;
  });
  return {
    estimate: mean,
    standardError,
    probes,
    nodes,
    weights,
    grid,
    values,
    sigma,
    dimension: d,
  };
}

/**
 * tr f(H) ≈ d · (1/n) Σ_p Σ_j w_pj f(θ_pj) from a spectral density's
 * quadrature (e.g. f(t) = t² gives ‖H‖_F²). Exact for polynomials of degree
 * < 2m in each probe's quadrature, so only the probe average is random.
 */
export function spectralSum(result: SpectralDensity, f: (t: number) => number): Estimate {
  const probes = result.nodes.map(
    (theta, p) =>
      result.dimension * theta.reduce((a, t, j) => a + result.weights[p]![j]! * f(t), 0),
  );
  const { mean, standardError } = meanAndStandardError(probes);
  return { estimate: mean, standardError, probes };
}

/**
 * m steps of Lanczos from v with full reorthogonalisation (every new vector is
 * orthogonalised, twice, against all previous ones, which float32 needs to
 * keep the Ritz values free of spurious copies). Returns T's diagonal α and
 * off-diagonal β.
 */
async function lanczos(
  H: HessianOperator,
  v: tf.Tensor1D,
  m: number,
  breakdown: number,
  pace: ReturnType<typeof Pacer>,
): Promise<{ alpha: number[]; beta: number[] }> {
  const basis: tf.Tensor1D[] = [tf.tidy(() => tf.div(v, tf.norm(v)) as tf.Tensor1D)];
  const alpha: number[] = [];
  const beta: number[] = [];
  let scale = 0;
  try {
    for (let j = 0; j < m; j++) {
      await pace.next();
      const q = basis[j]!;
      const hq = await product('spectralDensity', H, q);
      const a = tf.tidy(() => tf.sum(tf.mul(q, hq)));
      alpha.push((await a.data())[0]!);
      a.dispose();
      scale = Math.max(scale, Math.abs(alpha[j]!));
      if (j === m - 1) {
        hq.dispose();
        break;
      }
      const w = tf.tidy(() => {
        let r: tf.Tensor1D = hq;
        for (let pass = 0; pass < 2; pass++) {
          for (const u of basis) r = tf.sub(r, tf.mul(tf.sum(tf.mul(r, u)), u));
        }
        return r;
      });
      hq.dispose();
      const b = tf.tidy(() => tf.norm(w));
      const betaJ = (await b.data())[0]!;
      b.dispose();
      scale = Math.max(scale, betaJ);
      if (!(betaJ > breakdown * scale)) {
        w.dispose();
        break; // invariant subspace: T so far is the exact restriction of H
      }
      beta.push(betaJ);
      basis.push(tf.tidy(() => tf.div(w, betaJ) as tf.Tensor1D));
      w.dispose();
    }
  } finally {
    tf.dispose(basis);
  }
  return { alpha, beta };
}

/** Nodes (eigenvalues of T, ascending) and weights (squared first eigenvector components). */
function gaussQuadrature(alpha: number[], beta: number[]): { nodes: number[]; weights: number[] } {
  const k = alpha.length;
  const T = Matrix.zeros(k, k);
  for (let i = 0; i < k; i++) {
    T.set(i, i, alpha[i]!);
    if (i + 1 < k) {
      T.set(i, i + 1, beta[i]!);
      T.set(i + 1, i, beta[i]!);
    }
  }
  const evd = new EigenvalueDecomposition(T, { assumeSymmetric: true });
  const Q = evd.eigenvectorMatrix;
  const order = evd.realEigenvalues
    .map((value, j) => ({ value, j }))
    .sort((a, b) => a.value - b.value);
  return {
    nodes: order.map((o) => o.value),
    weights: order.map((o) => Q.get(0, o.j) ** 2),
  };
}
