import {
  createRng,
  determinant,
  exact,
  explicitHvp,
  frobenius,
  type Measure,
  type MeasureEstimate,
  maxEigenvalue,
  monteCarlo,
  polynomial,
  product,
  quadraticLoss,
  symmetricEigenvalues,
  trace,
  zerothOrder,
} from '@usam/measures';

/** One catalogue row checked three ways on one explicit Hessian. */
export interface Table1Row {
  readonly measure: string;
  readonly closedForm: number;
  readonly monteCarlo: SampledValue;
  readonly zerothOrder: SampledValue;
}

/** A sampling estimate and its z-score against the closed form (null where the error is 0). */
export interface SampledValue {
  readonly value: number;
  readonly standardError: number;
  readonly z: number | null;
}

export interface Table1Options {
  readonly seed: number;
  /** Dimension of the random Hessian. */
  readonly d: number;
  /** Draws per μ_ℓ for both sampling evaluators. */
  readonly samples: number;
  /** ρ for the zeroth-order evaluator (exact on a quadratic for any ρ > 0). */
  readonly rho: number;
}

/**
 * A seeded symmetric positive definite H = AAᵀ/d + ½I, with A standard normal:
 * its spectrum sits in about [0.5, 4] (det needs H ≻ 0), with no fixed upper
 * bound, so the product row takes its σ from the drawn spectrum ({@link productSigma}).
 */
export function randomHessian(d: number, seed: number): number[][] {
  const rng = createRng(`hessian:${seed}`);
  const normal = () =>
    Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const A = Array.from({ length: d }, () => Array.from({ length: d }, normal));
  return A.map((row, i) =>
    A.map((other, j) => row.reduce((s, a, k) => s + a * other[k]!, 0) / d + (i === j ? 0.5 : 0)),
  );
}

/**
 * σ for the product row on a Hessian with largest eigenvalue λ_max: 1/(8λ_max),
 * rounded down to two significant digits so that the printed σ is the one used.
 * The Monte Carlo mean of exp(σ·½vᵀHv), v ~ N(0, I), has k-th moment
 * Π(1 − kσλ_i)^(−1/2), finite iff kσλ_max < 1. Variance (k = 2) is the minimum for
 * an honest standard error; 1/(8λ_max) keeps moments up to the 7th finite, so the
 * standard error itself (4th moment) is stable and the z-score near normal.
 */
export function productSigma(lambdaMax: number): number {
  if (!(lambdaMax > 0)) throw new RangeError(`productSigma: λ_max must be > 0, got ${lambdaMax}.`);
  const sigma = 1 / (8 * lambdaMax);
  const unit = 10 ** (Math.floor(Math.log10(sigma)) - 1);
  return Number((Math.floor(sigma / unit) * unit).toPrecision(2));
}

/** Every row of Table 1 (docs/measures.md) that the SPD Hessian H supports. */
export function table1Measures(H: number[][]): Measure[] {
  const d = H.length;
  const lambdaMax = Math.max(...symmetricEigenvalues(H));
  return [
    trace('sphere'),
    trace('gaussian'),
    maxEigenvalue({ directions: 64 }),
    frobenius(),
    determinant(d),
    polynomial(2),
    polynomial(3),
    product(productSigma(lambdaMax)),
  ];
}

/**
 * Table 1 on one explicit Hessian: the closed form S(x) against the Monte
 * Carlo estimate (Hessian-vector products) and the zeroth-order R_ρ of
 * Definition 2 (losses only), each with its standard error. On a quadratic
 * both sampling estimates are unbiased for S (up to φ's O(1/n) bias); the max
 * eigenvalue row is the exception: over m random directions it is a lower bound.
 */
export async function* table1(options: Table1Options): AsyncGenerator<Table1Row> {
  const H = randomHessian(options.d, options.seed);
  for (const measure of table1Measures(H)) yield await checkMeasure(measure, H, options);
}

/** One Table 1 row: `measure` on the explicit Hessian H, three ways. */
export async function checkMeasure(
  measure: Measure,
  H: number[][],
  options: Omit<Table1Options, 'd'>,
): Promise<Table1Row> {
  const shapes = [[H.length]];
  const closedForm = exact(measure, H);
  // Independent draws for the two evaluators: on a quadratic, equal draws would
  // give equal numbers (Definition 2 is exact there) and prove less.
  const samples = options.samples;
  const mc = await monteCarlo(measure, explicitHvp(H), { shapes, samples, seed: options.seed });
  const zo = await zerothOrder(measure, quadraticLoss(H), {
    shapes,
    samples,
    seed: options.seed + 1,
    rho: options.rho,
  });
  // A point-mass μ (max eigenvalue) has no sampling error: no z-score.
  const sampled = ({ value, standardError }: MeasureEstimate): SampledValue => ({
    value,
    standardError,
    z: standardError > 1e-9 * Math.abs(value) ? (value - closedForm) / standardError : null,
  });
  return { measure: measure.name, closedForm, monteCarlo: sampled(mc), zerothOrder: sampled(zo) };
}
