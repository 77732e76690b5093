import * as tf from '@tensorflow/tfjs-core';
import { MeasureError, requireOptions, show } from './errors';
import { type MeasureEstimate, type SamplingOptions, sampleMeasure, setup } from './estimate';
import { type MatrixInput, type SymmetryOptions, symmetricRows } from './linalg';
import type { Measure } from './types';

/**
 * The loss at a perturbed point: L(x + δ) for δ = ρv (tensors shaped like the
 * parameters), or L(x) for null. δ is disposed after the call; don't keep it.
 */
export type PerturbedLoss = (delta: tf.Tensor[] | null) => number | Promise<number>;

export interface ZerothOrderOptions extends SamplingOptions {
  /** ρ > 0, the perturbation radius of Definition 2. */
  readonly rho: number;
}

export interface ZerothOrderEstimate extends MeasureEstimate {
  /** L(x), the unperturbed loss. */
  readonly loss: number;
}

/**
 * Zeroth-order evaluation (docs/measures.md, way 3; Definition 2): the sharpness term
 * R_ρ(x) = φ(E_{v~μ_ℓ}[ψ_ℓ((L(x + ρv) − L(x))/ρ²)]) from loss values alone.
 * On a quadratic at its minimum (L(x + δ) − L(x) = ½δᵀHδ) every probe equals
 * Monte Carlo's ½vᵀHv, so this estimates S exactly; near the zero-loss
 * manifold it tends to S as ρ → 0. Costs 1 + n loss evaluations with shared
 * samples, 1 + n·m otherwise. For real losses in float32, (L(x+ρv) − L(x))
 * loses digits as ρ shrinks; ρ trades that against the Taylor remainder.
 */
export async function zerothOrder(
  measure: Measure,
  perturbedLoss: PerturbedLoss,
  options: ZerothOrderOptions,
): Promise<ZerothOrderEstimate> {
  const where = `zerothOrder(${measure?.name ?? '?'})`;
  if (typeof perturbedLoss !== 'function') {
    throw new MeasureError(
      `${where}: perturbedLoss must be a function δ ↦ L(x + δ) (null ↦ L(x)).`,
    );
  }
  requireOptions(where, options, ['shapes', 'samples', 'seed', 'rng', 'rho']);
  const rho = options?.rho;
  if (!(typeof rho === 'number' && Number.isFinite(rho) && rho > 0)) {
    throw new MeasureError(
      `${where}: rho must be a finite number > 0 (Definition 2 divides by ρ²), got ${show(rho)}.`,
    );
  }
  const checked = setup(measure, options, where);
  const finiteLoss = (value: unknown, at: string): number => {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new MeasureError(
        `${where}: the loss ${at} is ${String(value)}; perturbedLoss must return finite numbers.`,
      );
    }
    return value;
  };
  const loss = finiteLoss(await perturbedLoss(null), 'at x');
  let evaluations = 1;
  const estimate = await sampleMeasure(checked, where, async (v, probe) => {
    evaluations++;
    const delta = v.map((t) => tf.mul(t, rho));
    try {
      const perturbed = finiteLoss(await perturbedLoss(delta), `at x + ρv (probe ${probe})`);
      return (perturbed - loss) / (rho * rho);
    } finally {
      for (const t of delta) t.dispose();
    }
  });
  return { ...estimate, evaluations, loss };
}

/**
 * The `PerturbedLoss` of the quadratic L(x + δ) = L(x) + gᵀδ + ½δᵀHδ, in
 * doubles, for tests: with g = 0 (the default, x a minimum) zeroth order
 * recovers S exactly in expectation; g ≠ 0 adds gᵀv/ρ to every probe.
 */
export function quadraticLoss(
  H: MatrixInput,
  options: SymmetryOptions & { readonly gradient?: ArrayLike<number>; readonly loss?: number } = {},
): PerturbedLoss {
  const rows = symmetricRows(H, 'quadraticLoss', options, ['gradient', 'loss']);
  const d = rows.length;
  const g = Array.from(options.gradient ?? new Array<number>(d).fill(0));
  const base = options.loss ?? 0;
  if (g.length !== d) {
    throw new MeasureError(
      `quadraticLoss: the gradient has ${g.length} entries but H is ${d}×${d}.`,
    );
  }
  if (!g.every(Number.isFinite) || !Number.isFinite(base)) {
    throw new MeasureError('quadraticLoss: the gradient and loss must be finite.');
  }
  return async (delta) => {
    if (delta === null) return base;
    const parts = await Promise.all(delta.map((t) => t.data()));
    const x = parts.flatMap((p) => Array.from(p as Float32Array));
    if (x.length !== d) {
      throw new MeasureError(
        `quadraticLoss: δ has ${show(x.length)} entries but H is ${d}×${d}; dimension mismatch between H and the shapes.`,
      );
    }
    let value = base;
    for (let i = 0; i < d; i++) {
      const row = rows[i]!;
      let hx = 0;
      for (let j = 0; j < d; j++) hx += row[j]! * x[j]!;
      value += g[i]! * x[i]! + 0.5 * x[i]! * hx;
    }
    return value;
  };
}
