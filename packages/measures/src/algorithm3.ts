import { type Tensor, Tensor as TensorClass } from '@tensorflow/tfjs-core';
import { MeasureError, show } from './errors';
import type { Shapes } from './tensor-list';
import type {
  CoefficientRule,
  Draws,
  Measure,
  OuterFunction,
  Rng,
  Sampler,
  ScalarFunction,
  SignedLog,
} from './types';

/**
 * The sampling half of Algorithm 3, once, for every consumer: the Monte Carlo
 * and zeroth-order evaluators here and the optimizer's step. Given the draws of
 * one round (per group of components, the quadratic form q_i of each draw and
 * its importance weight log w_i), it returns
 *
 *     t̂_ℓ = (1/n) Σ_i w_i·ψ_ℓ(q_i),   φ(t̂),   ∂φ(t̂),
 *     c_(ℓ,i) = ∂_ℓφ(t̂)·w_i·ψ'_ℓ(q_i)/n   (eq. 94, summed over the ℓ a shared draw serves),
 *
 * so the optimizer's composite gradient is ∇L + λ·Σ_j c_j(∇L_j − ∇L). All of it in
 * log space where φ is homogeneous (φ(s·t) = s^k·φ(t), the trace, max, polynomial,
 * determinant and product rows): with W = max log(w_i·|ψ(q_i)|), t̂ = e^W·t̂′ and
 * every result is one exp of a sum of logs, so Det-SAM's e^{−q} and the
 * determinant's (2π)^d and Lebesgue weights never overflow on the way to a
 * representable answer (d ≥ 550 included).
 */

export type { CoefficientRule, Draws } from './types';

/**
 * Draws with the quadratic forms under their old name `d`
 * (docs/errors-and-vocabulary.md: `d` is also the dimension).
 * @deprecated Pass `{ q, logWeights }`.
 */
export interface LegacyDraws {
  readonly d: readonly (readonly number[])[];
  readonly logWeights: readonly (readonly number[])[];
}

/** What a round of draws gives (see the module comment). */
export interface DrawsSummary {
  /** t̂_ℓ, ℓ = 1..m (±∞ only where t̂ itself is beyond float64). */
  readonly means: number[];
  /** φ(t̂). */
  readonly value: number;
  /** ∂φ(t̂). */
  readonly gradient: number[];
  /** values[group][i][k] = w_i·ψ_ℓ(q_i) for the k-th component ℓ of the group. */
  readonly values: number[][][];
  /**
   * c_j per draw, group by group, in the measure's coefficient rule (Algorithm 3,
   * or the covariance form of the Frobenius entry).
   */
  readonly coefficients: number[];
  /** The estimate of R_ρ (Definition 2) the rule gives: φ(t̂), or the unbiased 2·Var(q) for the covariance form. */
  readonly sharpness: number;
}

/** A group of components sharing one set of draws from `mu`. */
export interface DrawGroup {
  readonly mu: Sampler;
  readonly components: readonly number[];
}

/** One group serving every component when samples are shared; else one group per component. */
export const drawGroups = (measure: Measure): DrawGroup[] =>
  measure.sharedSamples
    ? [{ mu: measure.components[0]!.mu, components: measure.components.map((_, l) => l) }]
    : measure.components.map((c, l) => ({ mu: c.mu, components: [l] }));

/** One draw of a round: v ~ μ of its group, and log w(v). */
export interface Draw {
  readonly group: number;
  readonly v: Tensor[];
  readonly logWeight: number;
}

/**
 * The draws of one round of Algorithm 3, for every consumer (the evaluators
 * here and the optimizer's step): n per group, group by group, each v checked
 * by `check` (which throws the caller's own message) and disposed when the
 * consumer moves on to the next draw or stops.
 */
export function* drawRound(
  groups: readonly DrawGroup[],
  round: {
    readonly shapes: Shapes;
    readonly n: number;
    readonly rng: Rng;
    readonly dimension: number;
  },
  check: (v: unknown, mu: Sampler) => void,
): Generator<Draw, void, undefined> {
  for (const [group, { mu }] of groups.entries()) {
    for (let i = 0; i < round.n; i++) {
      const v: unknown = mu.sample(round.shapes, round.rng);
      try {
        check(v, mu);
        const tensors = v as Tensor[];
        yield {
          group,
          v: tensors,
          logWeight: mu.logWeight ? mu.logWeight(tensors, round.dimension) : 0,
        };
      } finally {
        // A bad sampler's return may be anything: dispose only what is a tensor.
        if (Array.isArray(v)) for (const t of v) if (t instanceof TensorClass) t.dispose();
      }
    }
  }
}

/** The name of the coefficient rule a measure carries: 'algorithm 3' unless its catalogue entry has a closed form. */
export const coefficientRule = (measure: Measure): string =>
  measure.coefficientRule?.name ?? 'algorithm 3';

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Frob-SAM's covariance form (Algorithm 2), for the Frobenius triple's φ and ψ:
 * with shared draws, Algorithm 3 on it reduces to g = ∇L + λ·(4/ρ²)·ĉov(L_i, ∇L_i),
 * where the clean loss cancels. Unbiased: c_i = 4(q_i − q̄)/(n − 1), Algorithm 3's
 * coefficients times n/(n − 1), and the estimate 2·Σ(q_i − q̄)²/(n − 1).
 */
export const covarianceRule = (
  phi: OuterFunction,
  psi: readonly ScalarFunction[],
): CoefficientRule => ({
  name: 'covariance (Algorithm 2)',
  phi,
  psi,
  compute({ q: [q] }) {
    const n = q!.length;
    const qbar = mean(q!);
    const centred = q!.map((qi) => qi - qbar);
    return {
      coefficients: centred.map((c) => (4 * c) / (n - 1)),
      sharpness: (2 * centred.reduce((a, c) => a + c * c, 0)) / (n - 1),
    };
  },
});

/** The rule a measure carries, checked to be for its own φ and ψ (a copy may have swapped them). */
export function ruleOf(
  measure: Measure,
  where = `summarizeDraws(${measure.name})`,
): CoefficientRule | undefined {
  const rule = measure.coefficientRule;
  if (rule === undefined) return undefined;
  const same =
    rule.phi === measure.phi &&
    rule.psi.length === measure.components.length &&
    rule.psi.every((p, l) => p === measure.components[l]!.psi);
  if (!same) {
    throw new MeasureError(
      `${where}: its coefficientRule '${rule.name}' is for another φ or ψ; drop the field (defineMeasure({ ...measure }) does) to use Algorithm 3.`,
    );
  }
  return rule;
}

/** The quadratic forms of `draws`, under `q` or their old name `d`. */
function quadraticForms(draws: Draws | LegacyDraws, where: string) {
  const q = (draws as Partial<Draws>).q;
  const d = (draws as Partial<LegacyDraws>).d;
  if (q !== undefined && d !== undefined) {
    throw new MeasureError(`${where}: got both q and d; pass q only (d is its old name).`);
  }
  return q ?? d;
}

/** sign(x)·exp(logMagnitude), with 0 for a zero sign whatever the magnitude. */
const signedExp = (sign: number, logMagnitude: number) =>
  sign === 0 ? 0 : sign * Math.exp(logMagnitude);

/** x as sign·e^{log}. */
const toLog = (x: number): SignedLog => ({ sign: Math.sign(x), log: Math.log(Math.abs(x)) });

/** Algorithm 3's sampling half on one round of draws (see the module comment). */
export function summarizeDraws(measure: Measure, given: Draws | LegacyDraws): DrawsSummary {
  const where = `summarizeDraws(${measure.name})`;
  const groups = drawGroups(measure);
  const q = quadraticForms(given, where);
  const { logWeights } = given;
  if (!Array.isArray(q) || !Array.isArray(logWeights)) {
    throw new MeasureError(
      `${where}: draws must be { q, logWeights }, one array per group of draws, got ${show(given)}.`,
    );
  }
  if (q.length !== groups.length || logWeights.length !== groups.length) {
    throw new MeasureError(
      `${where}: expected ${groups.length} group(s) of draws, got ${q.length}.`,
    );
  }
  const draws: Draws = { q, logWeights };
  const rule = ruleOf(measure);
  const m = measure.components.length;
  // Per group, draw and component: log|w·ψ| and log|w·ψ'| with their signs.
  const terms = groups.map(({ components }, g) =>
    draws.q[g]!.map((qi, i) => {
      const lw = draws.logWeights[g]![i]!;
      return components.map((l) => {
        const { psi } = measure.components[l]!;
        const value = psi.logForm?.(qi) ?? toLog(psi.value(qi));
        const slope = psi.logFormDerivative?.(qi) ?? toLog(psi.derivative(qi));
        return {
          sign: value.sign,
          log: lw + value.log,
          slopeSign: slope.sign,
          slopeLog: lw + slope.log,
        };
      });
    }),
  );
  const { phi } = measure;
  const homogeneous = phi.homogeneous;
  // W: the shift that brings the largest w·|ψ| to 1 (only where φ allows pulling it out).
  let W = 0;
  if (homogeneous) {
    W = Number.NEGATIVE_INFINITY;
    for (const row of terms) for (const draw of row) for (const t of draw) W = Math.max(W, t.log);
    if (!Number.isFinite(W)) W = 0;
  }
  const scaled = new Array<number>(m).fill(0);
  groups.forEach(({ components }, g) => {
    const n = terms[g]!.length;
    components.forEach((l, k) => {
      scaled[l] =
        terms[g]!.reduce((s, draw) => s + signedExp(draw[k]!.sign, draw[k]!.log - W), 0) / n;
    });
  });
  const base = homogeneous?.base ?? phi;
  const degree = homogeneous?.degree ?? 0;
  const logScale = homogeneous?.logScale ?? 0;
  const baseValue = base.value(scaled);
  const baseGradient = base.gradient(scaled);
  // φ(e^W t′) = e^{logScale + kW}·base(t′), ∂φ(e^W t′) = e^{logScale + (k−1)W}·∂base(t′).
  const value = signedExp(
    Math.sign(baseValue),
    logScale + degree * W + Math.log(Math.abs(baseValue)),
  );
  const gradientLog = baseGradient.map((b) => logScale + (degree - 1) * W + Math.log(Math.abs(b)));
  const gradient = baseGradient.map((b, l) => signedExp(Math.sign(b), gradientLog[l]!));
  const coefficients = groups.flatMap(({ components }, g) => {
    const n = terms[g]!.length;
    return terms[g]!.map((draw) =>
      components.reduce((c, l, k) => {
        const sign = Math.sign(baseGradient[l]!) * draw[k]!.slopeSign;
        return c + signedExp(sign, gradientLog[l]! + draw[k]!.slopeLog) / n;
      }, 0),
    );
  });
  const special = rule?.compute(draws);
  return {
    means: scaled.map((t) => t * Math.exp(W)),
    value,
    gradient,
    values: terms.map((row) => row.map((draw) => draw.map((t) => signedExp(t.sign, t.log)))),
    coefficients: special?.coefficients ?? coefficients,
    sharpness: special?.sharpness ?? value,
  };
}

/** Throws unless n meets the measure's fewest samples (and the caller's own floor). */
export function checkSamples(measure: Measure, n: unknown, where: string, floor = 1, why = '') {
  const least = Math.max(floor, measure.minSamples ?? 1);
  if (!(typeof n === 'number' && Number.isInteger(n) && n >= least)) {
    const reason =
      least === (measure.minSamples ?? 1) && least > 1
        ? ` (measure '${measure.name}' needs ${least}: with fewer shared draws φ = ${measure.phi.name} is degenerate)`
        : why;
    throw new MeasureError(
      `${where}: samples must be an integer ≥ ${least}${reason}, got ${show(n)}.`,
    );
  }
  return n;
}
