import type { Tensor } from '@tensorflow/tfjs-core';
import { MeasureError, requireOptions, show } from './errors';
import { defineMeasure } from './measure';
import { integrateProductDensity, type QuadratureOptions } from './quadrature';
import { type LebesgueOptions, lebesgue } from './samplers';
import { concatenate } from './tensor-list';
import type { Measure, OuterFunction, Sampler, ScalarFunction } from './types';

/**
 * The scale-invariant family of "On Scale-Invariant Sharpness Measures"
 * (Tahmasebi et al., workshop paper), Theorem 1: μ with density
 *
 *     dμ(v) = f(v₁v₂⋯v_d) dv₁⋯dv_d
 *
 * for a measurable f ≥ 0 makes S(x; φ, ψ, μ) invariant under every diagonal D
 * with det D = 1, for every φ and ψ: substituting v = Du has Jacobian
 * |det D| = 1 and keeps ∏v_i, so S(D⁻¹HD⁻¹) = S(H), and likewise the
 * zeroth-order R_ρ at Dx equals R_ρ at x for a loss with L(Dx) = L(x).
 * The determinant is the member f ≡ 1. See docs/scale-invariant.md.
 */

/** f of dμ = f(v₁⋯v_d)dv: a function of the product p = v₁⋯v_d. */
export interface ProductDensity {
  readonly name: string;
  /** f(p) ≥ 0, finite. */
  value(p: number): number;
  /** log f(p) (−∞ where f = 0), where it is exact past float64's range: exp(−p²) → −p². */
  log?(p: number): number;
}

/** A sampler of μ_f: a proposal draw v with log weight log f(∏v) − log q(v). */
export interface ProductDensitySampler extends Sampler {
  readonly density: ProductDensity;
  /** log f(p), checked: throws where f(p) is negative, NaN or infinite. */
  logDensity(p: number): number;
  logWeight(v: readonly Tensor[], dimension: number): number;
}

/** The checked log f, shared by the sampler and the quadrature. */
function checkedLogDensity(density: ProductDensity, where: string): (p: number) => number {
  const bad = (p: number, what: string) =>
    new MeasureError(
      `${where}: the density f must be finite and ≥ 0 (μ = f(v₁⋯v_d)·Lebesgue), but f(${show(p)}) ${what}; fix f.`,
    );
  return (p) => {
    if (density.log) {
      const l = density.log(p);
      if (typeof l !== 'number' || Number.isNaN(l) || l === Number.POSITIVE_INFINITY) {
        throw bad(p, `has log f = ${show(l)}`);
      }
      return l;
    }
    const f = density.value(p);
    if (typeof f !== 'number' || !Number.isFinite(f) || f < 0) throw bad(p, `= ${show(f)}`);
    return Math.log(f);
  };
}

/** A `ProductDensity` from a plain function or an object, checked at a few points. */
function toDensity(density: unknown, where: string): ProductDensity {
  const given =
    typeof density === 'function'
      ? {
          name: (density as { name?: string }).name || 'f',
          value: density as (p: number) => number,
        }
      : (density as ProductDensity);
  if (typeof given !== 'object' || given === null || typeof given.value !== 'function') {
    throw new MeasureError(
      `${where}: density must be a function f(p) ≥ 0 of p = v₁⋯v_d, or { name, value(p), log?(p) }, got ${show(density)}.`,
    );
  }
  if (given.log !== undefined && typeof given.log !== 'function') {
    throw new MeasureError(`${where}: density.log must be a function p ↦ log f(p).`);
  }
  const logF = checkedLogDensity(given, where);
  for (const p of [0, 0.5, -1, 2]) {
    const l = logF(p);
    // A `log` that disagrees with `value` would weight draws and quadrature differently.
    if (given.log) {
      const f = given.value(p);
      const gap = Math.abs(Math.exp(l) - f);
      if (!(gap <= 1e-9 * Math.max(f, Number.MIN_VALUE))) {
        throw new MeasureError(
          `${where}: density.log(${p}) = ${show(l)} but log(density.value(${p})) = ${show(Math.log(f))}; make them agree.`,
        );
      }
    }
  }
  return Object.freeze({
    name: typeof given.name === 'string' ? given.name : 'f',
    value: (p: number) => given.value(p),
    ...(given.log && { log: (p: number) => given.log!(p) }),
  });
}

/** sign·exp(Σ log|v_i|) = v₁⋯v_d without underflow on the way (±∞ past float64). */
export function productOf(values: ArrayLike<number>): number {
  let sign = 1;
  let log = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (x === 0) return 0;
    if (x < 0) sign = -sign;
    log += Math.log(Math.abs(x));
  }
  return sign * Math.exp(log);
}

/**
 * μ_f = f(v₁⋯v_d)·Lebesgue on R^d (Theorem 1's measures), sampled as the
 * determinant's Lebesgue measure is (`lebesgue`, whose proposal options this
 * takes): v ~ q, weight w(v) = f(∏v)/q(v), so E_q[w·ψ(½vᵀHv)] = ∫ψ dμ_f.
 * Every draw checks f(∏v) (finite, ≥ 0). μ_f has infinite mass for d ≥ 2 (f
 * is constant on the hyperbolas ∏v = p), so the integrals converge only where
 * ψ(½vᵀHv) decays, as ψ = exp(−t) does for suitable H.
 */
export function productDensity(
  density: ProductDensity | ((p: number) => number),
  proposal: LebesgueOptions = {},
): ProductDensitySampler {
  const f = toDensity(density, 'productDensity');
  const base = lebesgue(proposal);
  const logDensity = checkedLogDensity(f, `productDensity(${f.name})`);
  return Object.freeze({
    name: `f(v₁⋯v_d)dv, f = ${f.name}, proposal ${base.name}`,
    density: f,
    logDensity,
    sample: base.sample,
    logWeight: (v: readonly Tensor[], dimension: number) => {
      const p = productOf(concatenate(v.map((t) => t.dataSync() as Float32Array)));
      return base.logWeight!(v, dimension) + logDensity(p);
    },
  });
}

/** What `scaleInvariant` takes. */
export interface ScaleInvariantDefinition {
  readonly name: string;
  /** f of dμ = f(v₁⋯v_d)dv (Theorem 1, eq. 8). */
  readonly density: ProductDensity | ((p: number) => number);
  /** ψ, or ψ_1..ψ_m sharing the one μ_f (then φ takes m arguments). */
  readonly psi: ScalarFunction | readonly ScalarFunction[];
  readonly phi: OuterFunction;
  /** The proposal μ_f is sampled through (`lebesgue`'s options; default N(0, I)). */
  readonly proposal?: LebesgueOptions;
  /** The d the measure is built for, where φ depends on it. */
  readonly dimension?: number;
  /**
   * Why the integrals diverge at H (one line), or undefined where they converge.
   * Without it, `exact` finds divergence numerically (quadrature, d ≤ 3) and the
   * sampling evaluators cannot tell: give it where you know the condition.
   */
  readonly divergence?: (H: readonly (readonly number[])[]) => string | undefined;
  /** Quadrature settings for `exact` (d ≤ 3). */
  readonly quadrature?: QuadratureOptions;
}

/**
 * A (φ, ψ, μ_f) measure of Theorem 1's scale-invariant family: any φ, any ψ,
 * μ_f = f(v₁⋯v_d)dv (`productDensity`). Usable by every evaluator and by
 * Algorithm 3 like any `Measure`; `exact` evaluates it by quadrature for d ≤ 3
 * (S depends on H's entries, not only its eigenvalues: μ_f is not rotation
 * invariant). S(D⁻¹HD⁻¹) = S(H) for diagonal D with det D = 1.
 */
export function scaleInvariant(definition: ScaleInvariantDefinition): Measure {
  if (typeof definition !== 'object' || definition === null) {
    throw new MeasureError(
      `scaleInvariant: give { name, density, psi, phi }, e.g. { name: 'mine', density: (p) => Math.exp(-p * p), psi: psi.exp(-1), phi: phi.inverseSquare() }, got ${show(definition)}.`,
    );
  }
  const { name, density, phi, proposal, dimension, divergence, quadrature } = definition;
  const where = `scaleInvariant(${typeof name === 'string' ? `'${name}'` : '?'})`;
  const known = [
    'name',
    'density',
    'psi',
    'phi',
    'proposal',
    'dimension',
    'divergence',
    'quadrature',
  ];
  const unknown = Object.keys(definition).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new MeasureError(
      `${where}: unknown option ${unknown.map((k) => `'${k}'`).join(', ')}; valid options are ${known.join(', ')}.`,
    );
  }
  requireOptions(`${where}: quadrature`, quadrature, ['tolerance', 'maxEvaluations']);
  if (density === undefined) {
    throw new MeasureError(`${where}: needs density, the f of dμ = f(v₁⋯v_d)dv.`);
  }
  if (divergence !== undefined && typeof divergence !== 'function') {
    throw new MeasureError(`${where}: divergence must be a function of the Hessian matrix.`);
  }
  const psis = Array.isArray(definition.psi)
    ? (definition.psi as readonly ScalarFunction[])
    : [definition.psi as ScalarFunction];
  let mu: ProductDensitySampler;
  try {
    mu = productDensity(density, proposal);
  } catch (error) {
    throw new MeasureError(`${where}: ${(error as Error).message}`, { cause: error });
  }
  const logF = checkedLogDensity(mu.density, where);
  return defineMeasure({
    name,
    components: psis.map((psi) => ({ mu, psi })),
    phi,
    sharedSamples: true,
    ...(dimension !== undefined && { dimension }),
    ...(divergence && { matrixDivergence: divergence }),
    matrixForm: (H) => {
      const { values } = integrateProductDensity(H, psis, logF, `exact(${name})`, quadrature);
      return phi.value(values);
    },
  });
}
