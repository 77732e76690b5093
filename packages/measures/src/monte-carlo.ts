import * as tf from '@tensorflow/tfjs-core';
import { MeasureError, requireOptions, show } from './errors';
import { type MeasureEstimate, type SamplingOptions, sampleMeasure, setup } from './estimate';
import { type MatrixInput, type SymmetryOptions, symmetricRows } from './linalg';
import { checkTensorShapes, dot, flatten, split } from './tensor-list';
import type { Measure } from './types';

/**
 * A Hessian-vector product v ↦ Hv over v split into parameter-shaped tensors;
 * returns tensors of the same shapes. It must not dispose or keep v; the
 * evaluator disposes both v and the returned tensors.
 */
export type Hvp = (v: tf.Tensor[]) => tf.Tensor[] | Promise<tf.Tensor[]>;

/**
 * Monte Carlo evaluation (docs/measures.md, way 2): draws v ~ μ_ℓ, forms
 * q = ½vᵀ(Hv) from the caller's Hessian-vector product, averages
 * t̂_ℓ = mean of w·ψ_ℓ(q) (w = dμ_ℓ/dq, 1 for probability μ) and returns
 * φ(t̂) with its delta-method standard error and every probe. Costs n HVPs
 * with shared samples, n·m otherwise. q is computed in float32 (the tensors'
 * dtype) and combined in doubles.
 */
export async function monteCarlo(
  measure: Measure,
  hvp: Hvp,
  options: SamplingOptions,
): Promise<MeasureEstimate> {
  const where = `monteCarlo(${measure?.name ?? '?'})`;
  if (typeof hvp !== 'function') {
    throw new MeasureError(
      `${where}: hvp must be a function v ↦ Hv (see explicitHvp for a matrix).`,
    );
  }
  requireOptions(where, options, ['shapes', 'samples', 'seed', 'rng']);
  const checked = setup(measure, options, where);
  let evaluations = 0;
  const estimate = await sampleMeasure(checked, where, async (v, probe) => {
    evaluations++;
    const hv = await hvp(v);
    try {
      checkTensorShapes(hv, checked.shapes, `${where}: hvp`);
      const vHv = dot(v, hv);
      const q = 0.5 * (await vHv.data())[0]!;
      vHv.dispose();
      if (!Number.isFinite(q)) {
        throw new MeasureError(
          `${where}: ½vᵀHv = ${q} at probe ${probe}; the hvp returned non-finite values, check the model and ε.`,
        );
      }
      return q;
    } finally {
      if (Array.isArray(hv)) for (const t of hv) if (!v.includes(t)) t.dispose();
    }
  });
  return { ...estimate, evaluations };
}

/**
 * An `Hvp` from an explicit symmetric matrix H (checked like `exact` does), for
 * tests and small problems: v is flattened, multiplied by H in float32 and split
 * back into its shapes. Holds no tensors between calls.
 */
export function explicitHvp(H: MatrixInput, options: SymmetryOptions = {}): Hvp {
  const rows = symmetricRows(H, 'explicitHvp', options);
  const d = rows.length;
  const data = Float32Array.from(rows.flat());
  return (v) => {
    const total = Array.isArray(v) ? v.reduce((s, t) => s + t.size, 0) : Number.NaN;
    if (total !== d) {
      throw new MeasureError(
        `explicitHvp: v has ${show(total)} entries but H is ${d}×${d}; dimension mismatch between H and the shapes.`,
      );
    }
    return tf.tidy(() =>
      split(
        tf.matMul(tf.tensor2d(data, [d, d]), tf.reshape(flatten(v), [d, 1])),
        v.map((t) => t.shape),
      ),
    );
  };
}
