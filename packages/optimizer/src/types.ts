import type * as tf from '@tensorflow/tfjs-core';
import type { SeededRng } from '@usam/measures';
import type { Parameter, Parameters } from './variables';

// The public vocabulary of the step engine: what a variant's options, a
// perturbation and a step's statistics look like. Kept apart from the engine
// so that perturbations, the state format and the engine depend on these
// types and not on one another.

/**
 * One part of the minibatch (m-sharpness, Foret et al. §4: the batch is split
 * into m parts, each with its own perturbation). `slice` cuts a tensor's first
 * axis into `count` contiguous parts, sizes ⌊(i + 1)N/m⌋ − ⌊iN/m⌋, and returns
 * part `index`; with `count` = 1 it returns the tensor itself.
 */
export interface BatchPart {
  readonly index: number;
  readonly count: number;
  slice<T extends tf.Tensor>(batch: T): T;
}

/**
 * The minibatch loss L(x): evaluated 1 + n·m times per step on the same
 * minibatch. With `mSharpness` = m > 1 it receives the part to evaluate and
 * must compute the loss of `part.slice(xs)` and `part.slice(ys)` only; with the
 * default m = 1 it may ignore its argument.
 */
export type LossClosure = (part: BatchPart) => tf.Scalar;

/** Options every variant takes (docs/optimizer-semantics.md). */
export interface OptimizerOptions {
  /**
   * What to train: `tf.Variable`s, tfjs-layers weights, or a tfjs-layers model.
   * A model's trainable weights are read at every step, so freezing a layer
   * stops its training and unfreezing restarts it.
   */
  readonly params: Parameters;
  /**
   * Variables the loss closure writes that are not trained (BatchNorm running
   * statistics): perturbed passes must not change them, so they are
   * snapshotted and restored around them, as @usam/estimators' `preserve`.
   * Defaults to a model's current `nonTrainableWeights`, or none for a list.
   */
  readonly preserve?: readonly Parameter[];
  /** @deprecated The old name of `preserve` (docs/errors-and-vocabulary.md); still accepted. */
  readonly state?: readonly Parameter[];
  /** The base optimizer that takes the composite gradient: any tfjs optimizer (SGD, momentum, Adam, …). */
  readonly base: tf.Optimizer;
  /**
   * Coupled L2 weight decay: `weightDecay·x` is added to the composite gradient
   * before the base step (PyTorch SGD's convention, the paper's 5e-4), and is
   * not part of the losses L_i. Default 0.
   */
  readonly weightDecay?: number;
  /**
   * λ ≥ 0, the weight of the sharpness term: g = ∇L + λ·r with r the variant's
   * regulariser gradient (L + λρ²R_ρ for the (φ, ψ, μ) family, docs/lambda.md;
   * (1 − λ)∇L(x) + λ∇L(x + e) for SAM's family). λ = 0 is the base optimizer.
   */
  readonly lambda?: number;
  /** Seed of the perturbation draws; the same seed gives the same trajectory on cpu. Default 0. */
  readonly seed?: number | string;
  /**
   * m ≥ 1 (Foret et al.'s m-sharpness, Keras's `num_batch_splits`): the batch
   * is split into m parts, each with its own clean pass and perturbation, and
   * the m composite gradients are averaged (equal weights: the batch mean when
   * m divides the batch size). The loss closure receives the part (see
   * `LossClosure`). Costs the same number of examples' gradients as m = 1,
   * in m times as many passes. Default 1.
   */
  readonly mSharpness?: number;
  /**
   * Clips the composite gradient (before weight decay) to this global norm,
   * as PyTorch's clip_grad_norm_: g ← g·min(1, c/‖g‖). Default none.
   */
  readonly clipNorm?: number;
}

/** The option names every factory accepts, besides its own ('state': the old name of 'preserve'). */
export const ENGINE_OPTIONS = [
  'params',
  'state',
  'base',
  'preserve',
  'weightDecay',
  'lambda',
  'seed',
  'mSharpness',
  'clipNorm',
] as const;

/** Per-step statistics (docs/optimizer-semantics.md). */
export interface StepStats {
  /** 1-based index of this step. */
  readonly step: number;
  /** The clean minibatch loss L(x) (the mean over the m parts with m-sharpness). */
  readonly loss: number;
  /** L at each perturbed point, in draw order (part by part). */
  readonly perturbedLosses: number[];
  /**
   * This step's estimate of the sharpness term: R_ρ(x) = φ(t) for the (φ, ψ, μ)
   * family (Definition 2); the loss gap L(x + e) − L(x) for SAM, ASAM and SSAM
   * (means over the parts); null for the plain base optimizer.
   */
  readonly sharpness: number | null;
  /** Gradients computed in this step (1 + n·m for Algorithm 3, 2 for SAM; times the parts). */
  readonly gradientEvaluations: number;
  /** False when the step was refused: the weights and state were left as they were. */
  readonly applied: boolean;
  /** Coefficients clipped this step so that the update stays inside float32 (Det-SAM's guard). */
  readonly clipped: number;
  /**
   * True when a loss, a coefficient or the composite gradient was NaN or ±∞;
   * always `!applied`, since that is the only reason a step is refused.
   */
  readonly nonFinite: boolean;
  /** Why the step was refused, when it was. */
  readonly reason?: string;
}

/** Running totals over all steps. */
export interface Counters {
  steps: number;
  applied: number;
  /** Steps refused (weights left as they were); every refusal is for a NaN or ±∞ value. */
  refused: number;
  clipped: number;
  gradientEvaluations: number;
}

/** One gradient evaluation: L and ∇L (one tensor per variable). */
export interface Evaluation {
  readonly loss: tf.Scalar;
  readonly gradient: tf.Tensor[];
}

/** What a perturbation sees while it makes its passes on one part of the batch. */
export interface PassContext {
  /** The point x of this step (saved values; the variables move during passes). */
  readonly origin: readonly tf.Tensor[];
  /** L(x) and ∇L(x) on this part, computed once. */
  readonly clean: Evaluation;
  /** The variables' shapes, for samplers. */
  readonly shapes: number[][];
  /** The optimizer's seeded stream (its position is part of the saved state). */
  readonly rng: SeededRng;
  /**
   * Sets the variables to x + s·e (s = `scale`, default 1; non-trainable state
   * as after the clean pass) and evaluates L and ∇L there. x + ρv in one pass
   * is `evaluateAt(v, ρ)`, the same float32 point as `evaluateAt(ρ·v)`. The
   * engine owns the result: don't dispose it.
   */
  evaluateAt(e: readonly tf.Tensor[], scale?: number): Evaluation;
  /** L(x) and L at every point evaluated so far, read back in one download. */
  losses(): { clean: number; perturbed: number[] };
}

/**
 * What a perturbation gives: the regulariser gradient r = Σ_j c_j(∇L(x + e_j) − ∇L(x))
 * as one coefficient per `evaluateAt` call, in call order. The engine forms
 * g = ∇L + λr, keeps it inside float32 and steps.
 */
export interface PerturbedResult {
  readonly coefficients: readonly number[];
  /** This part's estimate of the sharpness term (see `StepStats.sharpness`). */
  readonly sharpness: number;
  /** Why no gradient can be formed (non-finite losses or coefficients); the step is refused. */
  readonly problem?: string;
}

/** What a perturbation sees before a step. */
export interface PrepareContext {
  readonly variables: readonly tf.Variable[];
  readonly epoch: number | undefined;
  /** L and ∇L for a loss closure at the current variables (not counted as a step's evaluation). The caller disposes it. */
  gradient(loss: () => tf.Scalar): Evaluation;
}

/**
 * A sharpness-aware perturbation: the strategy that says where the extra
 * gradients are taken and how they are weighed. SAM, ASAM, SSAM-F and every
 * (φ, ψ, μ) measure are each one of these; `SharpnessAwareOptimizer` is the one
 * step engine around them.
 */
export interface Perturbation {
  readonly name: string;
  /** True when the perturbed passes are a no-op (ρ = 0): the step is the base optimizer's. */
  readonly idle?: boolean;
  perturb(context: PassContext): PerturbedResult;
  /** Work before a step (SSAM-F's mask refresh). */
  prepare?(context: PrepareContext): void;
  /** JSON and tensors that make up its state (SSAM-F's mask and epoch); tensors are copies the caller owns. */
  getState?(): PerturbationState;
  /** Restores `getState`'s output (tensors are copied, the caller keeps its own). */
  setState?(state: PerturbationState): void;
  dispose?(): void;
}

/** A perturbation's saved state. */
export interface PerturbationState {
  readonly json: Record<string, unknown>;
  readonly tensors: readonly tf.Tensor[];
}
