import * as tf from '@tensorflow/tfjs-core';
import { createRng, type SeededRng, tensorList, variableGrads } from '@usam/measures';
import { applyBaseStep } from './base-step';
import { batchPart } from './batch-part';
import { clipAndDecay, readNumbers, regularised, takeOver } from './composite';
import { OptimizerError, requireInteger, requireNumber } from './errors';
import {
  checkState,
  decodeBaseSlots,
  decodePerturbationTensors,
  encodeBaseSlots,
  encodePerturbationTensors,
  type OptimizerState,
} from './state';
import type {
  Counters,
  Evaluation,
  LossClosure,
  OptimizerOptions,
  Perturbation,
  StepStats,
} from './types';
import {
  alignSlots,
  hold,
  type Parameter,
  type Parameters,
  preserveOption,
  resolveParameters,
  Snapshot,
} from './variables';

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

/**
 * The one step engine (docs/optimizer-semantics.md) every variant runs on: for each part of the
 * batch a clean pass, the perturbation's passes with weights and the preserved variables
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
    clipped: 0,
    gradientEvaluations: 0,
  };
  private readonly params: Parameters;
  private readonly preserveOption: readonly Parameter[] | undefined;
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
    this.preserveOption = preserveOption(options, where);
    resolveParameters(this.params, this.preserveOption, where); // fail now, not at the first step
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
    return resolveParameters(this.params, this.preserveOption, this.where).variables;
  }

  /** The variables restored around perturbed passes (`preserve`; a model's current non-trainable weights). */
  get preserve(): tf.Variable[] {
    return resolveParameters(this.params, this.preserveOption, this.where).preserve;
  }

  /** @deprecated The old name of `preserve` (docs/errors-and-vocabulary.md). */
  get state(): tf.Variable[] {
    return this.preserve;
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
   * step is refused (weights, preserved variables and the base optimizer untouched) and
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
    const resolved = resolveParameters(this.params, this.preserveOption, this.where);
    const trained = variables ? [...variables] : resolved.variables;
    const release = hold([...trained, ...resolved.preserve], this.name);
    try {
      alignSlots(
        this.base,
        trained.map((v) => v.name),
      );
      return this.guardedStep(loss, epoch, trained, resolved.preserve);
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
    preserve: tf.Variable[],
  ): StepStats {
    const preserved = new Snapshot(preserve);
    const evaluationsBefore = this.counters.gradientEvaluations;
    // The point x, saved where passes move the variables (a plain step leaves them at x).
    const saved = this.plain ? undefined : new Snapshot(variables);
    const x: readonly tf.Tensor[] = saved?.values ?? variables;
    let composite: tf.Tensor[] | undefined;
    // The count of g's NaN or ±∞ entries, where it came out of g's own pass.
    let compositeNonFinite: tf.Scalar | undefined;
    const parts: Part[] = [];
    try {
      if (!this.plain && this.perturbation?.prepare) {
        this.perturbation.prepare({
          variables,
          epoch,
          gradient: (l) => this.evaluate(l, variables, false),
        });
        preserved.restore();
      }
      const m = this.mSharpness;
      for (let index = 0; index < m; index++) {
        const part = batchPart(index, m);
        const closure = () => loss(part);
        const last = index === m - 1;
        const done = this.part(closure, variables, preserve, x);
        parts.push(done);
        // Accumulate (1/m)·Σ terms, weight decay in the last pass unless clipping comes first.
        const terms = done.terms.map((t) => ({ ...t, weight: t.weight / m }));
        if (composite) terms.push({ tensors: composite, weight: 1 });
        if (last && this.weightDecay !== 0 && this.clipNorm === undefined) {
          terms.push({ tensors: x, weight: this.weightDecay });
        }
        let next = takeOver(terms, done.owned);
        if (next === undefined && last && this.clipNorm === undefined) {
          // The final g: its finiteness counted in the same pass.
          const checked = tensorList.checkedCombination(terms, x);
          next = checked.sum;
          compositeNonFinite = checked.nonFinite;
        }
        next ??= tensorList.linearCombination(terms, x);
        tensorList.dispose(composite);
        tensorList.dispose(done.owned.filter((t) => !next.includes(t)));
        composite = next;
        if (done.problem) break;
      }
      if (this.clipNorm !== undefined) {
        composite = clipAndDecay(composite!, x, this.clipNorm, this.weightDecay);
      }
      const problem = parts.find((p) => p.problem)?.problem;
      // Per entry, never a sum: large finite entries of one sign would overflow one (docs/det-sam-stability.md).
      const probe = tf.tidy(() =>
        tf.addN([
          compositeNonFinite ?? tensorList.countNonFinite(composite!),
          ...parts.flatMap((p) => p.probes),
        ]),
      );
      const [nonFinite, ...cleanLosses] = readNumbers([
        probe as tf.Scalar,
        ...parts.map((p) => p.cleanLoss),
      ]);
      probe.dispose();
      const lossValue = cleanLosses.reduce((a, b) => a + b, 0) / cleanLosses.length;
      let reason = problem;
      if (reason === undefined && !cleanLosses.every(Number.isFinite)) {
        reason = `the loss is ${lossValue}`;
      }
      if (reason === undefined && nonFinite !== 0) {
        reason = 'the gradient has NaN or ±∞ entries';
      }
      const applied = reason === undefined;
      if (applied) {
        applyBaseStep(this.base, variables, composite!);
      } else {
        saved?.restore();
        preserved.restore();
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
      preserved.restore();
      throw error;
    } finally {
      tensorList.dispose(composite);
      compositeNonFinite?.dispose();
      for (const p of parts) {
        tensorList.dispose([...p.owned, ...p.probes, p.cleanLoss]);
      }
      saved?.dispose();
      preserved.dispose();
    }
  }

  /** One part: the clean pass, the perturbation's passes, the terms of g = ∇L + λr. */
  private part(
    loss: () => tf.Scalar,
    variables: tf.Variable[],
    preserve: tf.Variable[],
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
    const afterClean = new Snapshot(preserve);
    let read: { clean: number; perturbed: number[] } | undefined;
    try {
      const result = this.perturbation!.perturb({
        origin,
        clean,
        shapes: variables.map((v) => [...v.shape]),
        rng: this.rng,
        evaluateAt: (e, scale = 1) => {
          const s = requireNumber(`${this.name}: evaluateAt`, 'scale', scale);
          // x₀ + s·e in one list kernel where the backend has it (tensorList.add, axpy).
          const moved = s === 1 ? tensorList.add(origin, e) : tensorList.axpy(s, e, origin);
          variables.forEach((v, k) => {
            v.assign(moved[k]!);
          });
          tensorList.dispose(moved);
          afterClean.restore();
          const evaluation = this.evaluate(loss, variables);
          evaluations.push(evaluation);
          owned.push(evaluation.loss, ...evaluation.gradient);
          read = undefined;
          return evaluation;
        },
        losses: () => {
          read ??= readLosses(clean, evaluations);
          return read;
        },
      });
      const { clean: cleanValue, perturbed: losses } = read ?? readLosses(clean, evaluations);
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
      const combined = regularised(this.lambda, clean, evaluations, coefficients, owned);
      // Where ∇L(x) is not in g (SAM: weight 1 − λ = 0), its finiteness is checked on its own.
      const cleanInG = combined.terms.some((t) => t.tensors === clean.gradient && t.weight !== 0);
      const probes = cleanInG ? [] : [tf.keep(tensorList.countNonFinite(clean.gradient))];
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
    const tensors = encodeBaseSlots(await this.base.getWeights(), names);
    const own = this.perturbation?.getState?.();
    tensors.push(...encodePerturbationTensors(own?.tensors ?? []));
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
    const base = decodeBaseSlots(state, this.variables, where);
    const old = await this.base.getWeights();
    await this.base.setWeights(base);
    // tfjs's setWeights copies into new slot variables and keeps the old ones alive.
    for (const { tensor } of old) tensor.dispose();
    this.setRunState(state);
  }

  /**
   * `setState` less the base optimizer's slots, synchronously: the counters,
   * the stream's position, the learning rate and the perturbation's state.
   * For `asTfOptimizer`'s adapter rebuilt by tf.loadLayersModel, which restores
   * the slots before the variables are known (docs/optimizer-persistence.md).
   */
  setRunState(state: OptimizerState): void {
    for (const key of Object.keys(this.counters) as (keyof Counters)[]) {
      // Only the counters kept now (older states also carry `nonFinite`, always equal to `refused`).
      if (typeof state.counters[key] === 'number') this.counters[key] = state.counters[key];
    }
    this.rng.setState(state.rng);
    if (state.learningRate !== null) this.setLearningRate(state.learningRate);
    if (this.perturbation?.setState && state.perturbation !== null) {
      this.perturbation.setState({
        json: state.perturbation,
        tensors: decodePerturbationTensors(state),
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
      out = variableGrads(checked, variables);
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
    c.clipped += stats.clipped;
  }
}

/** L(x) and L at every perturbed point, in one download. */
function readLosses(clean: Evaluation, evaluations: readonly Evaluation[]) {
  const [c, ...p] = readNumbers([clean.loss, ...evaluations.map((e) => e.loss)]);
  return { clean: c!, perturbed: p };
}
