import {
  checkMeasure,
  checkSamples,
  drawGroups,
  drawRound,
  frobenius,
  hypercubeDeterminant,
  type Measure,
  MeasureError,
  replaceSampler,
  type Sampler,
  summarizeDraws,
  tensorList,
  trace,
} from '@usam/measures';
import { checkOptions, describe, OptimizerError, requireNumber } from './errors';
import { remember } from './recipe';
import { SharpnessAwareOptimizer } from './sharpness-aware';
import { ENGINE_OPTIONS, type OptimizerOptions, type Perturbation } from './types';

/** What every (φ, ψ, μ) instance takes besides the engine's options; each has the paper's defaults. */
export interface InstanceOptions extends OptimizerOptions {
  /** ρ > 0, the perturbation radius: points x + ρv, and R_ρ divides by ρ² (Definition 2). */
  readonly rho?: number;
  /** n, draws per distribution μ_ℓ per step (Algorithm 3); at least the measure's `minSamples`. */
  readonly samples?: number;
  /**
   * Replaces every μ_ℓ of the measure (docs/measures.md: μ is a parameter). Pass
   * @usam/measures' `fixed([...])` to inject known perturbations, or any
   * `Sampler` of your own.
   */
  readonly sampler?: Sampler;
}

/** Options of Algorithm 3 for any measure. */
export interface UniversalSamOptions extends InstanceOptions {
  /** The (φ, ψ, μ) triple (Definition 1), e.g. from @usam/measures' catalogue or `defineMeasure`. */
  readonly measure: Measure;
  readonly rho: number;
}

const INSTANCE_OPTIONS = [...ENGINE_OPTIONS, 'rho', 'samples', 'sampler'];

/** `universalSam`'s defaults (n: the measure's `minSamples`). */
export const UNIVERSAL_SAM_DEFAULTS = { lambda: 1 } as const;
/** `frobSam`'s defaults: the paper's CIFAR-10 choice (Tables 4–5), λ in this library's units. */
export const FROB_SAM_DEFAULTS = { rho: 0.005, samples: 2, lambda: 0.00125 } as const;
/** `traceSam`'s defaults: the paper's CIFAR-10 choice. */
export const TRACE_SAM_DEFAULTS = { rho: 0.01, samples: 1, lambda: 1, mu: 'gaussian' } as const;
/** `detSam`'s defaults: the paper's setting, λ_ref = 1 being λ = 0.5 here. */
export const DET_SAM_DEFAULTS = { rho: 1, halfWidth: 0.01, samples: 1, lambda: 0.5 } as const;

/** A (φ, ψ, μ) measure as Algorithm 3 samples it; `measure` and `rho` in view. */
export interface MeasurePerturbation extends Perturbation {
  readonly measure: Measure;
  readonly rho: number;
  readonly samples: number;
}

/** d of the parameters, checked against a measure built for one d (the determinant's). */
function checkDimension(
  where: string,
  measure: Measure,
  shapes: readonly { readonly shape: readonly number[] }[] | number[][],
): number {
  const d = tensorList.dimensionOf(shapes.map((s) => (Array.isArray(s) ? s : s.shape)));
  if (measure.dimension !== undefined && measure.dimension !== d) {
    throw new OptimizerError(
      `${where}: measure '${measure.name}' was built for d = ${measure.dimension} but the parameters have d = ${d}; rebuild it with d = ${d}.`,
    );
  }
  return d;
}

/** Runs `build`, turning @usam/measures' errors into this package's, the original kept as `cause`. */
function asOptimizerError<T>(where: string, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof MeasureError) {
      const message = error.message.startsWith(where)
        ? error.message
        : `${where}: ${error.message}`;
      throw new OptimizerError(message, { cause: error });
    }
    throw error;
  }
}

/**
 * Algorithm 3's perturbation for a measure: draw v_{i,ℓ} ~ μ_ℓ, evaluate L and
 * ∇L at x + ρv_{i,ℓ}, and weigh each gradient by the coefficient
 * @usam/measures' `summarizeDraws` gives for q_{i,ℓ} = (L(x + ρv) − L(x))/ρ²
 * (in the measure's own rule: the covariance form for the Frobenius entry).
 */
function measurePerturbation(
  where: string,
  measure: Measure,
  rho: number,
  samples: number,
): MeasurePerturbation {
  const groups = drawGroups(measure);
  return {
    name: measure.name,
    measure,
    rho,
    samples,
    perturb(context) {
      const { shapes, rng } = context;
      const dimension = checkDimension(where, measure, shapes);
      const check = (v: unknown, mu: Sampler) => {
        if (!tensorList.hasShapes(v, shapes)) {
          throw new OptimizerError(
            `${where}: sampler '${mu.name}' returned tensors that do not match the parameter shapes ${JSON.stringify(shapes)}; return one tensor per variable, shaped like it.`,
          );
        }
      };
      const logWeights = groups.map((): number[] => []);
      for (const { group, v, logWeight } of drawRound(
        groups,
        { shapes, n: samples, rng, dimension },
        check,
      )) {
        logWeights[group]!.push(logWeight);
        context.evaluateAt(v, rho); // x + ρv
      }
      const { clean, perturbed } = context.losses();
      if (![clean, ...perturbed].every(Number.isFinite)) {
        return { coefficients: [], sharpness: Number.NaN, problem: 'a loss is NaN or ±∞' };
      }
      const rho2 = rho * rho;
      const gaps = logWeights.map((_, g) =>
        perturbed.slice(g * samples, (g + 1) * samples).map((L) => (L - clean) / rho2),
      );
      const { coefficients, sharpness } = summarizeDraws(measure, { q: gaps, logWeights });
      return { coefficients, sharpness };
    },
  };
}

/**
 * The most perturbation samples per step: each costs a forward and backward
 * pass, so n = 1e9 would hang a step (the paper uses n ≤ 16).
 */
export const MAX_SAMPLES = 1024;

/** Builds an instance: options checked, the measure's fewest samples enforced. */
function instance(
  where: string,
  options: UniversalSamOptions,
  defaults: { rho?: number; samples?: number; lambda: number },
): SharpnessAwareOptimizer<MeasurePerturbation> {
  const { measure: given, sampler } = options;
  if (typeof given !== 'object' || given === null || !Array.isArray(given.components)) {
    throw new OptimizerError(
      `${where}: measure must be a (φ, ψ, μ) measure, e.g. frobenius() from @usam/measures; got ${describe(given)}.`,
    );
  }
  return asOptimizerError(where, () => {
    // A catalogue measure is used as is; anything else is checked, its coefficient rule kept.
    const checked =
      Object.isFrozen(given) && given.minSamples !== undefined ? given : checkMeasure(given);
    const measure = sampler === undefined ? checked : replaceSampler(checked, sampler);
    const rho = requireNumber(where, 'rho (ρ)', options.rho ?? defaults.rho, {
      min: 0,
      strict: true,
      why: ' (R_ρ divides by ρ²)',
    });
    const samples = checkSamples(
      measure,
      options.samples ?? Math.max(defaults.samples ?? 1, measure.minSamples ?? 1),
      where,
    );
    if (samples > MAX_SAMPLES) {
      throw new OptimizerError(
        `${where}: samples must be an integer ≤ ${MAX_SAMPLES} (each costs a gradient evaluation per step), got ${samples}; pass samples: ${MAX_SAMPLES} or fewer.`,
      );
    }
    const optimizer = new SharpnessAwareOptimizer(
      where,
      { ...options, lambda: options.lambda ?? defaults.lambda },
      measurePerturbation(where, measure, rho, samples),
    );
    checkDimension(where, measure, optimizer.variables);
    return optimizer;
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
 * 1 + n when the measure shares samples. Defaults: n = the measure's
 * `minSamples` (2 for frobenius, else 1), λ = 1.
 */
export function universalSam(
  options: UniversalSamOptions,
): SharpnessAwareOptimizer<MeasurePerturbation> {
  const o = checkOptions('universalSam', options, [...INSTANCE_OPTIONS, 'measure']);
  return remember(instance('universalSam', o, UNIVERSAL_SAM_DEFAULTS), 'universalSam', o);
}

/**
 * Frob-SAM (Algorithm 2): the Frobenius triple ψ = (t, t²), φ = 2(t₂ − t₁²),
 * μ = N(0, I) with shared samples, in its covariance form
 * g = ∇L + λ·(4/ρ²)·ĉov(L_i, ∇L_i) (unbiased, so n ≥ 2). Defaults: the paper's
 * CIFAR-10 choice, ρ = 0.005, n = 2 (Table 5) and λ_ref = 5e-3 (Table 4),
 * which is λ = λ_ref/4 = 1.25e-3 here (docs/lambda.md). Cost 1 + n gradients.
 */
export function frobSam(options: InstanceOptions): SharpnessAwareOptimizer<MeasurePerturbation> {
  const o = checkOptions('frobSam', options, INSTANCE_OPTIONS);
  const { rho, ...defaults } = FROB_SAM_DEFAULTS;
  const optimizer = instance(
    'frobSam',
    { ...o, measure: frobenius(), rho: o.rho ?? rho },
    defaults,
  );
  return remember(optimizer, 'frobSam', o);
}

/**
 * Trace-SAM: ψ = φ = identity, g = ∇L + λ·(1/n)Σ(∇L(x + ρv_i) − ∇L(x)).
 * `mu: 'gaussian'` (default, N(0, I), what the paper's experiments sampled) or
 * `'sphere'` (uniform on the unit sphere of the whole parameter vector,
 * Table 1). Defaults: ρ = 0.01, n = 1, λ = 1 (the paper's CIFAR-10 choice).
 */
export function traceSam(
  options: InstanceOptions & { readonly mu?: 'gaussian' | 'sphere' },
): SharpnessAwareOptimizer<MeasurePerturbation> {
  const o = checkOptions('traceSam', options, [...INSTANCE_OPTIONS, 'mu']);
  const { mu, ...rest } = o;
  const { rho, lambda, samples } = TRACE_SAM_DEFAULTS;
  const measure = asOptimizerError('traceSam', () => trace(mu ?? TRACE_SAM_DEFAULTS.mu));
  const optimizer = instance(
    'traceSam',
    { ...rest, measure, rho: o.rho ?? rho },
    { lambda, samples },
  );
  return remember(optimizer, 'traceSam', o);
}

/**
 * Det-SAM: ψ = exp(−t), φ = 1/t², μ = uniform on the hypercube [−h, h]^d
 * (@usam/measures' `hypercubeDeterminant`: the determinant row with the
 * Lebesgue integral truncated and its constants dropped, docs/measures.md),
 * perturbation ρ·v, computed in log space so no finite losses give NaN or ±∞;
 * a coefficient is clipped (and counted) only where the update would leave
 * float32's range. Defaults: ρ = 1, h = 0.01, n = 1, and λ = 0.5, the
 * paper's setting: the reference code's ψ is e^{−t/2}, so its λ_ref ≈ 2λ here
 * (exactly as d → 0) and its λ_ref = 1 is λ = 0.5 (docs/lambda.md).
 *
 * With h this small, E[e^{−d}] ≈ 1 − h²·tr(H)/6, so to first order the step
 * regularises the trace (scaled by h²), not the determinant.
 */
export function detSam(
  options: InstanceOptions & { readonly halfWidth?: number },
): SharpnessAwareOptimizer<MeasurePerturbation> {
  const o = checkOptions('detSam', options, [...INSTANCE_OPTIONS, 'halfWidth']);
  const { halfWidth, ...rest } = o;
  const { rho, lambda, samples } = DET_SAM_DEFAULTS;
  const h = requireNumber('detSam', 'halfWidth (h)', halfWidth ?? DET_SAM_DEFAULTS.halfWidth, {
    min: 0,
    strict: true,
  });
  const optimizer = instance(
    'detSam',
    { ...rest, measure: hypercubeDeterminant(h), rho: o.rho ?? rho },
    { lambda, samples },
  );
  return remember(optimizer, 'detSam', o);
}

/**
 * The base optimizer alone (the paper's SGD baseline), behind the same `step`
 * and statistics as every other variant: one gradient per step, plus coupled
 * weight decay, clipping and the refusal of non-finite steps.
 */
export function plain(
  options: Omit<OptimizerOptions, 'lambda'>,
): SharpnessAwareOptimizer<undefined> {
  // `seed` is accepted (and unused) so that one options object can build any variant; λ is not.
  const o = checkOptions('plain', options, [
    'params',
    'state',
    'base',
    'preserve',
    'weightDecay',
    'seed',
    'mSharpness',
    'clipNorm',
  ]);
  return remember(new SharpnessAwareOptimizer('plain', o, undefined), 'plain', o);
}

/**
 * The step engine around a perturbation of your own: a new variant is one
 * `Perturbation` (see `ascent` for the first-order kind), never a subclass.
 */
export function sharpnessAware<P extends Perturbation>(
  name: string,
  options: OptimizerOptions,
  perturbation: P,
): SharpnessAwareOptimizer<P> {
  const o = checkOptions(name, options, ENGINE_OPTIONS);
  if (typeof perturbation?.perturb !== 'function') {
    throw new OptimizerError(
      `${name}: perturbation must be a Perturbation { name, perturb(context) }, e.g. ascent('fixed', (x, g) => …); got ${describe(perturbation)}.`,
    );
  }
  return new SharpnessAwareOptimizer(name, o, perturbation);
}
