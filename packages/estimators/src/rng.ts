import type * as tf from '@tensorflow/tfjs-core';
import { createRng, gaussian, type Rng, rademacher } from '@usam/measures';
import { describe, EstimatorError } from './errors';

/** A seed for an estimator's probe vectors: same seed, same probes, same result (cpu). */
export type Seed = number | string;

/** The seeded `Rng` of @usam/measures, so estimators and samplers draw from one kind of stream. */
export const seededRng = (seed: Seed): Rng => createRng(seed);

/** Distribution of Hutchinson / SLQ probe vectors. */
export type ProbeDistribution = 'rademacher' | 'gaussian';

/** `distribution` checked: 'rademacher' (the default) or 'gaussian'. */
export function requireDistribution(where: string, value: unknown): ProbeDistribution {
  if (value === undefined) return 'rademacher';
  if (value === 'rademacher' || value === 'gaussian') return value;
  throw new EstimatorError(
    `${where}: distribution must be 'rademacher' or 'gaussian', got ${describe(value)}.`,
  );
}

/**
 * A probe vector with i.i.d. entries, ±1 (Rademacher) or N(0, 1), split into
 * tensors of these shapes; from @usam/measures' samplers, which draw the whole
 * vector in JavaScript from `rng` and cut it into parts, so the values are the
 * same on every backend and for every split of the same length.
 */
export function probeParts(
  shapes: readonly (readonly number[])[],
  distribution: ProbeDistribution,
  rng: Rng,
): tf.Tensor[] {
  const sampler = distribution === 'gaussian' ? gaussian() : rademacher();
  return sampler.sample(shapes, rng);
}

/** A flat probe vector of length d (see `probeParts`). */
export const probeVector = (d: number, distribution: ProbeDistribution, rng: Rng): tf.Tensor1D =>
  probeParts([[d]], distribution, rng)[0] as tf.Tensor1D;
