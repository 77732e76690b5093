import type { Tensor } from '@tensorflow/tfjs-core';
import { checkSamples, drawGroups, drawRound, summarizeDraws } from './algorithm3';
import { MeasureError, show } from './errors';
import { importanceDiagnostics, importanceWarning } from './importance';
import { checkDimension, defineMeasure } from './measure';
import { createRng } from './rng';
import { checkShapes, checkTensorShapes, type Shapes } from './tensor-list';
import type { Measure, Rng, Sampler } from './types';

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
  /**
   * For importance-weighted μ (a sampler with `logWeight`: the determinant's
   * Lebesgue measure, the scale-invariant family's f(v₁⋯v_d)dv), the least
   * effective sample size (Σ|w·ψ|)²/Σ(w·ψ)² over the components; absent for
   * probability μ.
   */
  readonly effectiveSampleSize?: number;
  /** Likewise the largest Pareto tail shape k̂ of the terms w·ψ (finite variance needs k < ½). */
  readonly tailShape?: number;
  /**
   * Present when the draws say the standard error cannot be trusted (too few
   * effective draws, or heavy-tailed weights): one line naming the fix.
   */
  readonly warning?: string;
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
  if (typeof measure !== 'object' || measure === null) {
    throw new MeasureError(
      `${where}: measure must be a (φ, ψ, μ) measure, e.g. frobenius() or defineMeasure({ … }), got ${show(measure)}.`,
    );
  }
  const checked = defineMeasure(measure);
  if (!options || typeof options !== 'object') {
    throw new MeasureError(`${where}: give options { shapes, samples, seed }.`);
  }
  const d = checkShapes(options.shapes, where);
  checkDimension(checked, d, where);
  const n = checkSamples(checked, options.samples, where, 2, ' (a standard error needs two draws)');
  return {
    measure: checked,
    shapes: options.shapes,
    d,
    n,
    rng: options.rng ?? createRng(options.seed ?? 0),
  };
}

/**
 * Draws v ~ μ_ℓ n times per group of components (one group when samples are
 * shared), turns each into q with `quadratic` (which must dispose nothing of v
 * and return a finite number), and combines them with Algorithm 3's sampling
 * half (`summarizeDraws`): t̂, φ(t̂) and its delta-method standard error.
 */
export async function sampleMeasure(
  { measure, shapes, d, n, rng }: Setup,
  where: string,
  quadratic: (v: Tensor[], probe: number) => Promise<number>,
): Promise<Omit<MeasureEstimate, 'evaluations'>> {
  const groups = drawGroups(measure);
  const draws = { q: groups.map((): number[] => []), logWeights: groups.map((): number[] => []) };
  const check = (v: unknown, mu: Sampler) =>
    checkTensorShapes(v as Tensor[], shapes, `${where}: sampler '${mu.name}'`);
  let probe = 0;
  for (const { group, v, logWeight } of drawRound(
    groups,
    { shapes, n, rng, dimension: d },
    check,
  )) {
    draws.q[group]!.push(await quadratic(v, probe++));
    draws.logWeights[group]!.push(logWeight);
  }
  const { means, value, gradient, values } = summarizeDraws(measure, draws);
  const probes: Probe[] = [];
  groups.forEach(({ components }, g) => {
    values[g]!.forEach((row, i) => {
      const q = draws.q[g]![i]!;
      const logWeight = draws.logWeights[g]![i]!;
      const bad = row.findIndex((y) => !Number.isFinite(y));
      if (bad >= 0) {
        throw new MeasureError(
          `${where}: w·ψ_${components[bad]}(q) is not finite at probe ${probes.length} (q = ${show(q)}, log w = ${show(logWeight)}); ψ overflows there: reduce ρ, σ or the Lebesgue scale, or use a smaller d.`,
        );
      }
      probes.push({ q, logWeight, components, values: row });
    });
  });
  if (!Number.isFinite(value)) {
    throw new MeasureError(
      `${where}: φ = ${measure.phi.name} is not finite at t = (${means.map(show).join(', ')}); the means are outside φ's domain.`,
    );
  }
  let variance = 0;
  groups.forEach(({ components }, g) => {
    // gᵀ(S/n)g over this group's components, S the unbiased sample covariance.
    const centred = values[g]!.map((y) =>
      components.reduce((s, l, k) => s + gradient[l]! * (y[k]! - means[l]!), 0),
    );
    variance += centred.reduce((s, c) => s + c * c, 0) / (n - 1) / n;
  });
  return {
    value,
    standardError: Math.sqrt(variance),
    means,
    probes,
    samples: n,
    ...reliability(measure, groups, draws, n, where),
  };
}

/** ESS and k̂ of the importance-weighted components, and a warning where they fail. */
function reliability(
  measure: Measure,
  groups: ReturnType<typeof drawGroups>,
  draws: { q: number[][]; logWeights: number[][] },
  n: number,
  where: string,
): Pick<MeasureEstimate, 'effectiveSampleSize' | 'tailShape' | 'warning'> {
  let effectiveSampleSize = Number.POSITIVE_INFINITY;
  let tailShape = Number.NEGATIVE_INFINITY;
  let weighted = false;
  groups.forEach(({ mu, components }, g) => {
    if (!mu.logWeight) return;
    weighted = true;
    for (const l of components) {
      const { psi } = measure.components[l]!;
      const logTerms = draws.q[g]!.map((q, i) => {
        const value = psi.logForm?.(q) ?? { log: Math.log(Math.abs(psi.value(q))) };
        return draws.logWeights[g]![i]! + value.log;
      });
      const diagnostics = importanceDiagnostics(logTerms);
      effectiveSampleSize = Math.min(effectiveSampleSize, diagnostics.effectiveSampleSize);
      // NaN (too few draws for a tail fit) does not hide another component's k̂.
      if (!(diagnostics.tailShape <= tailShape)) tailShape = diagnostics.tailShape;
    }
  });
  if (!weighted) return {};
  const exactFix = measure.closedForm
    ? ', or use exact() on an explicit H (closed form)'
    : measure.matrixForm
      ? ', or use exact() on an explicit H for d ≤ 3 (quadrature)'
      : '';
  const warning = importanceWarning(
    { effectiveSampleSize, tailShape },
    n,
    where,
    `draw more samples or widen the proposal (its scale)${exactFix}`,
  );
  return { effectiveSampleSize, tailShape, ...(warning && { warning }) };
}
