import type { Measure } from '@usam/measures';

/**
 * How Algorithm 3 weighs each perturbed gradient. With d_j = (L(x + ρv_j) − L(x))/ρ²
 * for every draw j, the step direction is (SPEC §3)
 *
 *     g = ∇L(x) + λ · Σ_j c_j · (∇L(x + ρv_j) − ∇L(x))
 *
 * and a rule turns the d_j into the c_j and the estimate of R_ρ(x). Rules are
 * pure float64 functions of numbers, so they are tested against hand-computed
 * values without tensors.
 */
export interface CoefficientRule {
  readonly name: string;
  /** The fewest draws per group the rule is defined for. */
  readonly minSamples: number;
  compute(draws: Draws, measure: Measure): Coefficients;
}

/**
 * The draws of one step, grouped: with shared samples one group serves every
 * component ℓ; otherwise group ℓ holds component ℓ's n draws.
 */
export interface Draws {
  /** d[group][i] = (L(x + ρv) − L(x))/ρ². */
  readonly d: readonly (readonly number[])[];
  /** log w[group][i], the sampler's importance weight (0 where it has none). */
  readonly logWeights: readonly (readonly number[])[];
}

export interface Coefficients {
  /** c per draw, in the order of `Draws` (group by group). */
  readonly coefficients: number[];
  /** The estimate of R_ρ(x) = φ(t) these draws give. */
  readonly estimate: number;
  /** How many c exceeded `COEFFICIENT_LIMIT` in magnitude and were clipped to it. */
  readonly clipped: number;
}

/**
 * |c| above this is clipped (and counted): float32 tops out at 3.4e38, and c
 * multiplies gradient differences in float32, so the limit leaves eight orders
 * of magnitude for λ·‖∇L_j − ∇L‖ before the step could overflow.
 */
export const COEFFICIENT_LIMIT = 1e30;

/** Clips each c to ±COEFFICIENT_LIMIT; NaN stays NaN (the step is then refused). */
function clip(coefficients: number[], estimate: number): Coefficients {
  let clipped = 0;
  const out = coefficients.map((c) => {
    if (Math.abs(c) <= COEFFICIENT_LIMIT || Number.isNaN(c)) return c;
    clipped++;
    return Math.sign(c) * COEFFICIENT_LIMIT;
  });
  return { coefficients: out, estimate, clipped };
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Algorithm 3 for any (φ, ψ, μ): t_ℓ = (1/n) Σ_i w_i ψ_ℓ(d_i) and
 * c_(ℓ,i) = ∂_ℓφ(t) · w_i ψ'_ℓ(d_i) / n (eq. 94), summed over the components
 * a shared draw serves. w = 1 for probability measures.
 */
export const algorithm3: CoefficientRule = {
  name: 'algorithm 3',
  minSamples: 1,
  compute(draws, measure) {
    const { components, sharedSamples, phi } = measure;
    const group = (l: number) => (sharedSamples ? 0 : l);
    const weights = draws.logWeights.map((row) => row.map(Math.exp));
    const t = components.map(({ psi }, l) => {
      const g = group(l);
      return mean(draws.d[g]!.map((di, i) => weights[g]![i]! * psi.value(di)));
    });
    const dphi = phi.gradient(t);
    const coefficients = draws.d.map((d) => d.map(() => 0));
    components.forEach(({ psi }, l) => {
      const g = group(l);
      const d = draws.d[g]!;
      d.forEach((di, i) => {
        coefficients[g]![i]! += (dphi[l]! * weights[g]![i]! * psi.derivative(di)) / d.length;
      });
    });
    return clip(coefficients.flat(), phi.value(t));
  },
};

/**
 * Frob-SAM's covariance form (Algorithm 2): with shared Gaussian draws,
 * Algorithm 3 on the Frobenius triple reduces to g = ∇L + λ·(4/ρ²)·ĉov(L_i, ∇L_i),
 * where the clean loss cancels. This uses the unbiased cross-covariance, so
 * c_i = 4(d_i − d̄)/(n − 1): Algorithm 3's coefficients times n/(n − 1). The
 * estimate is likewise the unbiased 2·Var(d). Needs n ≥ 2.
 */
export const covariance: CoefficientRule = {
  name: 'covariance (Algorithm 2)',
  minSamples: 2,
  compute(draws) {
    const d = draws.d[0]!;
    const n = d.length;
    const dbar = mean(d);
    const centred = d.map((di) => di - dbar);
    return clip(
      centred.map((c) => (4 * c) / (n - 1)),
      (2 * centred.reduce((a, c) => a + c * c, 0)) / (n - 1),
    );
  },
};

/**
 * Det-SAM in log space: ψ = exp(−t), φ = 1/t², so with t̄ = (1/n)Σe^{−d_i},
 * c_i = (2/n)·e^{−d_i}/t̄³. With M = max_i(−d_i) and w_i = e^{−d_i−M} ∈ (0, 1],
 * log c_i = log(2/n) − 2M + log w_i − 3·log w̄, where w̄ ≥ 1/n, so nothing
 * overflows or becomes 0/0 for any finite losses; c beyond the float32-safe
 * `COEFFICIENT_LIMIT` is clipped and counted. Importance weights (a Lebesgue μ)
 * are ignored: training drops the volume constant (SPEC §2).
 */
export const logSpace: CoefficientRule = {
  name: 'log space (Det-SAM)',
  minSamples: 1,
  compute(draws) {
    const d = draws.d[0]!;
    const n = d.length;
    const M = Math.max(...d.map((di) => -di));
    const logW = d.map((di) => -di - M);
    const logWbar = Math.log(mean(logW.map(Math.exp)));
    const logLimit = Math.log(COEFFICIENT_LIMIT);
    let clipped = 0;
    const coefficients = logW.map((lw) => {
      const logC = Math.log(2 / n) - 2 * M + lw - 3 * logWbar;
      if (logC > logLimit) {
        clipped++;
        return COEFFICIENT_LIMIT;
      }
      return Math.exp(logC);
    });
    // R_ρ = 1/t̄² = e^{−2M}/w̄²; +∞ only where it truly exceeds float64.
    return { coefficients, estimate: Math.exp(-2 * M - 2 * logWbar), clipped };
  },
};
