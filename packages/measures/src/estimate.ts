import type { Tensor } from '@tensorflow/tfjs-core';
import { MeasureError, show } from './errors.js';
import { checkDimension, defineMeasure } from './measure.js';
import { createRng } from './rng.js';
import { checkShapes, checkTensorShapes, type Shapes } from './tensor-list.js';
import type { Measure, Rng } from './types.js';

/** What the sampling evaluators (`monteCarlo`, `zerothOrder`) share. */
export interface SamplingOptions {
  /** Shapes of the tensors v is split into (shaped like the parameters); d = their total size. */
  readonly shapes: Shapes;
  /**
   * n, the draws per μ_ℓ: n in all when `sharedSamples`, else n for each of the
   * m components (n·m evaluations). At least 2, for the standard error.
   */
  readonly samples: number;
  /** Seed for `createRng` (default 0); ignored when `rng` is given. */
  readonly seed?: number | string;
  /** A caller's own Rng, continued from where it is. */
  readonly rng?: Rng;
}

/** One draw v and what it contributed. */
export interface Probe {
  /**
   * The quadratic form at v: ½vᵀHv (Monte Carlo) or its zeroth-order stand-in
   * (L(x + ρv) − L(x))/ρ² (Definition 2).
   */
  readonly q: number;
  /** log(dμ/dq)(v), the importance weight's log (0 for a probability μ). */
  readonly logWeight: number;
  /** The components ℓ this draw serves: all of them when samples are shared, else one. */
  readonly components: readonly number[];
  /** w·ψ_ℓ(q) for each ℓ in `components`: the terms averaged into t_ℓ. */
  readonly values: readonly number[];
}

/** An estimate of S = φ(t_1, …, t_m) from n draws per μ_ℓ. */
export interface MeasureEstimate {
  /** φ(t̂): consistent; for nonlinear φ biased by O(1/n), well inside the standard error. */
  readonly value: number;
  /**
   * Delta-method standard error √(∇φ(t̂)ᵀ Σ̂ ∇φ(t̂)), with Σ̂ the covariance of
   * the means t̂: the sample covariance of the per-draw vectors (w·ψ_ℓ(q_i))_ℓ
   * over n when samples are shared, diagonal (independent draws) otherwise.
   */
  readonly standardError: number;
  /** t̂_ℓ = (1/n) Σ_i w_i·ψ_ℓ(q_i), ℓ = 1..m. */
  readonly means: readonly number[];
  /** Every draw, in order. */
  readonly probes: readonly Probe[];
  /** n, draws per μ_ℓ. */
  readonly samples: number;
  /** Calls made to the caller's hvp or loss. */
  readonly evaluations: number;
}

/** The checked setup of a sampling evaluation. */
export interface Setup {
  readonly measure: Measure;
  readonly shapes: Shapes;
  readonly d: number;
  readonly n: number;
  readonly rng: Rng;
}

export function setup(measure: Measure, options: SamplingOptions, where: string): Setup {
  const checked = defineMeasure(measure);
  if (!options || typeof options !== 'object') {
    throw new MeasureError(`${where}: give options { shapes, samples, seed }.`);
  }
  const d = checkShapes(options.shapes, where);
  checkDimension(checked, d, where);
  const n = options.samples;
  if (!(Number.isInteger(n) && n >= 2)) {
    throw new MeasureError(
      `${where}: samples must be an integer ≥ 2 (a standard error needs two draws), got ${n}.`,
    );
  }
  return {
    measure: checked,
    shapes: options.shapes,
    d,
    n,
    rng: options.rng ?? createRng(options.seed ?? 0),
  };
}

/** w·ψ(q) = sign(ψ)·exp(log w + log|ψ|), so a huge weight times a tiny ψ stays finite. */
const weighted = (logWeight: number, psiValue: number) =>
  logWeight === 0 || psiValue === 0
    ? psiValue
    : Math.sign(psiValue) * Math.exp(logWeight + Math.log(Math.abs(psiValue)));

/**
 * Draws v ~ μ_ℓ n times per group of components (one group when samples are
 * shared), turns each into q with `quadratic` (which must dispose nothing of v
 * and return a finite number), and combines: t̂, φ(t̂) and its standard error.
 */
export async function sampleMeasure(
  { measure, shapes, d, n, rng }: Setup,
  where: string,
  quadratic: (v: Tensor[], probe: number) => Promise<number>,
): Promise<Omit<MeasureEstimate, 'evaluations'>> {
  const m = measure.components.length;
  const groups = measure.sharedSamples
    ? [measure.components.map((_, l) => l)]
    : measure.components.map((_, l) => [l]);
  const probes: Probe[] = [];
  const means = new Array<number>(m).fill(0);
  let variance = 0;
  const rows: number[][][] = [];
  for (const group of groups) {
    const mu = measure.components[group[0]!]!.mu;
    const ys: number[][] = [];
    for (let i = 0; i < n; i++) {
      const v = mu.sample(shapes, rng);
      let q: number;
      let logWeight: number;
      try {
        checkTensorShapes(v, shapes, `${where}: sampler '${mu.name}'`);
        q = await quadratic(v, probes.length);
        logWeight = mu.logWeight ? mu.logWeight(v, d) : 0;
      } finally {
        for (const tensor of v) tensor.dispose();
      }
      const values = group.map((l) => weighted(logWeight, measure.components[l]!.psi.value(q)));
      const bad = values.findIndex((y) => !Number.isFinite(y));
      if (bad >= 0) {
        throw new MeasureError(
          `${where}: w·ψ_${group[bad]}(q) is not finite at probe ${probes.length} (q = ${show(q)}, log w = ${show(logWeight)}); ψ overflows there: reduce ρ, σ or the Lebesgue scale, or use a smaller d.`,
        );
      }
      probes.push({ q, logWeight, components: group, values });
      ys.push(values);
    }
    rows.push(ys);
    group.forEach((l, k) => {
      means[l] = ys.reduce((s, y) => s + y[k]!, 0) / n;
    });
  }
  const value = measure.phi.value(means);
  if (!Number.isFinite(value)) {
    throw new MeasureError(
      `${where}: φ = ${measure.phi.name} is not finite at t = (${means.map(show).join(', ')}); the means are outside φ's domain.`,
    );
  }
  const gradient = measure.phi.gradient(means);
  groups.forEach((group, g) => {
    // gᵀ(S/n)g over this group's components, S the unbiased sample covariance.
    const ys = rows[g]!;
    const centred = ys.map((y) =>
      group.reduce((s, l, k) => s + gradient[l]! * (y[k]! - means[l]!), 0),
    );
    variance += centred.reduce((s, c) => s + c * c, 0) / (n - 1) / n;
  });
  return {
    value,
    standardError: Math.sqrt(variance),
    means,
    probes,
    samples: n,
  };
}
