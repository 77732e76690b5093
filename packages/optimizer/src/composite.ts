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
/** What an entry of g may reach: float32's largest value, less a margin for the roundings of forming it. */
const ROOM = FLOAT32_MAX * (1 - 1e-6);

/**
 * The terms of g = ∇L + λΣ_j c_j(∇L_j − ∇L) = (1 − λΣc)∇L + Σ_j λc_j∇L_j.
 * Where some |λc_j| is large, in the difference form, and the regulariser
 * λr = Σ_j λc_j(∇L_j − ∇L) is scaled down (its direction kept, every live
 * coefficient counted as clipped) only when some entry of g would leave
 * float32: docs/det-sam-stability.md gives the rule. Tensors it makes are
 * pushed to `owned` (the caller disposes them).
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
  const [gradientMax, ...maxima] = readAndDispose([
    tensorList.maxAbs(clean.gradient),
    ...differences.map((d) => tensorList.maxAbs(d)),
  ]);
  const g = { tensors: clean.gradient, weight: 1 };
  // A zero difference adds nothing, whatever its weight (even ±∞).
  const live = weights.map((w, j) => (maxima[j] === 0 ? 0 : w));
  // Non-finite gradients: g is not finite whatever the weights; the engine's check refuses the step.
  if (![gradientMax!, ...maxima].every(Number.isFinite)) {
    return {
      terms: [g, ...differences.map((d, j) => ({ tensors: d, weight: live[j]! }))],
      clipped: 0,
    };
  }
  // |g_i| ≤ max|∇L| + Σ_j |λc_j|·max|Δ_j| (float64): within float32, the exact terms.
  const bound = live.reduce((s, w, j) => s + Math.abs(w) * maxima[j]!, gradientMax!);
  // (A weight past float32 would upload as ∞, so such terms take the unit form below.)
  if (bound <= ROOM && live.every((w) => Math.abs(w) <= ROOM)) {
    return {
      terms: [g, ...differences.map((d, j) => ({ tensors: d, weight: live[j]! }))],
      clipped: 0,
    };
  }
  // The regulariser's unit direction u (max|u| = 1) and its size ω = max|λr| in float64,
  // formed from terms of size ≤ 1 so nothing overflows on the way.
  const sizes = live.map((w, j) => Math.abs(w) * maxima[j]!);
  const largest = Math.max(...sizes);
  const infinite = largest === Number.POSITIVE_INFINITY;
  const unit = tf.tidy(() => {
    const terms = differences.flatMap((d, j) => {
      const a = infinite ? (sizes[j] === largest ? 1 : 0) : sizes[j]! / largest;
      // Δ_j/max|Δ_j| by division: 1/max|Δ_j| may not fit float32 (a tiny difference).
      return a === 0 ? [] : [{ tensors: divide(d, maxima[j]!), weight: Math.sign(live[j]!) * a }];
    });
    return tensorList.linearCombination(terms, clean.gradient);
  });
  owned.push(...unit);
  const [unitMax] = readAndDispose([tensorList.maxAbs(unit)]);
  if (!(unitMax! > 0)) return { terms: [g], clipped: 0 }; // the terms cancel exactly
  const omega = largest * unitMax!;
  const direction = divide(unit, unitMax!);
  owned.push(...direction);
  if (omega + gradientMax! <= ROOM) {
    return { terms: [g, { tensors: direction, weight: omega }], clipped: 0 };
  }
  // Can ∇L + ω·u stay inside float32 entry by entry? Only if ω ≤ 2·float32 max (u has an entry ±1);
  // then g/2 is finite and shows it.
  if (omega <= 2 * ROOM) {
    const half = tf.tidy(() =>
      tensorList.axpy(omega / 2, direction, tensorList.scale(clean.gradient, 0.5)),
    );
    owned.push(...half);
    const [halfMax] = readAndDispose([tensorList.maxAbs(half)]);
    if (2 * halfMax! <= ROOM) return { terms: [{ tensors: half, weight: 2 }], clipped: 0 };
  }
  // It would leave float32: λr scaled to the largest size that keeps every entry of g finite.
  const kept = Math.max(0, ROOM - gradientMax!);
  return {
    terms: [g, { tensors: direction, weight: kept }],
    clipped: live.filter((w) => w !== 0).length,
  };
}

/** a/s entrywise, s a float32 number (new tensors). */
const divide = (a: readonly tf.Tensor[], s: number): tf.Tensor[] =>
  tf.tidy(() => {
    const divisor = tf.scalar(s);
    return a.map((ak) => tf.div(ak, divisor));
  });

/** Reads scalars back in one download and disposes them. */
function readAndDispose(scalars: tf.Scalar[]): number[] {
  try {
    return readNumbers(scalars);
  } finally {
    tf.dispose(scalars);
  }
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
