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
 * its spectrum sits in about [0.5, 4], where every Table 1 row is defined
 * (det needs H ≻ 0; the product row with σ = 0.2 needs λ < 5).
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

/** Every row of Table 1 (SPEC §2) that a random SPD Hessian supports. */
export function table1Measures(d: number): Measure[] {
  return [
    trace('sphere'),
    trace('gaussian'),
    maxEigenvalue({ directions: 64 }),
    frobenius(),
    determinant(d),
    polynomial(2),
    polynomial(3),
    product(0.2),
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
  const shapes = [[options.d]];
  for (const measure of table1Measures(options.d)) {
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
    yield { measure: measure.name, closedForm, monteCarlo: sampled(mc), zerothOrder: sampled(zo) };
  }
}
