import * as tf from '@tensorflow/tfjs-core';
import { createRng, type Rng } from '@usam/measures';

/** A seed for an estimator's probe vectors: same seed, same probes, same result (cpu). */
export type Seed = number | string;

/** The seeded `Rng` of @usam/measures, so estimators and samplers draw from one kind of stream. */
export const seededRng = (seed: Seed): Rng => createRng(seed);

/** Distribution of Hutchinson / SLQ probe vectors. */
export type ProbeDistribution = 'rademacher' | 'gaussian';

/**
 * A flat probe vector of length d with i.i.d. entries: ±1 (Rademacher) or
 * N(0, 1). Drawn in JavaScript from `rng`, so the values are the same on every
 * backend.
 */
export function probeVector(d: number, distribution: ProbeDistribution, rng: Rng): tf.Tensor1D {
  const values = new Float32Array(d);
  if (distribution === 'rademacher') {
    for (let i = 0; i < d; i++) values[i] = rng.next() < 0.5 ? -1 : 1;
  } else {
    // Box–Muller, both outputs used.
    for (let i = 0; i < d; i += 2) {
      const u = 1 - rng.next(); // (0, 1]: log(u) finite
      const r = Math.sqrt(-2 * Math.log(u));
      const a = 2 * Math.PI * rng.next();
      values[i] = r * Math.cos(a);
      if (i + 1 < d) values[i + 1] = r * Math.sin(a);
    }
  }
  return tf.tensor1d(values);
}
