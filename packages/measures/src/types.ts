import type { Tensor } from '@tensorflow/tfjs-core';

/**
 * The shared vocabulary of usam: a (φ, ψ, μ)-sharpness measure as plain data
 * (Definition 1 of the paper, docs/measures.md):
 *
 *     S(x) = φ( E_{v~μ_1}[ψ_1(½ vᵀHv)], …, E_{v~μ_m}[ψ_m(½ vᵀHv)] )
 *
 * Every evaluator (exact, Monte Carlo, zeroth order) and Algorithm 3 in
 * `@usam/optimizer` consume this one shape, so a user-built measure works
 * everywhere a catalogue measure does.
 */

/** Seeded source of randomness; every sampler draws from one, so runs repeat. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** A fresh 31-bit integer seed, for tfjs's seeded random ops. */
  nextSeed(): number;
}

/** x = sign·e^{log}: a number whose magnitude may lie beyond float64. */
export interface SignedLog {
  readonly sign: number;
  readonly log: number;
}

/** A scalar function ψ_ℓ with its derivative ψ'_ℓ (Algorithm 3 needs both). */
export interface ScalarFunction {
  readonly name: string;
  value(t: number): number;
  derivative(t: number): number;
  /**
   * ψ(t) as sign·e^{log}, where it stays exact past float64's range
   * (ψ = e^{σt}: sign 1, log σt); absent means sign and log of value(t).
   */
  logForm?(t: number): SignedLog;
  /** ψ'(t) as sign·e^{log}, likewise. */
  logFormDerivative?(t: number): SignedLog;
}

/** The outer function φ: R^m → R with its gradient ∂φ (Algorithm 3, line 6). */
export interface OuterFunction {
  readonly name: string;
  value(t: readonly number[]): number;
  gradient(t: readonly number[]): number[];
  /**
   * Present when φ = e^{logScale}·base with base homogeneous of the given degree
   * k (base(s·t) = s^k·base(t), s > 0). Algorithm 3 then works in log space
   * (`summarizeDraws`), so huge weights and constants never overflow.
   */
  readonly homogeneous?: {
    readonly degree: number;
    readonly logScale: number;
    readonly base: OuterFunction;
  };
}

/**
 * A distribution (or, for the determinant row, a σ-finite measure) μ_ℓ over
 * perturbations v ∈ R^d, where v is split into tensors shaped like the
 * parameters. "sphere" means the unit sphere of the whole concatenated vector.
 */
export interface Sampler {
  readonly name: string;
  /** Draw one v. The caller owns (and disposes) the returned tensors. */
  sample(shapes: readonly (readonly number[])[], rng: Rng): Tensor[];
  /**
   * log(dμ/dq)(v) where q is the law `sample` draws from. Absent means μ = q
   * (weight 1). The Lebesgue μ of the determinant row is sampled through a
   * proper q and reweighted here; training drops this constant (docs/measures.md).
   */
  logWeight?(v: readonly Tensor[], dimension: number): number;
}

/** One term ℓ of the measure: E_{v~μ_ℓ}[ψ_ℓ(½vᵀHv)]. */
export interface MeasureComponent {
  readonly mu: Sampler;
  readonly psi: ScalarFunction;
}

/** A (φ, ψ, μ)-sharpness measure (Definition 1, Table 1). */
export interface Measure {
  readonly name: string;
  /** m ≥ 1 terms. */
  readonly components: readonly MeasureComponent[];
  readonly phi: OuterFunction;
  /**
   * True when every μ_ℓ is the same law, so one set of samples serves every
   * term (Frob-SAM's 1 + n gradients instead of 1 + n·m, docs/sharpness-aware-step.md).
   */
  readonly sharedSamples: boolean;
  /**
   * S(x) in closed form from the eigenvalues λ of H (Table 1, right column),
   * where one is known. It is the formula itself, defined for every spectrum
   * (det H = Π λ_i even for indefinite H, as in Example 1); whether the
   * integrals of Definition 1 converge there is `divergence`'s question.
   */
  readonly closedForm?: (eigenvalues: readonly number[]) => number;
  /**
   * Why the integrals of Definition 1 diverge for this spectrum, as a one-line
   * message naming the offending eigenvalue (det needs H ≻ 0, the product
   * 1 − σλ_i > 0), or undefined where they converge. Absent means they always
   * converge (probability μ with polynomial ψ). `exact` refuses divergent
   * spectra unless asked for the closed form regardless.
   */
  readonly divergence?: (eigenvalues: readonly number[]) => string | undefined;
  /**
   * S from the Hessian matrix itself, for measures whose S is not a function of
   * the eigenvalues alone: a μ that is not rotation invariant, as the
   * scale-invariant family's f(v₁⋯v_d)dv (workshop paper, Theorem 1). Numerical
   * quadrature for small d, or a closed form. `exact` uses it where
   * `closedForm` is absent. H arrives checked and symmetrised.
   */
  readonly matrixForm?: (H: readonly (readonly number[])[]) => number;
  /**
   * Like `divergence`, for measures whose integrals converge or not depending
   * on more than the spectrum (the scale-invariant family: on H's principal
   * submatrices). A one-line reason, or undefined where they converge.
   */
  readonly matrixDivergence?: (H: readonly (readonly number[])[]) => string | undefined;
  /**
   * The d this measure is built for, where φ or μ depends on it (the
   * determinant's (2π)^d). Evaluators check it against H or the shapes.
   * Absent for measures that work in any dimension.
   */
  readonly dimension?: number;
  /**
   * The fewest draws per μ_ℓ for which Algorithm 3 and the estimators are not
   * degenerate: 2 where φ couples shared samples non-linearly (Frobenius:
   * with n = 1, 2(t₂ − t₁²) = 2(q² − q²) = 0 whatever H is), else 1. Every
   * consumer (the optimizer, `monteCarlo`, `zerothOrder`) enforces it.
   */
  readonly minSamples?: number;
  /**
   * A closed-form simplification of Algorithm 3's coefficients that a
   * catalogue entry carries (`frobenius()`: the covariance form of
   * Algorithm 2). Data on the measure, so a copy (`{ ...frobenius() }`) keeps
   * it; `defineMeasure` never adds one. Absent: Algorithm 3 itself.
   */
  readonly coefficientRule?: CoefficientRule;
}

/**
 * One round's draws, grouped as `drawGroups` says (one group when samples
 * are shared, else one per component).
 */
export interface Draws {
  /** q[group][i]: ½vᵀHv, or its zeroth-order stand-in (L(x + ρv) − L(x))/ρ². */
  readonly q: readonly (readonly number[])[];
  /** log w[group][i], the sampler's importance weight (0 where it has none). */
  readonly logWeights: readonly (readonly number[])[];
}

/**
 * A rule that replaces Algorithm 3's coefficients c_j and its R_ρ estimate
 * with a closed form. It is right only for the φ and ψ it was derived for,
 * so it names them (the same objects), and `summarizeDraws` refuses it on a
 * measure whose φ or ψ_ℓ are others.
 */
export interface CoefficientRule {
  readonly name: string;
  /** The φ it is exact for. */
  readonly phi: OuterFunction;
  /** The ψ_ℓ it is exact for, in component order. */
  readonly psi: readonly ScalarFunction[];
  compute(draws: Draws): { coefficients: number[]; sharpness: number };
}
