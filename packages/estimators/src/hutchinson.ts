import { tensorList } from '@usam/measures';
import { pacer, requireAtMost, requireSignal } from './abort';
import { requireInteger, requireOptions } from './errors';
import type { HessianOperator } from './operator';
import { partShapes, productOfParts, requireOperator } from './operator';
import {
  type ProbeDistribution,
  probeParts,
  requireDistribution,
  type Seed,
  seededRng,
} from './rng';
import { type Estimate, meanAndStandardError, readScalar, using } from './stats';

export interface HutchinsonOptions {
  /** Number of probe vectors (paper, Appendix I: 100). Must be ≥ 2 for a standard error. */
  readonly probes?: number;
  /** Seed of the probe vectors; default 0. */
  readonly seed?: Seed;
  /** Default `'rademacher'` (the lower-variance choice, PyHessian's). */
  readonly distribution?: ProbeDistribution;
  /** Aborts the call: it rejects with an `AbortError` and disposes its tensors. */
  readonly signal?: AbortSignal;
}

export const NEEDS_TWO = ' (a standard error needs two probes)';

/** `probes` checked: 2 to MAX_COUNT, default 100. */
const probeCount = (where: string, probes: number | undefined) =>
  requireAtMost(
    where,
    'probes',
    requireInteger(where, 'probes', probes ?? 100, 2, NEEDS_TWO),
    'a Hessian-vector product',
  );

/**
 * Hutchinson's trace estimator (docs/hessian-estimators.md): tr H ≈ (1/n) Σ_i v_iᵀHv_i with
 * E[vvᵀ] = I. Per-probe variance is 2(‖H‖_F² − Σ H_ii²) for Rademacher v and
 * 2‖H‖_F² for Gaussian v. One HVP per probe.
 */
export async function hutchinsonTrace(
  H: HessianOperator,
  options: HutchinsonOptions = {},
): Promise<Estimate> {
  const where = 'hutchinsonTrace';
  requireOperator(where, H);
  requireOptions(where, options, ['probes', 'seed', 'distribution', 'signal']);
  const n = probeCount(where, options.probes);
  const distribution = requireDistribution(where, options.distribution);
  const pace = pacer(where, requireSignal(where, options.signal), n, 'probes');
  const rng = seededRng(options.seed ?? 0);
  const shapes = partShapes(H);
  const probes: number[] = [];
  for (let i = 0; i < n; i++) {
    await pace.next();
    probes.push(
      await using(probeParts(shapes, distribution, rng), async (v) =>
        using(await productOfParts(where, H, v), (hv) => readScalar(tensorList.dot(v, hv))),
      ),
    );
  }
  const { mean, standardError } = meanAndStandardError(probes);
  return { estimate: mean, standardError, probes };
}

export interface FrobeniusOptions {
  /** Number of Gaussian probes (paper, Appendix I: 100). Must be ≥ 2. */
  readonly probes?: number;
  /** Seed of the probe vectors; default 0. */
  readonly seed?: Seed;
  /** Aborts the call: it rejects with an `AbortError` and disposes its tensors. */
  readonly signal?: AbortSignal;
}

/**
 * The squared Frobenius norm (docs/hessian-estimators.md, paper Appendix I):
 * ‖H‖_F² = tr(H²) ≈ (1/n) Σ_i ‖Hz_i‖², z_i ~ N(0, I). Per-probe variance
 * 2 tr(H⁴). One HVP per probe.
 */
export async function frobeniusNormSquared(
  H: HessianOperator,
  options: FrobeniusOptions = {},
): Promise<Estimate> {
  const where = 'frobeniusNormSquared';
  requireOperator(where, H);
  requireOptions(where, options, ['probes', 'seed', 'signal']);
  const n = probeCount(where, options.probes);
  const pace = pacer(where, requireSignal(where, options.signal), n, 'probes');
  const rng = seededRng(options.seed ?? 0);
  const shapes = partShapes(H);
  const probes: number[] = [];
  for (let i = 0; i < n; i++) {
    await pace.next();
    probes.push(
      await using(probeParts(shapes, 'gaussian', rng), async (z) =>
        using(await productOfParts(where, H, z), (hz) => readScalar(tensorList.squaredNorm(hz))),
      ),
    );
  }
  const { mean, standardError } = meanAndStandardError(probes);
  return { estimate: mean, standardError, probes };
}
