import * as tf from '@tensorflow/tfjs-core';
import { OptimizerError, requireInteger, requireNumber, withDefaults } from './errors';
import {
  type LossClosure,
  type OptimizerOptions,
  type PassContext,
  type PerturbedResult,
  readScalars,
  SharpnessAwareOptimizer,
} from './sharpness-aware';
import { Snapshot } from './variables';

/** Added to the norms SAM-type perturbations divide by (SPEC §3). */
export const NORM_EPSILON = 1e-12;

/** Options of the first-order ascent baselines. */
export interface AscentOptions extends OptimizerOptions {
  /** ρ ≥ 0, the ascent radius; ρ = 0 is the base optimizer exactly. */
  readonly rho?: number;
  /**
   * λ ≥ 0: g = ∇L(x) + λ(∇L(x + e) − ∇L(x)). The default 1 is the method as
   * published (the gradient at x + e replaces ∇L(x)); λ = 0 is the base optimizer.
   */
  readonly lambda?: number;
}

const globalNorm = (tensors: readonly tf.Tensor[]) =>
  tf.sqrt(tf.addN(tensors.map((t) => tf.sum(tf.square(t)))));

/**
 * First-order worst-case ascent (SAM and its variants): one extra gradient at
 * x + e, where e is built from ∇L(x). Subclasses say what e is.
 */
export abstract class AscentSam extends SharpnessAwareOptimizer {
  readonly rho: number;

  protected constructor(options: AscentOptions, defaultRho: number, where: string) {
    const o = withDefaults({ rho: defaultRho, lambda: 1 }, options);
    super(o, o.lambda!, where);
    this.rho = requireNumber(where, 'rho (ρ)', o.rho, { min: 0 });
  }

  protected get plain(): boolean {
    return this.lambda === 0 || this.rho === 0;
  }

  /** The perturbation e from x and ∇L(x); called inside tf.tidy. */
  protected abstract ascent(
    origin: readonly tf.Tensor[],
    gradient: readonly tf.Tensor[],
  ): tf.Tensor[];

  protected async perturbed(context: PassContext): Promise<PerturbedResult> {
    const e = tf.tidy(() => this.ascent(context.origin, context.clean.gradient));
    let evaluation: ReturnType<PassContext['evaluateAt']>;
    try {
      evaluation = context.evaluateAt(e);
    } finally {
      for (const t of e) t.dispose();
    }
    const [clean, perturbed] = await readScalars([context.clean.loss, evaluation.loss]);
    evaluation.loss.dispose();
    // g = (1 − λ)∇L(x) + λ∇L(x + e); λ = 1 (SAM as published) takes ∇L(x + e) as is.
    const gradient = context.combine([
      { gradient: context.clean.gradient, weight: 1 - this.lambda },
      { gradient: evaluation.gradient, weight: this.lambda },
    ]);
    for (const t of evaluation.gradient) t.dispose();
    return {
      gradient,
      perturbedLosses: [perturbed!],
      sharpness: perturbed! - clean!,
      clipped: 0,
    };
  }
}

/**
 * SAM (Foret et al., 2021): e = ρ·g/(‖g‖ + 1e-12), with the norm over all
 * parameters together. Default ρ = 0.05. Cost 2 gradients.
 */
export class Sam extends AscentSam {
  readonly name = 'sam';

  constructor(options: AscentOptions) {
    super(options, 0.05, 'sam');
  }

  protected ascent(_origin: readonly tf.Tensor[], g: readonly tf.Tensor[]): tf.Tensor[] {
    const scale = tf.div(this.rho, tf.add(globalNorm(g), NORM_EPSILON));
    return g.map((gk) => tf.mul(gk, scale));
  }
}

/** Options of ASAM. */
export interface AsamOptions extends AscentOptions {
  /** η > 0 in T = |x| + η. Default 0.01. */
  readonly eta?: number;
}

/**
 * ASAM (Kwon et al., 2021), adaptive SAM: T = |x| + η elementwise and
 * e = ρ·T²g/(‖Tg‖ + 1e-12). Defaults ρ = 0.5, η = 0.01. Cost 2 gradients.
 */
export class Asam extends AscentSam {
  readonly name = 'asam';
  readonly eta: number;

  constructor(options: AsamOptions) {
    super(options, 0.5, 'asam');
    this.eta = requireNumber('asam', 'eta (η)', options.eta ?? 0.01, { min: 0, strict: true });
  }

  protected ascent(x: readonly tf.Tensor[], g: readonly tf.Tensor[]): tf.Tensor[] {
    const t = x.map((xk) => tf.add(tf.abs(xk), this.eta));
    const tg = g.map((gk, k) => tf.mul(t[k]!, gk));
    const scale = tf.div(this.rho, tf.add(globalNorm(tg), NORM_EPSILON));
    return tg.map((tgk, k) => tf.mul(tf.mul(t[k]!, tgk), scale));
  }
}

/**
 * Per-example loss closures for SSAM-F's Fisher information: `count` closures,
 * each the loss of one training example, for the given epoch (so a provider can
 * pick a fresh random subset each time).
 */
export type ExampleLosses = (count: number, epoch: number) => Iterable<LossClosure>;

/** Options of SSAM-F. */
export interface SsamOptions extends AscentOptions {
  /** The per-example losses the Fisher mask is computed from. Required. */
  readonly fisherLosses: ExampleLosses;
  /** Fraction of parameters NOT perturbed, in [0, 1). Default 0.5. */
  readonly sparsity?: number;
  /** Examples summed into the empirical Fisher information. Default 16. */
  readonly numSamples?: number;
  /** Recompute the mask every this many epochs (pass `epoch` to `step`). Default 1. */
  readonly updateFreq?: number;
}

/**
 * SSAM-F (Mi et al., 2022), sparse SAM with a Fisher mask: SAM's e restricted
 * to the (1 − sparsity) share of parameters with the largest empirical Fisher
 * information Σ_j (∂L_j/∂x)² over `numSamples` single examples. As in the
 * reference code, e = mask ⊙ ρg/(‖g‖ + 1e-12) (the norm of the whole
 * gradient). The mask is recomputed every `updateFreq` epochs, as told by
 * `step(loss, { epoch })`; without epochs it is computed once. Defaults
 * ρ = 0.1, sparsity 0.5, numSamples 16, updateFreq 1. Cost 2 gradients per
 * step, plus numSamples per mask.
 */
export class SsamF extends AscentSam {
  readonly name = 'ssamF';
  readonly sparsity: number;
  readonly numSamples: number;
  readonly updateFreq: number;
  private readonly fisherLosses: ExampleLosses;
  private mask: tf.Tensor[] | undefined;
  private maskEpoch = Number.NEGATIVE_INFINITY;
  /** Gradient evaluations spent on Fisher masks (not counted in step statistics). */
  fisherEvaluations = 0;

  constructor(options: SsamOptions) {
    super(options, 0.1, 'ssamF');
    const where = 'ssamF';
    if (typeof options.fisherLosses !== 'function') {
      throw new OptimizerError(
        `${where}: needs fisherLosses: (count, epoch) => per-example loss closures, for the Fisher mask.`,
      );
    }
    this.fisherLosses = options.fisherLosses;
    this.sparsity = requireNumber(where, 'sparsity', options.sparsity ?? 0.5, { min: 0 });
    if (this.sparsity >= 1) {
      throw new OptimizerError(
        `${where}: sparsity must be in [0, 1) (the share of parameters left unperturbed), got ${this.sparsity}.`,
      );
    }
    this.numSamples = requireInteger(where, 'numSamples', options.numSamples ?? 16, 1);
    this.updateFreq = requireInteger(where, 'updateFreq', options.updateFreq ?? 1, 1);
  }

  /** The current mask (1 = perturbed), one tensor per variable; undefined before the first step. */
  get currentMask(): readonly tf.Tensor[] | undefined {
    return this.mask;
  }

  protected override async prepare(epoch: number | undefined): Promise<void> {
    if (this.plain) return;
    const due =
      this.mask === undefined || (epoch !== undefined && epoch - this.maskEpoch >= this.updateFreq);
    if (!due) return;
    await this.updateMask(epoch ?? 0);
  }

  /** Recomputes the Fisher mask now, from `numSamples` examples of `fisherLosses`. */
  async updateMask(epoch = 0): Promise<void> {
    const state = new Snapshot(this.state);
    let fisher: tf.Tensor[] = this.variables.map((v) => tf.zerosLike(v));
    try {
      let used = 0;
      for (const loss of this.fisherLosses(this.numSamples, epoch)) {
        if (used === this.numSamples) break;
        const { loss: value, gradient } = this.evaluate(loss, false);
        this.fisherEvaluations++;
        const next = tf.tidy(() => fisher.map((f, k) => tf.add(f, tf.square(gradient[k]!))));
        for (const t of [value, ...gradient, ...fisher]) t.dispose();
        fisher = next;
        used++;
      }
      if (used === 0) {
        throw new OptimizerError(
          'ssamF: fisherLosses gave no example losses; return numSamples per-example loss closures.',
        );
      }
      const mask = await topShareMask(fisher, 1 - this.sparsity);
      for (const t of this.mask ?? []) t.dispose();
      this.mask = mask;
      this.maskEpoch = epoch;
    } finally {
      for (const t of fisher) t.dispose();
      state.restore();
      state.dispose();
    }
  }

  protected ascent(_origin: readonly tf.Tensor[], g: readonly tf.Tensor[]): tf.Tensor[] {
    const scale = tf.div(this.rho, tf.add(globalNorm(g), NORM_EPSILON));
    return g.map((gk, k) => tf.mul(tf.mul(gk, scale), this.mask![k]!));
  }

  override dispose(): void {
    for (const t of this.mask ?? []) t.dispose();
    this.mask = undefined;
    super.dispose();
  }
}

/**
 * 0/1 masks keeping exactly round(share·d) entries with the largest values over
 * all tensors together; ties at the threshold go to the earliest entries.
 */
export async function topShareMask(
  values: readonly tf.Tensor[],
  share: number,
): Promise<tf.Tensor[]> {
  const parts = await Promise.all(values.map((t) => t.data() as Promise<Float32Array>));
  const d = parts.reduce((n, p) => n + p.length, 0);
  const keep = Math.round(share * d);
  const flat = new Float32Array(d);
  let offset = 0;
  for (const p of parts) {
    flat.set(p, offset);
    offset += p.length;
  }
  const sorted = flat.slice().sort();
  const threshold = keep === 0 ? Number.POSITIVE_INFINITY : sorted[d - keep]!;
  let above = 0;
  for (const x of flat) if (x > threshold) above++;
  let ties = keep - above;
  const out = new Float32Array(d);
  flat.forEach((x, i) => {
    if (x > threshold || (x === threshold && ties-- > 0)) out[i] = 1;
  });
  offset = 0;
  return values.map((t) => {
    const part = out.subarray(offset, offset + t.size);
    offset += t.size;
    return tf.keep(tf.tensor(part, t.shape, 'float32'));
  });
}

/** SAM (Foret et al.): `new Sam(options)`. */
export const sam = (options: AscentOptions): Sam => new Sam(options);
/** ASAM (Kwon et al.): `new Asam(options)`. */
export const asam = (options: AsamOptions): Asam => new Asam(options);
/** SSAM-F (Mi et al.): `new SsamF(options)`. */
export const ssamF = (options: SsamOptions): SsamF => new SsamF(options);
