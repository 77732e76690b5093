import * as tf from '@tensorflow/tfjs-core';
import { createRng, defineMeasure, type Measure, type Rng, type Sampler } from '@usam/measures';
import { algorithm3, type CoefficientRule } from './coefficients';
import { OptimizerError, requireInteger, requireNumber } from './errors';
import {
  type Evaluation,
  type OptimizerOptions,
  type PassContext,
  type PerturbedResult,
  readScalars,
  SharpnessAwareOptimizer,
} from './sharpness-aware';

/** Options of Algorithm 3 for any measure. */
export interface UniversalSamOptions extends OptimizerOptions {
  /** The (φ, ψ, μ) triple (Definition 1), e.g. from @usam/measures' catalogue or `defineMeasure`. */
  readonly measure: Measure;
  /** ρ > 0, the perturbation radius: points x + ρv, and R_ρ divides by ρ² (Definition 2). */
  readonly rho: number;
  /** n ≥ 1, draws per distribution μ_ℓ per step (Algorithm 3). Default 1. */
  readonly samples?: number;
  /** λ ≥ 0 in L + λρ²R_ρ (SPEC §3). Default 1, the paper's objective exactly. */
  readonly lambda?: number;
  /** Seed of the perturbation draws; the same seed gives the same trajectory on cpu. Default 0. */
  readonly seed?: number | string;
  /**
   * Replaces every μ_ℓ of the measure (SPEC §4: μ is a parameter). Pass
   * @usam/measures' `fixed([...])` to inject known perturbations, or any
   * `Sampler` of your own.
   */
  readonly sampler?: Sampler;
  /** How the draws are weighed; default the general Algorithm 3 (eq. 94). */
  readonly coefficients?: CoefficientRule;
}

/** The measure with every μ_ℓ replaced by one sampler (then shared by all components). */
function withSampler(measure: Measure, sampler: Sampler): Measure {
  if (typeof sampler?.sample !== 'function') {
    throw new OptimizerError(
      'sampler: must be a Sampler { name, sample(shapes, rng) }, e.g. fixed([...]) from @usam/measures.',
    );
  }
  return defineMeasure({
    name: `${measure.name} with μ = ${sampler.name}`,
    components: measure.components.map(({ psi }) => ({ mu: sampler, psi })),
    phi: measure.phi,
    sharedSamples: true,
  });
}

/**
 * Algorithm 3, the (φ, ψ, μ)-sharpness-aware minimisation step for any
 * measure, any m: draw v_{i,ℓ} ~ μ_ℓ, evaluate L and ∇L at x + ρv_{i,ℓ}, and
 * step the base optimizer along
 *
 *     g = ∇L(x) + λ · Σ_ℓ ∂_ℓφ(t) · (1/n) Σ_i ψ'_ℓ(d_{i,ℓ}) · (∇L(x + ρv_{i,ℓ}) − ∇L(x)),
 *     d_{i,ℓ} = (L(x + ρv_{i,ℓ}) − L(x))/ρ²,  t_ℓ = (1/n) Σ_i ψ_ℓ(d_{i,ℓ}),
 *
 * the gradient of L + λρ²R_ρ (Definition 2). Cost: 1 + n·m gradients, or
 * 1 + n when the measure shares samples. Frob-SAM, Trace-SAM and Det-SAM are
 * this class with a measure and defaults (see `frobSam`, `traceSam`, `detSam`).
 */
export class UniversalSam extends SharpnessAwareOptimizer {
  readonly name: string;
  readonly measure: Measure;
  readonly rho: number;
  readonly samples: number;
  readonly rule: CoefficientRule;
  private readonly rng: Rng;
  private readonly shapes: number[][];

  constructor(options: UniversalSamOptions, where = 'universalSam') {
    super(options, options?.lambda ?? 1, where);
    const { measure, sampler } = options;
    if (typeof measure !== 'object' || measure === null || !Array.isArray(measure.components)) {
      throw new OptimizerError(
        `${where}: measure must be a (φ, ψ, μ) measure, e.g. frobenius() from @usam/measures.`,
      );
    }
    this.measure = sampler === undefined ? measure : withSampler(measure, sampler);
    this.name = where;
    this.rho = requireNumber(where, 'rho (ρ)', options.rho, {
      min: 0,
      strict: true,
      why: ' (R_ρ divides by ρ²)',
    });
    this.rule = options.coefficients ?? algorithm3;
    const { minSamples } = this.rule;
    this.samples = requireInteger(
      where,
      'samples (n)',
      options.samples ?? minSamples,
      minSamples,
      minSamples > 1 ? ` (the ${this.rule.name} needs ${minSamples} draws)` : '',
    );
    this.rng = createRng(options.seed ?? 0);
    this.shapes = this.variables.map((v) => [...v.shape]);
    const d = this.shapes.reduce((sum, s) => sum + s.reduce((a, b) => a * b, 1), 0);
    if (this.measure.dimension !== undefined && this.measure.dimension !== d) {
      throw new OptimizerError(
        `${where}: measure '${this.measure.name}' was built for d = ${this.measure.dimension} but the parameters have d = ${d}; rebuild it with d = ${d}.`,
      );
    }
  }

  protected get plain(): boolean {
    return this.lambda === 0;
  }

  /** The samplers, one per group of draws: one when samples are shared, else μ_1 … μ_m. */
  private get groups(): Sampler[] {
    const { components, sharedSamples } = this.measure;
    return sharedSamples ? [components[0]!.mu] : components.map((c) => c.mu);
  }

  protected async perturbed(context: PassContext): Promise<PerturbedResult> {
    const evaluations: Evaluation[] = [];
    const logWeights: number[][] = [];
    const d = this.shapes.reduce((sum, s) => sum + s.reduce((a, b) => a * b, 1), 0);
    try {
      for (const mu of this.groups) {
        const row: number[] = [];
        for (let i = 0; i < this.samples; i++) {
          const v = this.draw(mu);
          try {
            row.push(mu.logWeight ? mu.logWeight(v, d) : 0);
            const e = tf.tidy(() => v.map((t) => tf.mul(t, this.rho)));
            try {
              evaluations.push(context.evaluateAt(e));
            } finally {
              for (const t of e) t.dispose();
            }
          } finally {
            for (const t of v) t.dispose();
          }
        }
        logWeights.push(row);
      }
      const [clean, ...losses] = await readScalars([
        context.clean.loss,
        ...evaluations.map((e) => e.loss),
      ]);
      const rho2 = this.rho * this.rho;
      const result = { perturbedLosses: losses, sharpness: null, clipped: 0 };
      if (![clean!, ...losses].every(Number.isFinite)) {
        return { ...result, problem: 'a loss is NaN or ±∞' };
      }
      const n = this.samples;
      const dGroups = logWeights.map((_, g) =>
        losses.slice(g * n, (g + 1) * n).map((L) => (L - clean!) / rho2),
      );
      const { coefficients, estimate, clipped } = this.rule.compute(
        { d: dGroups, logWeights },
        this.measure,
      );
      if (!coefficients.every(Number.isFinite)) {
        return {
          ...result,
          clipped,
          problem: `the ${this.rule.name} coefficients are not finite (φ or ψ overflowed)`,
        };
      }
      // g = (1 − λΣc)·∇L + Σ_j λc_j·∇L_j, i.e. ∇L + λΣ_j c_j(∇L_j − ∇L) in one pass.
      const weights = coefficients.map((c) => this.lambda * c);
      const gradient = context.combine([
        { gradient: context.clean.gradient, weight: 1 - weights.reduce((a, b) => a + b, 0) },
        ...evaluations.map((e, j) => ({ gradient: e.gradient, weight: weights[j]! })),
      ]);
      return { perturbedLosses: losses, sharpness: estimate, clipped, gradient };
    } finally {
      for (const e of evaluations) {
        e.loss.dispose();
        for (const t of e.gradient) t.dispose();
      }
    }
  }

  /** One v ~ μ, checked against the parameter shapes (a user's sampler may be wrong). */
  private draw(mu: Sampler): tf.Tensor[] {
    const v = mu.sample(this.shapes, this.rng);
    const ok =
      Array.isArray(v) &&
      v.length === this.shapes.length &&
      v.every(
        (t, k) =>
          t instanceof tf.Tensor &&
          t.shape.length === this.shapes[k]!.length &&
          t.shape.every((n, j) => n === this.shapes[k]![j]),
      );
    if (!ok) {
      for (const t of Array.isArray(v) ? v : []) if (t instanceof tf.Tensor) t.dispose();
      throw new OptimizerError(
        `${this.name}: sampler '${mu.name}' returned tensors that do not match the parameter shapes ${JSON.stringify(this.shapes)}; return one tensor per variable, shaped like it.`,
      );
    }
    return v;
  }
}
