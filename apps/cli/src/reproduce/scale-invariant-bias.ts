import { dampedDeterminant, exact } from '@usam/measures';
import { traceSam, universalSam } from '@usam/optimizer';
import { TOY_LEARNING_RATE, type ToyMethod, toyHessian, toyTrace, trainToy } from './toy-loss';

/**
 * Theorem 2 of "On Scale-Invariant Sharpness Measures" as an experiment on the
 * toy loss L = (x₁x₂ − 1)², which is scale-invariant: L(Dx) = L(x) for
 * D = diag(k, 1/k). Each method trains from x₀ = (2, ½) and from Dx₀ = (4, ¼)
 * (k = 2, same zero-loss manifold). With μ_f = f(v₁⋯v_d)dv the objective
 * L + λρ²R_ρ is itself D-invariant, so the two runs end at D-images of each
 * other (log(x₁/x₂) apart by 2·log 2); Trace-SAM's R_ρ ≈ x₁² + x₂² is not, and
 * both its runs slide toward |x₁| = |x₂| = 1. docs/scale-invariant.md.
 */

/** One method's pair of runs. */
export interface ScaleInvariantBiasRow {
  readonly method: string;
  readonly settings: string;
  /** Where the run from x₀ ended, and the run from Dx₀. */
  readonly end: [number, number];
  readonly endFromImage: [number, number];
  /**
   * log(x₁/x₂) at the run from Dx₀'s end minus at x₀'s: 2·log k = 1.386 exactly
   * when the ends are D-images of each other (on the manifold nothing else changes it).
   */
  readonly logRatioGap: number;
  /**
   * How far each run moved along the manifold: log(x₁/x₂) at its end minus at its
   * start (from x₀, from Dx₀). Gradient descent is not D-equivariant even on an
   * invariant objective, so the ends are D-images because the runs stay put.
   */
  readonly drift: [number, number];
  /** The damped determinant (c = 1, exact by quadrature) at both ends: equal when they are D-images. */
  readonly dampedDeterminant: [number, number];
  /** tr H at both ends: different even for D-images (tr H is not scale-invariant). */
  readonly traceH: [number, number];
}

export interface ScaleInvariantBiasReport {
  readonly steps: number;
  readonly learningRate: number;
  readonly start: [number, number];
  readonly imageStart: [number, number];
  /** k of D = diag(k, 1/k). */
  readonly k: number;
  readonly rows: ScaleInvariantBiasRow[];
}

const K = 2;
export const X0: [number, number] = [2, 0.5];
const DX0: [number, number] = [K * X0[0], X0[1] / K];

const DAMPED = dampedDeterminant(2);

/** S of the damped determinant at a point, or NaN where its integral diverges (reported, not guessed). */
function dampedAt(p: [number, number]): number {
  try {
    return exact(DAMPED, toyHessian(p));
  } catch {
    return Number.NaN;
  }
}

const methods: ToyMethod[] = [
  [
    'log damped determinant',
    'ρ = 0.1, λ = 0.25, n = 16',
    (o) =>
      universalSam({
        ...o,
        measure: dampedDeterminant(2, { logarithm: true }),
        rho: 0.1,
        lambda: 0.25,
        samples: 16,
      }),
  ],
  ['Trace-SAM', 'ρ = 0.1, λ = 0.25, n = 1', (o) => traceSam({ ...o, rho: 0.1, lambda: 0.25 })],
  ['Trace-SAM', 'ρ = 0.1, λ = 1, n = 1', (o) => traceSam({ ...o, rho: 0.1, lambda: 1 })],
];

/** The two methods' pairs of runs, one row each (2000 SGD steps of lr 0.01 by default). */
export async function* scaleInvariantBias(
  seed: number,
  steps = 2000,
): AsyncGenerator<ScaleInvariantBiasRow> {
  for (const [method, settings, build] of methods) {
    const end = await trainToy(X0, build, seed, steps);
    const endFromImage = await trainToy(DX0, build, seed, steps);
    yield {
      method,
      settings,
      end,
      endFromImage,
      logRatioGap: Math.log(endFromImage[0] / endFromImage[1]) - Math.log(end[0] / end[1]),
      drift: [
        Math.log(end[0] / end[1]) - Math.log(X0[0] / X0[1]),
        Math.log(endFromImage[0] / endFromImage[1]) - Math.log(DX0[0] / DX0[1]),
      ],
      dampedDeterminant: [dampedAt(end), dampedAt(endFromImage)],
      traceH: [toyTrace(end), toyTrace(endFromImage)],
    };
  }
}

export const scaleInvariantBiasSettings = (
  steps = 2000,
): Omit<ScaleInvariantBiasReport, 'rows'> => ({
  steps,
  learningRate: TOY_LEARNING_RATE,
  start: X0,
  imageStart: DX0,
  k: K,
});
