import * as tf from '@tensorflow/tfjs-core';
import { OptimizerError, requireNumber } from './errors';
import { type Parameter, type Parameters, resolveParameters, Snapshot } from './variables';

/** The minibatch loss L(x): evaluated 1 + n·m times per step, always on the same minibatch. */
export type LossClosure = () => tf.Scalar;

/** Options every variant takes (SPEC §4). */
export interface OptimizerOptions {
  /** What to train: `tf.Variable`s, tfjs-layers weights, or a tfjs-layers model. */
  readonly params: Parameters;
  /**
   * Non-trainable state the loss closure writes (BatchNorm running statistics).
   * Perturbed passes must not change it, so it is snapshotted and restored.
   * Defaults to a model's `nonTrainableWeights`, or none for a list.
   */
  readonly state?: readonly Parameter[];
  /** The base optimizer that takes the composite gradient: any tfjs optimizer (SGD, momentum, Adam, …). */
  readonly base: tf.Optimizer;
  /**
   * Coupled L2 weight decay: `weightDecay·x` is added to the composite gradient
   * before the base step (PyTorch SGD's convention, the paper's 5e-4), and is
   * not part of the losses L_i. Default 0.
   */
  readonly weightDecay?: number;
}

/** Per-step statistics (SPEC §4). */
export interface StepStats {
  /** 1-based index of this step. */
  readonly step: number;
  /** The clean minibatch loss L(x). */
  readonly loss: number;
  /** L at each perturbed point, in draw order. */
  readonly perturbedLosses: number[];
  /**
   * This step's estimate of the sharpness term: R_ρ(x) = φ(t) for the (φ, ψ, μ)
   * family (Definition 2); the loss gap L(x + e) − L(x) for SAM, ASAM and SSAM;
   * null for the plain base optimizer.
   */
  readonly sharpness: number | null;
  /** Gradients computed in this step (1 + n·m for Algorithm 3, 2 for SAM). */
  readonly gradientEvaluations: number;
  /** False when the step was refused: the weights and state were left as they were. */
  readonly applied: boolean;
  /** Coefficients clipped this step (Det-SAM's float32 guard). */
  readonly clipped: number;
  /** True when a loss or the composite gradient was NaN or ±∞ (the step is then refused). */
  readonly nonFinite: boolean;
  /** Why the step was refused, when it was. */
  readonly reason?: string;
}

/** Running totals over all steps. */
export interface Counters {
  steps: number;
  applied: number;
  refused: number;
  nonFinite: number;
  clipped: number;
  gradientEvaluations: number;
}

/** One gradient evaluation: L and ∇L (one tensor per variable). The receiver owns both. */
export interface Evaluation {
  readonly loss: tf.Scalar;
  readonly gradient: tf.Tensor[];
}

/** One term w·∇L(·) of a composite gradient. */
export interface WeightedGradient {
  readonly gradient: readonly tf.Tensor[];
  readonly weight: number;
}

/** What a variant sees while computing its perturbed passes. */
export interface PassContext {
  /** The point x of this step (saved values; the variables move during passes). */
  readonly origin: readonly tf.Tensor[];
  /** L(x) and ∇L(x), computed once. */
  readonly clean: Evaluation;
  /** Sets the variables to x + e (non-trainable state as after the clean pass) and evaluates L and ∇L there. */
  evaluateAt(e: readonly tf.Tensor[]): Evaluation;
  /**
   * The composite gradient Σ_j w_j·g_j plus weight decay (wd·x at the origin x,
   * not at the perturbed point the variables hold last), formed in one pass per
   * variable (zero weights skipped, unit weights not multiplied). The caller
   * owns the result; the terms stay the caller's too.
   */
  combine(terms: readonly WeightedGradient[]): tf.Tensor[];
}

/** What a variant's perturbed passes produce. */
export interface PerturbedResult {
  /** The composite gradient from `combine` (weight decay included), owned by the caller; absent when refused. */
  readonly gradient?: tf.Tensor[];
  readonly perturbedLosses: number[];
  readonly sharpness: number | null;
  readonly clipped: number;
  /** Why no gradient could be formed (non-finite losses or coefficients). */
  readonly problem?: string;
}

const disposeAll = (tensors: readonly tf.Tensor[] | undefined) => {
  for (const t of tensors ?? []) t.dispose();
};

/** Reads scalars back in one download (one sync point). */
export async function readScalars(scalars: readonly tf.Scalar[]): Promise<number[]> {
  if (scalars.length === 0) return [];
  const stacked = tf.stack(scalars as tf.Scalar[]);
  try {
    return Array.from(await stacked.data());
  } finally {
    stacked.dispose();
  }
}

/**
 * The step machinery every variant shares (SPEC §4): a clean pass, the
 * variant's perturbed passes with weights and state restored by assignment
 * afterwards (also when the loss throws), coupled weight decay, a finiteness
 * check that refuses bad steps instead of applying them, and the base step.
 * A variant only says how it perturbs and combines (`perturbed`).
 */
export abstract class SharpnessAwareOptimizer {
  /** The trainable variables, in the order gradients are listed. */
  readonly variables: readonly tf.Variable[];
  /** The non-trainable state restored around perturbed passes. */
  readonly state: readonly tf.Variable[];
  readonly base: tf.Optimizer;
  readonly weightDecay: number;
  /**
   * λ ≥ 0, the weight of the sharpness term (L + λρ²R_ρ, SPEC §3); λ = 0 gives
   * the base optimizer's step exactly, without perturbed passes.
   */
  readonly lambda: number;
  readonly counters: Counters = {
    steps: 0,
    applied: 0,
    refused: 0,
    nonFinite: 0,
    clipped: 0,
    gradientEvaluations: 0,
  };
  abstract readonly name: string;
  private stepping = false;

  protected constructor(options: OptimizerOptions, lambda: number, where: string) {
    if (typeof options !== 'object' || options === null) {
      throw new OptimizerError(`${where}: pass an options object { params, base, … }.`);
    }
    const base = options.base as tf.Optimizer | undefined;
    // Duck-typed: a second copy of tfjs-core would fail an instanceof check.
    if (typeof base?.applyGradients !== 'function') {
      throw new OptimizerError(
        `${where}: base must be a tfjs optimizer, e.g. base: tf.train.momentum(0.1, 0.9).`,
      );
    }
    const { variables, state } = resolveParameters(options.params, options.state, where);
    this.variables = variables;
    this.state = state;
    this.base = base;
    this.lambda = requireNumber(where, 'lambda (λ)', lambda, { min: 0 });
    this.weightDecay = requireNumber(where, 'weightDecay', options.weightDecay ?? 0, { min: 0 });
  }

  /** True when this step needs no perturbed passes (λ = 0, or ρ = 0 for SAM-type ascent). */
  protected abstract get plain(): boolean;

  /** The variant's perturbed passes and its composite gradient (SPEC §3). */
  protected abstract perturbed(context: PassContext): Promise<PerturbedResult>;

  /** Work a variant does before a step (SSAM-F's mask refresh). */
  protected async prepare(_epoch: number | undefined): Promise<void> {}

  /**
   * One optimisation step on the minibatch that `loss` evaluates. Returns the
   * step's statistics; when a loss or the composite gradient is not finite the
   * step is refused (weights, state and the base optimizer untouched) and
   * reported, never applied.
   *
   * @param options.epoch the current epoch, for variants that refresh per epoch (SSAM-F).
   */
  async step(loss: LossClosure, options: { epoch?: number } = {}): Promise<StepStats> {
    if (typeof loss !== 'function') {
      throw new OptimizerError(
        `${this.name}.step: pass a loss closure, e.g. step(() => tf.losses.softmaxCrossEntropy(ys, model.predict(xs))).`,
      );
    }
    if (this.stepping) {
      throw new OptimizerError(
        `${this.name}.step: a step is already running on these variables; await each step before starting the next.`,
      );
    }
    this.stepping = true;
    try {
      return await this.guardedStep(loss, options.epoch);
    } finally {
      this.stepping = false;
    }
  }

  private async guardedStep(loss: LossClosure, epoch: number | undefined): Promise<StepStats> {
    await this.prepare(epoch);
    const evaluationsBefore = this.counters.gradientEvaluations;
    const stateBefore = new Snapshot(this.state);
    let clean: Evaluation | undefined;
    let result: PerturbedResult = { perturbedLosses: [], sharpness: null, clipped: 0 };
    let cleanWeighted = false;
    let composite: tf.Tensor[] | undefined;
    try {
      clean = this.evaluate(loss);
      if (this.plain) {
        // The base optimizer's own step, op for op: ∇L, plus wd·x when decaying.
        composite =
          this.weightDecay === 0
            ? clean.gradient
            : tf.tidy(() =>
                clean!.gradient.map((g, k) =>
                  tf.add(g, tf.mul(this.variables[k]!, this.weightDecay)),
                ),
              );
      } else {
        ({ result, cleanWeighted } = await this.perturbedFrom(clean, loss));
        composite = result.gradient;
      }
      // The clean gradient is checked too where a zero weight dropped it from g (where
      // it is in g, a NaN or ±∞ in it reaches g anyway).
      const cleanInG = composite === clean.gradient || cleanWeighted;
      const probe = composite
        ? finiteProbe(cleanInG ? composite : [...composite, ...clean.gradient])
        : tf.scalar(Number.NaN);
      const [lossValue, finite] = await readScalars([clean.loss, probe]);
      probe.dispose();
      let reason = result.problem;
      if (reason === undefined && !Number.isFinite(lossValue)) reason = `the loss is ${lossValue}`;
      if (reason === undefined && !Number.isFinite(finite)) {
        reason = 'the gradient has NaN or ±∞ entries';
      }
      const applied = reason === undefined;
      if (applied) {
        const named: tf.NamedTensorMap = {};
        this.variables.forEach((v, k) => {
          named[v.name] = composite![k]!;
        });
        this.base.applyGradients(named);
      } else {
        stateBefore.restore();
      }
      const stats: StepStats = {
        step: this.counters.steps + 1,
        loss: lossValue!,
        perturbedLosses: result.perturbedLosses,
        sharpness: result.sharpness,
        gradientEvaluations: this.counters.gradientEvaluations - evaluationsBefore,
        applied,
        clipped: result.clipped,
        nonFinite: !applied,
        ...(reason !== undefined && {
          reason: `${this.name}: step refused, ${reason}; weights unchanged (lower the learning rate or rho, or check the data).`,
        }),
      };
      this.count(stats);
      return stats;
    } catch (error) {
      stateBefore.restore();
      throw error;
    } finally {
      if (composite !== clean?.gradient) disposeAll(composite);
      if (clean) {
        clean.loss.dispose();
        disposeAll(clean.gradient);
      }
      stateBefore.dispose();
    }
  }

  /** Disposes the base optimizer's slots. The variables stay (they belong to the caller). */
  dispose(): void {
    this.base.dispose();
  }

  /**
   * L and ∇L at the variables' current values; a missing gradient (unused
   * variable) is zero. `count: false` keeps it out of the step statistics.
   */
  protected evaluate(loss: LossClosure, count = true): Evaluation {
    const checked = () => {
      const y = loss();
      if (!(y instanceof tf.Tensor) || y.rank !== 0 || y.dtype !== 'float32') {
        const got =
          y instanceof tf.Tensor ? `a ${y.dtype} tensor of shape [${y.shape}]` : String(y);
        throw new OptimizerError(
          `${this.name}: the loss closure must return a float32 scalar tf.Tensor, got ${got}; reduce it with tf.mean.`,
        );
      }
      return y as tf.Scalar;
    };
    let out: { value: tf.Scalar; grads: tf.NamedTensorMap };
    try {
      out = tf.variableGrads(checked, this.variables as tf.Variable[]);
    } catch (error) {
      if (error instanceof Error && /connection between any variable/.test(error.message)) {
        throw new OptimizerError(
          `${this.name}: the loss does not depend on any of the variables being trained; build the loss from the model or params you passed.`,
        );
      }
      throw error;
    }
    if (count) this.counters.gradientEvaluations++;
    return {
      loss: out.value,
      gradient: this.variables.map((v) => out.grads[v.name] ?? tf.zerosLike(v)),
    };
  }

  /**
   * The variant's passes, with the variables and state restored afterwards;
   * `cleanWeighted` tells whether its g holds ∇L(x) with a non-zero weight.
   */
  private async perturbedFrom(
    clean: Evaluation,
    loss: LossClosure,
  ): Promise<{ result: PerturbedResult; cleanWeighted: boolean }> {
    let cleanWeighted = false;
    const origin = new Snapshot(this.variables);
    const afterClean = new Snapshot(this.state);
    try {
      const result = await this.perturbed({
        origin: origin.values,
        clean,
        evaluateAt: (e) => {
          tf.tidy(() => {
            this.variables.forEach((v, k) => {
              v.assign(tf.add(origin.values[k]!, e[k]!));
            });
          });
          afterClean.restore();
          return this.evaluate(loss);
        },
        // Weight decay at x, the saved origin: the variables may still hold x + e here.
        combine: (terms) => {
          cleanWeighted = terms.some((t) => t.gradient === clean.gradient && t.weight !== 0);
          return this.combine(terms, origin.values);
        },
      });
      return { result, cleanWeighted };
    } finally {
      // Restore by assignment, never by subtracting e: the bits come back exactly.
      origin.restore();
      afterClean.restore();
      origin.dispose();
      afterClean.dispose();
    }
  }

  private combine(terms: readonly WeightedGradient[], origin: readonly tf.Tensor[]): tf.Tensor[] {
    return tf.tidy(() =>
      origin.map((x, k) => {
        const parts = terms
          .filter(({ weight }) => weight !== 0)
          .map(({ gradient, weight }) =>
            weight === 1 ? gradient[k]! : tf.mul(gradient[k]!, weight),
          );
        if (this.weightDecay !== 0) parts.push(tf.mul(x, this.weightDecay));
        if (parts.length === 0) return tf.zerosLike(x);
        // A lone term is returned as a new tensor, so the caller may dispose the terms.
        return parts.length === 1 ? tf.clone(parts[0]!) : tf.addN(parts);
      }),
    );
  }

  private count(stats: StepStats) {
    const c = this.counters;
    c.steps++;
    if (stats.applied) c.applied++;
    else c.refused++;
    if (stats.nonFinite) c.nonFinite++;
    c.clipped += stats.clipped;
  }
}

/**
 * A finite number when every entry is finite, NaN or ±∞ otherwise: one sum per
 * tensor (a non-finite entry makes it non-finite). It also trips when the
 * entries are finite but sum past float32's 3.4e38, a step no one wants applied.
 */
function finiteProbe(gradient: readonly tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => tf.addN(gradient.map((g) => tf.sum(g))) as tf.Scalar);
}
