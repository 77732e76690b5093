import { covarianceRule } from './algorithm3';
import { MeasureError, requireOptions, show } from './errors';
import { checkDegree, phi, psi } from './functions';
import { symmetricEigenvalues } from './linalg';
import { defineMeasure } from './measure';
import {
  gaussian,
  hypercube,
  type LebesgueOptions,
  lebesgue,
  randomDirection,
  sphere,
} from './samplers';
import { scaleInvariant } from './scale-invariant';
import type { Measure, OuterFunction } from './types';

/**
 * The catalogue of Table 1 (docs/measures.md): each factory returns a `Measure` (data)
 * with the closed form S(x) of the table's right column in the eigenvalues λ_i
 * of H. Throughout, q = ½vᵀHv.
 */

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * Trace. φ = ψ = identity.
 * - `'sphere'`: μ = Uniform(S^{d−1}) (Table 1, row 1), S = tr(H)/(2d), since E[vvᵀ] = I/d.
 * - `'gaussian'`: μ = N(0, I), S = tr(H)/2, since E[vvᵀ] = I (what the paper's
 *   Trace-SAM experiments sample, docs/lambda.md).
 */
export function trace(mu: 'sphere' | 'gaussian' = 'sphere'): Measure {
  if (mu !== 'sphere' && mu !== 'gaussian') {
    throw new MeasureError(`trace: mu must be 'sphere' or 'gaussian', got '${String(mu)}'.`);
  }
  return defineMeasure({
    name: `trace (${mu})`,
    components: [{ mu: mu === 'sphere' ? sphere() : gaussian(), psi: psi.identity }],
    phi: phi.identity,
    closedForm: (lambda) => (mu === 'sphere' ? sum(lambda) / (2 * lambda.length) : sum(lambda) / 2),
  });
}

/**
 * Maximum eigenvalue (Table 1, row 2): φ = 2·max, ψ_ℓ = identity, μ_ℓ = δ_{u_ℓ}
 * for unit vectors u_ℓ, in the limit m → ∞ over all of S^{d−1}:
 * 2·max_{‖u‖=1} ½uᵀHu = λ_max.
 *
 * Represented with m = `directions` point masses at seeded random unit vectors
 * (`randomDirection`), so the measure is finite data. Its Monte Carlo and
 * zeroth-order values are the largest Rayleigh quotient over those m directions:
 * exact for them (standard error 0, as every draw of δ_u is u), but a lower bound
 * on λ_max that converges only as m grows, slowly in high d where random
 * directions see about tr(H)/d. `closedForm` is the limit, λ_max, exactly; for a
 * network's λ_max use power iteration (@usam/estimators).
 */
export function maxEigenvalue(
  options: { directions?: number; seed?: number | string } = {},
): Measure {
  requireOptions('maxEigenvalue', options, ['directions', 'seed']);
  const { directions = 16, seed = 0 } = options;
  if (!(Number.isInteger(directions) && directions >= 1)) {
    throw new MeasureError(
      `maxEigenvalue: directions (m) must be an integer ≥ 1, got ${show(directions)}.`,
    );
  }
  return defineMeasure({
    name: `max eigenvalue (${directions} directions)`,
    components: Array.from({ length: directions }, (_, l) => ({
      mu: randomDirection(`${seed}:${l}`),
      psi: psi.identity,
    })),
    phi: phi.max(2),
    sharedSamples: false,
    closedForm: (lambda) => Math.max(...lambda),
  });
}

/**
 * Squared Frobenius norm (Table 1, row 3): φ = 2(t₂ − t₁²), ψ = (t, t²),
 * μ = N(0, I) for both, sharing samples (Frob-SAM). For v ~ N(0, I),
 * Var(q) = ½‖H‖_F², so S = 2 Var(q) = Σλ_i² = ‖H‖_F².
 *
 * It carries the covariance form of Algorithm 2 (its `coefficientRule` field, kept
 * by copies and when μ is replaced) and needs n ≥ 2: with one shared draw 2(t₂ − t₁²) = 2(q² − q²) = 0,
 * a step that pays for a gradient and does nothing.
 */
export function frobenius(): Measure {
  const mu = gaussian();
  const measure = defineMeasure({
    name: 'frobenius',
    components: [
      { mu, psi: psi.identity },
      { mu, psi: psi.power(2) },
    ],
    phi: phi.variance,
    sharedSamples: true,
    minSamples: 2,
    closedForm: (lambda) => sum(lambda.map((l) => l * l)),
  });
  const psis = measure.components.map((c) => c.psi);
  return Object.freeze({ ...measure, coefficientRule: covarianceRule(measure.phi, psis) });
}

/**
 * Determinant (Table 1, row 4): φ(t) = (2π)^d/t², ψ(t) = exp(−t), μ = Lebesgue
 * on R^d. For H ≻ 0, ∫exp(−½vᵀHv)dv = (2π)^{d/2} det(H)^{−1/2} (eq. 17), so
 * S = det H = Π λ_i. φ depends on d, hence `dimension`. The Lebesgue measure is
 * sampled through a proposal (`lebesgue`, whose options this takes).
 *
 * `closedForm` is Π λ_i for every H (Example 1's det H = −1). The integral
 * diverges unless H ≻ 0; `divergence` says so and `exact` refuses such H unless
 * asked, while Monte Carlo cannot tell and returns noise (docs/measures.md:
 * det H only for H ≻ 0).
 */
export function determinant(dimension: number, options: LebesgueOptions = {}): Measure {
  if (!(Number.isInteger(dimension) && dimension >= 1)) {
    throw new MeasureError(
      `determinant: dimension d must be an integer ≥ 1 (φ = (2π)^d/t² depends on it), got ${show(dimension)}.`,
    );
  }
  return defineMeasure({
    name: 'determinant',
    components: [{ mu: lebesgue(options), psi: psi.exp(-1) }],
    phi: { ...phi.inverseSquare(dimension * Math.log(2 * Math.PI)), name: '(2π)^d/t²' },
    closedForm: (lambda) => lambda.reduce((a, b) => a * b, 1),
    divergence: (lambda) => {
      // λ within round-off of 0 (d·ε·max|λ|, the usual numerical-rank cut) counts as 0.
      const floor = lambda.length * Number.EPSILON * Math.max(...lambda.map(Math.abs));
      const i = lambda.findIndex((l) => !(l > floor));
      return i < 0
        ? undefined
        : `determinant: H is not positive definite (eigenvalue λ = ${show(lambda[i]!)} ≤ 0 up to round-off), so the Lebesgue integral ∫exp(−½vᵀHv)dv diverges and det H has no (φ, ψ, μ) representation here`;
    },
    dimension,
  });
}

/** What `dampedDeterminant` takes: the damping c and the proposal μ is sampled through. */
export type DampedDeterminantOptions = LebesgueOptions & {
  /** c ≥ 0 in f(p) = exp(−c·p²) (default 1); c = 0 is the determinant. */
  readonly strength?: number;
  /**
   * φ(t) = d·log 2π − 2·log t, so S is the logarithm of the damped determinant
   * (default false). The same invariance (Theorem 1 holds for every φ), and the
   * form to train with: Algorithm 3's coefficients become self-normalised
   * importance weights, 2·w_iψ_i/Σ_j w_jψ_j ∈ [0, 2], where (2π)^d/t² gives
   * 2φ(t̂)·w_iψ_i/(n·t̂), unbounded as t̂ → 0. As an objective,
   * L + λρ²·log S = (1 − 2λ)·L(x) + 2λ·(−ρ² log ∫e^{−L(x+ρv)/ρ²}dμ) + const,
   * so train with λ < ½ (docs/scale-invariant.md).
   */
  readonly logarithm?: boolean;
};

/**
 * The damped determinant, a member of the workshop paper's scale-invariant
 * family (Theorem 1, eq. 8) beyond the determinant: φ(t) = (2π)^d/t²,
 * ψ(t) = exp(−t), dμ(v) = f(v₁⋯v_d)dv with f(p) = exp(−c·p²):
 *
 *     S(H) = (2π)^d · ( ∫ exp(−½vᵀHv − c(v₁⋯v_d)²) dv )^{−2}
 *
 * S(D⁻¹HD⁻¹) = S(H) for every diagonal D with det D = 1 (so S at Dx equals S
 * at x for a loss with L(Dx) = L(x), Theorem 1), c = 0 gives det H, and
 * S ≥ det H. Unlike det H it is finite on Hessians that are not positive
 * definite: for c > 0 and d ≥ 2 the integral converges exactly when every
 * principal (d−1)×(d−1) submatrix of H is positive definite (d = 1: when
 * H + 2c > 0, and then S = H + 2c); `matrixDivergence` says which fails. On
 * Example 2's zero-loss manifold, where det H = 0, it is finite and the same
 * at every (k, 1/k). `exact` integrates numerically (d ≤ 3); Monte Carlo
 * samples the Lebesgue part through `lebesgue`'s proposal (default N(0, I))
 * with log weights log f(∏v) − log q(v). See docs/scale-invariant.md.
 */
export function dampedDeterminant(
  dimension: number,
  options: DampedDeterminantOptions = {},
): Measure {
  if (!(Number.isInteger(dimension) && dimension >= 1)) {
    throw new MeasureError(
      `dampedDeterminant: dimension d must be an integer ≥ 1 (φ = (2π)^d/t² depends on it), got ${show(dimension)}.`,
    );
  }
  if (typeof options !== 'object' || options === null) {
    throw new MeasureError(
      `dampedDeterminant: options must be an object { strength, proposal, scale }, got ${show(options)}.`,
    );
  }
  const { strength: c = 1, logarithm = false, ...proposal } = options;
  if (typeof logarithm !== 'boolean') {
    throw new MeasureError(
      `dampedDeterminant: logarithm must be true or false, got ${show(logarithm)}.`,
    );
  }
  if (!(typeof c === 'number' && Number.isFinite(c) && c >= 0)) {
    throw new MeasureError(
      `dampedDeterminant: strength c (f(p) = exp(−c·p²)) must be a finite number ≥ 0, got ${show(c)}.`,
    );
  }
  const base = c === 1 ? 'damped determinant' : `damped determinant (c=${show(c)})`;
  const name = logarithm ? `log ${base}` : base;
  const logTwoPi = dimension * Math.log(2 * Math.PI);
  const outer: OuterFunction = logarithm
    ? {
        name: 'd·log 2π − 2·log t',
        value: ([t]) => logTwoPi - 2 * Math.log(t!),
        gradient: ([t]) => [-2 / t!],
      }
    : { ...phi.inverseSquare(logTwoPi), name: '(2π)^d/t²' };
  return scaleInvariant({
    name,
    density: {
      name: `exp(−${c === 1 ? '' : show(c)}p²)`,
      value: (p) => Math.exp(-c * p * p),
      log: (p) => -c * p * p,
    },
    psi: psi.exp(-1),
    phi: outer,
    proposal: proposal as LebesgueOptions,
    dimension,
    divergence: (H) => dampedDivergence(H, c, name),
  });
}

/** Smallest eigenvalue of a symmetric matrix given by rows (ml-matrix, via linalg). */
const smallestEigenvalue = (rows: readonly (readonly number[])[]) =>
  rows.length === 0 ? Number.POSITIVE_INFINITY : symmetricEigenvalues(rows as number[][])[0]!;

/** Where ∫exp(−½vᵀHv − c(∏v)²)dv diverges (docs/scale-invariant.md has the proof). */
function dampedDivergence(
  H: readonly (readonly number[])[],
  c: number,
  name: string,
): string | undefined {
  const d = H.length;
  const scale = Math.max(...H.map((row) => Math.max(...row.map(Math.abs))));
  // Within round-off of 0 (d·ε·max|H|, as for the determinant) counts as 0.
  const floor = d * Number.EPSILON * scale;
  if (c === 0 || d === 1) {
    const lambda = smallestEigenvalue(H);
    const shift = d === 1 ? 2 * c : 0;
    if (lambda + shift > floor) return undefined;
    return d === 1
      ? `${name}: H + 2c = ${show(lambda + shift)} ≤ 0 in d = 1, so ∫exp(−½Hv² − cv²)dv diverges`
      : `${name}: H is not positive definite (eigenvalue λ = ${show(lambda)} ≤ 0 up to round-off), so ∫exp(−½vᵀHv)dv diverges (c = 0 is the determinant)`;
  }
  for (let i = 0; i < d; i++) {
    const minor = H.filter((_, r) => r !== i).map((row) => row.filter((_, k) => k !== i));
    const lambda = smallestEigenvalue(minor);
    if (!(lambda > floor)) {
      return `${name}: H without row and column ${i} is not positive definite (eigenvalue ${show(lambda)} ≤ 0 up to round-off), so ∫exp(−½vᵀHv − c(v₁⋯v_d)²)dv diverges near the hyperplane v_${i + 1} = 0, where the damping f(v₁⋯v_d) = 1`;
    }
  }
  return undefined;
}

/**
 * Det-SAM's measure (docs/sharpness-aware-step.md): the determinant row as trained, ψ = exp(−t),
 * φ = 1/t², μ = uniform on the hypercube [−h, h]^d, with the Lebesgue integral
 * truncated to the cube and its constants (2π)^d and the volume (2h)^d dropped
 * (they only rescale λ, docs/measures.md). Works in any d; Algorithm 3 evaluates it in
 * log space, so no finite d_i gives NaN or ±∞. With h small,
 * E[e^{−q}] ≈ 1 − h²·tr(H)/6, so to first order it measures the trace.
 */
export function hypercubeDeterminant(halfWidth = 0.01): Measure {
  return defineMeasure({
    name: `determinant (hypercube h=${show(halfWidth)})`,
    components: [{ mu: hypercube(halfWidth), psi: psi.exp(-1) }],
    phi: phi.inverseSquare(),
  });
}

/**
 * E_{v~Uniform(S^{d−1})}[(½vᵀHv)ⁿ] from the eigenvalues: the polynomial row's
 * q(λ_1, …, λ_d) (Table 1, eq. 22), homogeneous of degree n.
 *
 * For g ~ N(0, I), g = ‖g‖·v with ‖g‖ independent of v, so
 * E[(gᵀHg)ⁿ] = E‖g‖^{2n}·E[(vᵀHv)ⁿ] with E‖g‖^{2n} = d(d+2)…(d+2n−2). The
 * Gaussian moments μ_j = E[(gᵀHg)^j] follow from the cumulants
 * κ_k = 2^{k−1}(k−1)! tr(H^k) by μ_j = Σ_{k=1}^{j} C(j−1, k−1) κ_k μ_{j−k}.
 * n = 1: tr(H)/(2d); n = 2: (tr(H)² + 2‖H‖_F²)/(4d(d+2)).
 */
export function sphereMoment(eigenvalues: readonly number[], n: number): number {
  checkDegree(n, 'sphereMoment');
  const d = eigenvalues.length;
  if (d < 1) throw new MeasureError('sphereMoment: needs at least one eigenvalue.');
  // Work with H/2 directly: κ_k(½gᵀHg) = 2^{k−1}(k−1)!·tr((H/2)^k) = (k−1)!/2·tr(H^k).
  const kappa = [0];
  let factorial = 1; // (k−1)!
  for (let k = 1; k <= n; k++) {
    if (k > 1) factorial *= k - 1;
    kappa.push((factorial / 2) * sum(eigenvalues.map((l) => l ** k)));
  }
  const moments = [1];
  for (let j = 1; j <= n; j++) {
    let mj = 0;
    let binomial = 1; // C(j−1, k−1)
    for (let k = 1; k <= j; k++) {
      mj += binomial * kappa[k]! * moments[j - k]!;
      binomial = (binomial * (j - k)) / k;
    }
    moments.push(mj);
  }
  let normMoment = 1; // E‖g‖^{2n}
  for (let j = 0; j < n; j++) normMoment *= d + 2 * j;
  return moments[n]! / normMoment;
}

/**
 * Polynomial of the eigenvalues (Table 1, row 5): φ = identity, ψ = tⁿ,
 * μ = Uniform(S^{d−1}); S = E[(½vᵀHv)ⁿ], a homogeneous polynomial of degree n
 * in the λ_i (`sphereMoment`). n is an integer ≥ 1.
 */
export function polynomial(n: number): Measure {
  checkDegree(n, 'polynomial');
  return defineMeasure({
    name: `polynomial(n=${n})`,
    components: [{ mu: sphere(), psi: psi.power(n) }],
    phi: phi.identity,
    closedForm: (lambda) => sphereMoment(lambda, n),
  });
}

/**
 * Product (Table 1, row 6): φ = 1/t², ψ = exp(σt), μ = N(0, I). For v ~ N(0, I),
 * E[exp(σ·½vᵀHv)] = Π(1 − σλ_i)^{−1/2} when every 1 − σλ_i > 0 (and diverges
 * otherwise), so S = Π(1 − σλ_i). Monte Carlo has finite variance only when
 * also 1 − 2σλ_i > 0; choose |σ| small against 1/|λ|.
 */
export function product(sigma: number): Measure {
  if (!Number.isFinite(sigma)) {
    throw new MeasureError(`product: σ must be a finite number, got ${show(sigma)}.`);
  }
  return defineMeasure({
    name: `product(σ=${show(sigma)})`,
    components: [{ mu: gaussian(), psi: psi.exp(sigma) }],
    phi: phi.inverseSquare(),
    closedForm: (lambda) => lambda.reduce((a, l) => a * (1 - sigma * l), 1),
    divergence: (lambda) => {
      // The binding eigenvalue is the one with the largest σλ.
      const l = lambda.reduce((worst, x) => (sigma * x > sigma * worst ? x : worst), lambda[0]!);
      if (1 - sigma * l > 0) return undefined;
      return `product: 1 − σλ = ${show(1 - sigma * l)} ≤ 0 for σ = ${show(sigma)} and eigenvalue λ = ${show(l)}, so E[exp(σ·½vᵀHv)] diverges; take σ ${l > 0 ? '<' : '>'} 1/λ = ${show(1 / l)}`;
    },
  });
}
