import type * as tf from '@tensorflow/tfjs-core';
import { type Measure, monteCarlo, type Probe } from '@usam/measures';
import { pacer, requireAtMost, requireSignal } from './abort';
import { requireInteger, requireOptions } from './errors';
import { NEEDS_TWO } from './hutchinson';
import type { HessianOperator } from './operator';
import { partShapes, productOfParts, requireOperator } from './operator';
import type { Seed } from './rng';
import type { Estimate } from './stats';

export interface MeasureMonteCarloOptions {
  /** Draws n per μ_ℓ (n in all when the measure shares samples); default 100, at least 2. */
  readonly samples?: number;
  /** Seed of the draws; default 0. */
  readonly seed?: Seed;
  /** Aborts the call: it rejects with an `AbortError` and disposes its tensors. */
  readonly signal?: AbortSignal;
}

export interface MeasureMonteCarloEstimate extends Estimate {
  /** S = φ(t̂_1, …, t̂_m). */
  readonly estimate: number;
  /** Delta-method standard error of φ(t̂) (see @usam/measures' `MeasureEstimate`). */
  readonly standardError: number;
  /** q = ½vᵀHv for every draw, in order. */
  readonly probes: number[];
  /** t̂_ℓ = mean of w·ψ_ℓ(q), ℓ = 1..m. */
  readonly means: readonly number[];
  /** Every draw with its importance weight and ψ values. */
  readonly draws: readonly Probe[];
  /** Importance-weighted μ only: effective sample size and Pareto tail shape (see @usam/measures' `MeasureEstimate`). */
  readonly effectiveSampleSize?: number;
  readonly tailShape?: number;
  /** Present when the draws say the standard error cannot be trusted; one line naming the fix. */
  readonly warning?: string;
}

/**
 * A (φ, ψ, μ)-sharpness measure (docs/measures.md, Definition 1) of the
 * data-accumulated Hessian, by @usam/measures' `monteCarlo` over this
 * operator's HVPs: S ≈ φ(mean w·ψ_ℓ(½vᵀHv)). Draws are shaped like the
 * parameters (`HvpOperator.shapes`; one flat vector for a plain operator), so
 * "sphere" means the unit sphere of the whole parameter vector. One HVP per
 * draw and component (per draw when samples are shared).
 */
export async function measureMonteCarlo(
  H: HessianOperator & { readonly shapes?: readonly (readonly number[])[] },
  measure: Measure,
  options: MeasureMonteCarloOptions = {},
): Promise<MeasureMonteCarloEstimate> {
  const where = 'measureMonteCarlo';
  requireOperator(where, H);
  requireOptions(where, options, ['samples', 'seed', 'signal']);
  const samples = requireAtMost(
    where,
    'samples',
    requireInteger(where, 'samples', options.samples ?? 100, 2, NEEDS_TWO),
    'a Hessian-vector product per component',
  );
  const shapes = partShapes(H);
  const components = measure?.components?.length ?? 1;
  const pace = pacer(
    where,
    requireSignal(where, options.signal),
    measure?.sharedSamples ? samples : samples * components,
    'draws',
  );
  // monteCarlo disposes the draw when the product throws, so an abort leaks nothing.
  const hvp = async (v: tf.Tensor[]): Promise<tf.Tensor[]> => {
    await pace.next();
    return productOfParts(where, H, v);
  };
  const result = await monteCarlo(measure, hvp, { shapes, samples, seed: options.seed ?? 0 });
  return {
    estimate: result.value,
    standardError: result.standardError,
    probes: result.probes.map((p) => p.q),
    means: result.means,
    draws: result.probes,
    ...(result.effectiveSampleSize !== undefined && {
      effectiveSampleSize: result.effectiveSampleSize,
      tailShape: result.tailShape,
    }),
    ...(result.warning && { warning: result.warning }),
  };
}
