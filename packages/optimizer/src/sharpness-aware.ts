import * as tf from '@tensorflow/tfjs-core';
import { createRng, type SeededRng, tensorList } from '@usam/measures';
import { OptimizerError, requireInteger, requireNumber } from './errors';
import { checkState, type NamedState, type OptimizerState } from './state';
import {
  alignSlots,
  hold,
  type Parameter,
  type Parameters,
  resolveParameters,
  Snapshot,
} from './variables';

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

/** Options every variant takes (SPEC §4). */
export interface OptimizerOptions {
  /**
   * What to train: `tf.Variable`s, tfjs-layers weights, or a tfjs-layers model.
   * A model's trainable weights are read at every step, so freezing a layer
   * stops its training and unfreezing restarts it.
   */
  readonly params: Parameters;
  /**
   * Non-trainable state the loss closure writes (BatchNorm running statistics).
   * Perturbed passes must not change it, so it is snapshotted and restored.
   * Defaults to a model's current `nonTrainableWeights`, or none for a list.
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
  /**
   * λ ≥ 0, the weight of the sharpness term: g = ∇L + λ·r with r the variant's
   * regulariser gradient (L + λρ²R_ρ for the (φ, ψ, μ) family, SPEC §3;
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

/** The option names every factory accepts, besides its own. */
export const ENGINE_OPTIONS = [
  'params',
  'state',
  'base',
  'weightDecay',
  'lambda',
  'seed',
  'mSharpness',
  'clipNorm',
] as const;

/** Per-step statistics (SPEC §4). */
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
   * Sets the variables to x + e (non-trainable state as after the clean pass)
   * and evaluates L and ∇L there. The engine owns the result: don't dispose it.
   */
  evaluateAt(e: readonly tf.Tensor[]): Evaluation;
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

/** The composite terms of one part and what to dispose with them. */
interface Part {
  readonly terms: tensorList.Term[];
  readonly owned: tf.Tensor[];
  /** L(x) on this part, read back with the step's last download. */
  readonly cleanLoss: tf.Scalar;
  /** L at the perturbed points. */
  readonly losses: number[];
  readonly sharpness: number | null;
  readonly clipped: number;
  readonly problem?: string;
  readonly probes: tf.Scalar[];
}

/** |λc| above this makes the engine check the update against float32's range. */
const LARGE_WEIGHT = 1e4;
/** float32's largest finite value. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * The one step engine (SPEC §4) every variant runs on: for each part of the
 * batch a clean pass, the perturbation's passes with weights and state
 * restored by assignment afterwards (also when the loss throws), the composite
 * g = ∇L + λ·r averaged over the parts, clipping, coupled weight decay, a
 * finiteness check that refuses bad steps instead of applying them, and the
 * base step. The step is synchronous inside (one read-back per part), which is
 * what `model.fit`'s `minimize` needs; `step` returns a promise for symmetry
 * with the rest of the API.
 */
export class SharpnessAwareOptimizer<
  P extends Perturbation | undefined = Perturbation | undefined,
> {
  readonly name: string;
  readonly base: tf.Optimizer;
  readonly weightDecay: number;
  readonly lambda: number;
  readonly mSharpness: number;
  readonly clipNorm: number | undefined;
  /** The strategy; undefined for the base optimizer alone. */
  readonly perturbation: P;
  readonly counters: Counters = {
    steps: 0,
    applied: 0,
    refused: 0,
    nonFinite: 0,
    clipped: 0,
    gradientEvaluations: 0,
  };
  private readonly params: Parameters;
  private readonly stateOption: readonly Parameter[] | undefined;
  private readonly rng: SeededRng;
  private readonly where: string;

  constructor(name: string, options: OptimizerOptions, perturbation: P) {
    const where = name;
    const base = options.base as tf.Optimizer | undefined;
    // Duck-typed: a second copy of tfjs-core would fail an instanceof check.
    if (typeof base?.applyGradients !== 'function') {
      throw new OptimizerError(
        `${where}: base must be a tfjs optimizer, e.g. base: tf.train.momentum(0.1, 0.9).`,
      );
    }
    this.name = name;
    this.where = where;
    this.params = options.params;
    this.stateOption = options.state;
    resolveParameters(this.params, this.stateOption, where); // fail now, not at the first step
    this.base = base;
    this.perturbation = perturbation;
    this.lambda = requireNumber(where, 'lambda (λ)', options.lambda ?? 1, { min: 0 });
    this.weightDecay = requireNumber(where, 'weightDecay', options.weightDecay ?? 0, { min: 0 });
    this.mSharpness = requireInteger(where, 'mSharpness', options.mSharpness ?? 1, 1);
    this.clipNorm =
      options.clipNorm === undefined
        ? undefined
        : requireNumber(where, 'clipNorm', options.clipNorm, { min: 0, strict: true });
    this.rng = createRng(options.seed ?? 0);
  }

  /** The variables trained now: a model's current trainable weights, or the list given. */
  get variables(): tf.Variable[] {
    return resolveParameters(this.params, this.stateOption, this.where).variables;
  }

  /** The non-trainable state restored around perturbed passes (a model's current non-trainable weights). */
  get state(): tf.Variable[] {
    return resolveParameters(this.params, this.stateOption, this.where).state;
  }

  /** The base optimizer's learning rate. */
  get learningRate(): number {
    return (this.base as unknown as { learningRate: number }).learningRate;
  }

  /** Sets the base optimizer's learning rate (for schedules: `opt.setLearningRate(schedule(epoch))`). */
  setLearningRate(lr: number): void {
    requireNumber(`${this.name}.setLearningRate`, 'the learning rate', lr, { min: 0 });
    const base = this.base as unknown as {
      learningRate: number;
      setLearningRate?: (lr: number) => void;
    };
    // SGD and momentum keep a tensor of −lr, refreshed by their own setter.
    if (typeof base.setLearningRate === 'function') base.setLearningRate(lr);
    else base.learningRate = lr;
  }

  /**
   * One optimisation step on the minibatch that `loss` evaluates. Returns the
   * step's statistics; when a loss or the composite gradient is not finite the
   * step is refused (weights, state and the base optimizer untouched) and
   * reported, never applied.
   *
   * @param options.epoch the current epoch, for variants that refresh per epoch (SSAM-F).
   */
  async step(loss: LossClosure, options: { epoch?: number } = {}): Promise<StepStats> {
    return this.stepNow(loss, options.epoch);
  }

  /** `step`, synchronously (what `model.fit`'s `minimize` needs). */
  stepNow(loss: LossClosure, epoch?: number, variables?: readonly tf.Variable[]): StepStats {
    if (typeof loss !== 'function') {
      throw new OptimizerError(
        `${this.name}.step: pass a loss closure, e.g. step(() => tf.losses.softmaxCrossEntropy(ys, model.predict(xs))).`,
      );
    }
    const resolved = resolveParameters(this.params, this.stateOption, this.where);
    const trained = variables ? [...variables] : resolved.variables;
    const release = hold([...trained, ...resolved.state], this.name);
    try {
      alignSlots(
        this.base,
        trained.map((v) => v.name),
      );
      return this.guardedStep(loss, epoch, trained, resolved.state);
    } finally {
      release();
    }
  }

  private get plain(): boolean {
    return this.perturbation === undefined || this.perturbation.idle === true || this.lambda === 0;
  }

  private guardedStep(
    loss: LossClosure,
    epoch: number | undefined,
    variables: tf.Variable[],
    state: tf.Variable[],
  ): StepStats {
    const stateBefore = new Snapshot(state);
    const evaluationsBefore = this.counters.gradientEvaluations;
    // The point x, saved where passes move the variables (a plain step leaves them at x).
    const saved = this.plain ? undefined : new Snapshot(variables);
    const x: readonly tf.Tensor[] = saved?.values ?? variables;
    let composite: tf.Tensor[] | undefined;
    const parts: Part[] = [];
    try {
      if (!this.plain && this.perturbation?.prepare) {
        this.perturbation.prepare({
          variables,
          epoch,
          gradient: (l) => this.evaluate(l, variables, false),
        });
        stateBefore.restore();
      }
      const m = this.mSharpness;
      for (let index = 0; index < m; index++) {
        const part = batchPart(index, m);
        const closure = () => loss(part);
        const last = index === m - 1;
        const done = this.part(closure, variables, state, x);
        parts.push(done);
        // Accumulate (1/m)·Σ terms, weight decay in the last pass unless clipping comes first.
        const terms = done.terms.map((t) => ({ ...t, weight: t.weight / m }));
        if (composite) terms.push({ tensors: composite, weight: 1 });
        if (last && this.weightDecay !== 0 && this.clipNorm === undefined) {
          terms.push({ tensors: x, weight: this.weightDecay });
        }
        const next = takeOver(terms, done.owned) ?? tensorList.linearCombination(terms, x);
        tensorList.dispose(composite);
        tensorList.dispose(done.owned.filter((t) => !next.includes(t)));
        composite = next;
        if (done.problem) break;
      }
      if (this.clipNorm !== undefined) composite = this.clip(composite!, x);
      const problem = parts.find((p) => p.problem)?.problem;
      const probe = tf.tidy(() =>
        tf.addN([tensorList.sum(composite!), ...parts.flatMap((p) => p.probes)]),
      );
      const [finite, ...cleanLosses] = readNumbers([
        probe as tf.Scalar,
        ...parts.map((p) => p.cleanLoss),
      ]);
      probe.dispose();
      const lossValue = cleanLosses.reduce((a, b) => a + b, 0) / cleanLosses.length;
      let reason = problem;
      if (reason === undefined && !cleanLosses.every(Number.isFinite)) {
        reason = `the loss is ${lossValue}`;
      }
      if (reason === undefined && !Number.isFinite(finite)) {
        reason = 'the gradient has NaN or ±∞ entries';
      }
      const applied = reason === undefined;
      if (applied) {
        const named: tf.NamedTensorMap = {};
        variables.forEach((v, k) => {
          named[v.name] = composite![k]!;
        });
        this.base.applyGradients(named);
      } else {
        saved?.restore();
        stateBefore.restore();
      }
      const sharpnesses = parts.map((p) => p.sharpness);
      const stats: StepStats = {
        step: this.counters.steps + 1,
        loss: lossValue,
        perturbedLosses: parts.flatMap((p) => p.losses),
        sharpness: sharpnesses.includes(null)
          ? null
          : (sharpnesses as number[]).reduce((a, b) => a + b, 0) / sharpnesses.length,
        gradientEvaluations: this.counters.gradientEvaluations - evaluationsBefore,
        applied,
        clipped: parts.reduce((n, p) => n + p.clipped, 0),
        nonFinite: !applied,
        ...(reason !== undefined && {
          reason: `${this.name}: step refused, ${reason}; weights unchanged (lower the learning rate or rho, or check the data).`,
        }),
      };
      this.count(stats);
      return stats;
    } catch (error) {
      saved?.restore();
      stateBefore.restore();
      throw error;
    } finally {
      tensorList.dispose(composite);
      for (const p of parts) {
        tensorList.dispose([...p.owned, ...p.probes, p.cleanLoss]);
      }
      saved?.dispose();
      stateBefore.dispose();
    }
  }

  /** One part: the clean pass, the perturbation's passes, the terms of g = ∇L + λr. */
  private part(
    loss: () => tf.Scalar,
    variables: tf.Variable[],
    state: tf.Variable[],
    origin: readonly tf.Tensor[],
  ): Part {
    const clean = this.evaluate(loss, variables);
    const owned: tf.Tensor[] = [...clean.gradient];
    const cleanLoss = clean.loss;
    if (this.plain) {
      return {
        terms: [{ tensors: clean.gradient, weight: 1 }],
        owned,
        cleanLoss,
        losses: [],
        sharpness: null,
        clipped: 0,
        probes: [],
      };
    }
    const evaluations: Evaluation[] = [];
    const afterClean = new Snapshot(state);
    let read: { clean: number; perturbed: number[] } | undefined;
    try {
      const result = this.perturbation!.perturb({
        origin,
        clean,
        shapes: variables.map((v) => [...v.shape]),
        rng: this.rng,
        evaluateAt: (e) => {
          tf.tidy(() => {
            variables.forEach((v, k) => {
              v.assign(tf.add(origin[k]!, e[k]!));
            });
          });
          afterClean.restore();
          const evaluation = this.evaluate(loss, variables);
          evaluations.push(evaluation);
          owned.push(evaluation.loss, ...evaluation.gradient);
          read = undefined;
          return evaluation;
        },
        losses: () => {
          if (!read) {
            const [c, ...p] = readNumbers([clean.loss, ...evaluations.map((e) => e.loss)]);
            read = { clean: c!, perturbed: p };
          }
          return read;
        },
      });
      const { clean: cleanValue, perturbed: losses } = read ?? this.readLosses(clean, evaluations);
      const { coefficients, sharpness } = result;
      let problem = result.problem;
      if (problem === undefined && ![cleanValue, ...losses].every(Number.isFinite)) {
        problem = 'a loss is NaN or ±∞';
      }
      if (problem === undefined && coefficients.some(Number.isNaN)) {
        problem = `the ${this.perturbation!.name} coefficients are NaN`;
      }
      if (problem !== undefined || coefficients.length !== evaluations.length) {
        if (problem === undefined) {
          throw new OptimizerError(
            `${this.name}: perturbation '${this.perturbation!.name}' gave ${coefficients.length} coefficients for ${evaluations.length} perturbed gradients; give one per evaluateAt call.`,
          );
        }
        return { terms: [], owned, cleanLoss, losses, sharpness, clipped: 0, problem, probes: [] };
      }
      const combined = this.regularised(clean, evaluations, coefficients, owned);
      // Where ∇L(x) is not in g (SAM: weight 1 − λ = 0), its finiteness is checked on its own.
      const cleanInG = combined.terms.some((t) => t.tensors === clean.gradient && t.weight !== 0);
      const probes = cleanInG ? [] : [tf.keep(tensorList.sum(clean.gradient))];
      return { ...combined, owned, cleanLoss, losses, sharpness, probes };
    } catch (error) {
      tensorList.dispose([...owned, cleanLoss]);
      throw error;
    } finally {
      // Restore by assignment, never by subtracting e: the bits come back exactly.
      variables.forEach((v, k) => {
        v.assign(origin[k]!);
      });
      afterClean.restore();
      afterClean.dispose();
    }
  }

  private readLosses(clean: Evaluation, evaluations: readonly Evaluation[]) {
    const [c, ...p] = readNumbers([clean.loss, ...evaluations.map((e) => e.loss)]);
    return { clean: c!, perturbed: p };
  }

  /**
   * The terms of g = ∇L + λΣ_j c_j(∇L_j − ∇L) = (1 − λΣc)∇L + Σ_j λc_j∇L_j. Where
   * some |λc_j| is large, in the difference form, with each λc_j clipped (and
   * counted) only as far as keeps |λc_j|·max|∇L_j − ∇L| inside float32.
   */
  private regularised(
    clean: Evaluation,
    evaluations: readonly Evaluation[],
    coefficients: readonly number[],
    owned: tf.Tensor[],
  ): { terms: tensorList.Term[]; clipped: number } {
    const weights = coefficients.map((c) => this.lambda * c);
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

  /** g·min(1, c/‖g‖), then + wd·x. */
  private clip(g: tf.Tensor[], origin: readonly tf.Tensor[]): tf.Tensor[] {
    const c = this.clipNorm!;
    const out = tf.tidy(() => {
      const factor = tf.div(c, tf.maximum(tensorList.norm(g), c)) as tf.Scalar;
      return g.map((gk, k) => {
        const scaled = tf.mul(gk, factor);
        return this.weightDecay === 0
          ? scaled
          : tf.add(scaled, tf.mul(origin[k]!, this.weightDecay));
      });
    });
    tensorList.dispose(g);
    return out;
  }

  /**
   * A copy of everything needed to continue bit for bit (`OptimizerState`):
   * the base optimizer's slots, the stream's position, the perturbation's
   * state, the learning rate and the counters. Serialise it with
   * `encodeOptimizerState`; dispose it with `disposeOptimizerState`.
   */
  async getState(): Promise<OptimizerState> {
    const names = this.variables.map((v) => v.name);
    // Slots in position order, with no holes (tfjs's getWeights reads them all).
    alignSlots(this.base, names, true);
    const weights = await this.base.getWeights();
    const tensors: NamedState[] = weights.map(({ name, tensor }) => {
      if (name === 'iter') return { name: 'base/iter', tensor }; // a fresh scalar: ours
      const cut = name.lastIndexOf('/');
      const i = names.indexOf(name.slice(0, cut));
      const key = i >= 0 ? `base/${i}/${name.slice(cut + 1)}` : `base/@${name}`;
      return { name: key, tensor: tensor.clone() };
    });
    const own = this.perturbation?.getState?.();
    tensors.push(
      ...(own?.tensors ?? []).map((tensor, k) => ({ name: `perturbation/${k}`, tensor })),
    );
    return {
      format: 'usam-optimizer-state',
      version: 1,
      optimizer: this.name,
      counters: { ...this.counters },
      learningRate: Number.isFinite(this.learningRate) ? this.learningRate : null,
      rng: this.rng.getState(),
      perturbation: own?.json ?? null,
      tensors,
    };
  }

  /**
   * Continues from a saved state, in this optimizer or a fresh one of the same
   * variant over the same architecture (the base's slots are matched to the
   * trained variables by position). The state's tensors are copied: the caller
   * keeps (and disposes) its own.
   */
  async setState(state: OptimizerState): Promise<void> {
    const where = `${this.name}.setState`;
    checkState(state, where);
    if (state.optimizer !== this.name) {
      throw new OptimizerError(
        `${where}: the state was saved by '${state.optimizer}', not '${this.name}'; restore it into the same variant.`,
      );
    }
    const names = this.variables.map((v) => v.name);
    const base: { name: string; tensor: tf.Tensor }[] = [];
    for (const { name, tensor } of state.tensors) {
      if (!name.startsWith('base/')) continue;
      const key = name.slice('base/'.length);
      if (key === 'iter') base.unshift({ name: 'iter', tensor });
      else if (key.startsWith('@')) base.push({ name: key.slice(1), tensor });
      else {
        const cut = key.indexOf('/');
        const owner = names[Number(key.slice(0, cut))];
        if (owner === undefined) {
          throw new OptimizerError(
            `${where}: the state has slots for variable ${key.slice(0, cut)} but ${names.length} variables are trained; restore into the same architecture.`,
          );
        }
        base.push({ name: `${owner}/${key.slice(cut + 1)}`, tensor });
      }
    }
    const old = await this.base.getWeights();
    await this.base.setWeights(base);
    // tfjs's setWeights copies into new slot variables and keeps the old ones alive.
    for (const { tensor } of old) tensor.dispose();
    Object.assign(this.counters, state.counters);
    this.rng.setState(state.rng);
    if (state.learningRate !== null) this.setLearningRate(state.learningRate);
    if (this.perturbation?.setState && state.perturbation !== null) {
      this.perturbation.setState({
        json: state.perturbation,
        tensors: state.tensors
          .filter((t) => t.name.startsWith('perturbation/'))
          .map((t) => t.tensor),
      });
    }
  }

  /** Disposes the base optimizer's slots and the perturbation's state. The variables stay (they belong to the caller). */
  dispose(): void {
    this.perturbation?.dispose?.();
    // tfjs 4.22's MomentumOptimizer.dispose skips SGD's own: the −lr scalar `c` would stay.
    const c = (this.base as unknown as { c?: tf.Tensor }).c;
    this.base.dispose();
    if (c instanceof tf.Tensor && !c.isDisposed) c.dispose();
  }

  /**
   * L and ∇L at the variables' current values; a missing gradient (unused
   * variable) is zero. `count: false` keeps it out of the step statistics.
   */
  private evaluate(loss: () => tf.Scalar, variables: tf.Variable[], count = true): Evaluation {
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
      out = tf.variableGrads(checked, variables);
    } catch (error) {
      if (error instanceof Error && /connection between any variable/.test(error.message)) {
        throw new OptimizerError(
          `${this.name}: the loss does not depend on any of the variables being trained; build the loss from the model or params you passed.`,
          { cause: error },
        );
      }
      throw error;
    }
    if (count) this.counters.gradientEvaluations++;
    return {
      loss: out.value,
      gradient: variables.map((v) => out.grads[v.name] ?? tf.zerosLike(v)),
    };
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
 * The tensors of the one live term when g is exactly one gradient the step
 * owns (a plain step without weight decay, SAM with λ = 1): taken over as g
 * instead of copied (a clone copies the data on wasm). Undefined otherwise.
 */
function takeOver(
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

/** Part `index` of `count` of a batch, cut along its first axis. */
export function batchPart(index: number, count: number): BatchPart {
  return {
    index,
    count,
    slice<T extends tf.Tensor>(batch: T): T {
      if (count === 1) return batch;
      if (!(batch instanceof tf.Tensor) || batch.rank < 1) {
        throw new OptimizerError(
          `mSharpness: part.slice needs a tensor whose first axis is the batch, got ${batch instanceof tf.Tensor ? `a scalar` : typeof batch}.`,
        );
      }
      const n = batch.shape[0]!;
      if (n < count) {
        throw new OptimizerError(
          `mSharpness: a batch of ${n} cannot be split into ${count} parts; use a batch of at least mSharpness examples.`,
        );
      }
      const start = Math.floor((index * n) / count);
      const end = Math.floor(((index + 1) * n) / count);
      return tf.slice(batch, start, end - start) as T;
    },
  };
}
