import * as tf from '@tensorflow/tfjs-core';
import { tensorList } from '@usam/measures';
import type { Evaluation } from './types';

// The composite gradient g = ∇L + λr of one step, as terms of a linear
// combination: how the perturbation's coefficients become g, how g is kept
// inside float32 (Det-SAM's guard), clipped and given weight decay.

/** |λc| above this makes the engine check the update against float32's range. */
const LARGE_WEIGHT = 1e4;
/** float32's largest finite value. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * The terms of g = ∇L + λΣ_j c_j(∇L_j − ∇L) = (1 − λΣc)∇L + Σ_j λc_j∇L_j. Where
 * some |λc_j| is large, in the difference form, with each λc_j clipped (and
 * counted) only as far as keeps |λc_j|·max|∇L_j − ∇L| inside float32. The
 * differences it makes are pushed to `owned` (the caller disposes them).
 */
export function regularised(
  lambda: number,
  clean: Evaluation,
  evaluations: readonly Evaluation[],
  coefficients: readonly number[],
  owned: tf.Tensor[],
): { terms: tensorList.Term[]; clipped: number } {
  const weights = coefficients.map((c) => lambda * c);
  if (weights.every((w) => Math.abs(w) <= LARGE_WEIGHT)) {
    return {
      terms: [
        { tensors: clean.gradient, weight: 1 - weights.reduce((a, b) => a + b, 0) },
        ...evaluations.map((e, j) => ({ tensors: e.gradient, weight: weights[j]! })),
      ],
      clipped: 0,
    };
  }
  const differences = evaluations.map((e) => tensorList.sub(e.gradient, clean.gradient));
  owned.push(...differences.flat());
  const maxima = readNumbers(differences.map((d) => tensorList.maxAbs(d)));
  // Each of the J + 1 terms at most FLOAT32_MAX/(J + 1) (less a margin for rounding), so their sum stays finite.
  const room = (FLOAT32_MAX / (weights.length + 1)) * (1 - 1e-6);
  let clipped = 0;
  const terms = weights.map((w, j) => {
    const most = maxima[j]! === 0 ? Number.POSITIVE_INFINITY : room / maxima[j]!;
    if (Math.abs(w) <= most) return { tensors: differences[j]!, weight: w };
    clipped++;
    return { tensors: differences[j]!, weight: maxima[j]! === 0 ? 0 : Math.sign(w) * most };
  });
  return { terms: [{ tensors: clean.gradient, weight: 1 }, ...terms], clipped };
}

/** g·min(1, c/‖g‖), then + wd·x; disposes g. */
export function clipAndDecay(
  g: tf.Tensor[],
  origin: readonly tf.Tensor[],
  clipNorm: number,
  weightDecay: number,
): tf.Tensor[] {
  const out = tf.tidy(() => {
    const factor = tf.div(clipNorm, tf.maximum(tensorList.norm(g), clipNorm)) as tf.Scalar;
    return g.map((gk, k) => {
      const scaled = tf.mul(gk, factor);
      return weightDecay === 0 ? scaled : tf.add(scaled, tf.mul(origin[k]!, weightDecay));
    });
  });
  tensorList.dispose(g);
  return out;
}

/**
 * The tensors of the one live term when g is exactly one gradient the step
 * owns (a plain step without weight decay, SAM with λ = 1): taken over as g
 * instead of copied (a clone copies the data on wasm). Undefined otherwise.
 */
export function takeOver(
  terms: readonly tensorList.Term[],
  owned: readonly tf.Tensor[],
): tf.Tensor[] | undefined {
  const live = terms.filter((t) => t.weight !== 0);
  const only = live.length === 1 && live[0]!.weight === 1 ? live[0]!.tensors : undefined;
  return only?.every((t) => owned.includes(t)) ? [...only] : undefined;
}

/** Reads scalars back in one download (one sync point). */
export function readNumbers(scalars: readonly tf.Scalar[]): number[] {
  if (scalars.length === 0) return [];
  if (scalars.length === 1) return [scalars[0]!.dataSync()[0]!];
  const stacked = tf.stack(scalars as tf.Scalar[]);
  try {
    return Array.from(stacked.dataSync());
  } finally {
    stacked.dispose();
  }
}
