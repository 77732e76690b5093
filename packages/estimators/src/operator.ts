import * as tf from '@tensorflow/tfjs-core';
import { tensorList } from '@usam/measures';
import { describe, EstimatorError } from './errors';

/**
 * A symmetric linear operator v ↦ Hv on R^d: what every estimator needs.
 * `createHvp` builds one from a loss and data; tests and users can also wrap
 * an explicit matrix.
 */
export interface HessianOperator {
  /** d, the number of parameters. */
  readonly dimension: number;
  /**
   * Hv for a flat v of length d (the parameters concatenated in order, each
   * flattened row-major). The caller owns, and disposes, both v and the result.
   */
  apply(v: tf.Tensor1D): Promise<tf.Tensor1D>;
}

/** Rejects anything that is not a `HessianOperator` with a one-line fix. */
export function requireOperator(where: string, H: HessianOperator): HessianOperator {
  if (
    H == null ||
    typeof H.apply !== 'function' ||
    !Number.isInteger(H.dimension) ||
    H.dimension < 1
  ) {
    throw new EstimatorError(
      `${where}: H must be a Hessian operator { dimension ≥ 1, apply(v) }, got ${describe(H)}; build one with hessian(model, { data }) or createHvp({ variables, loss, data }).`,
    );
  }
  return H;
}

/**
 * Hv through `H.apply`, checked: a float32 tensor of shape [d] whose entries
 * are all finite. Every estimator goes through here (or `productOfParts`), so a
 * NaN or ∞ product (an overflowing loss, a broken operator) fails loudly
 * instead of turning the estimate into NaN. The check costs one reduction and
 * a 1-number read.
 */
export async function product(
  where: string,
  H: HessianOperator,
  v: tf.Tensor1D,
): Promise<tf.Tensor1D> {
  const hv: unknown = await H.apply(v);
  if (!(hv instanceof tf.Tensor) || hv.rank !== 1 || hv.size !== H.dimension) {
    if (hv instanceof tf.Tensor) hv.dispose();
    throw new EstimatorError(
      `${where}: H.apply(v) returned ${describe(hv)}; it must return a float32 tensor of shape [${H.dimension}] (H.dimension).`,
    );
  }
  await requireFinite(where, [hv]);
  return hv as tf.Tensor1D;
}

/** An operator that also takes and returns vectors split like the parameters (`createHvp`'s). */
interface PartsOperator extends HessianOperator {
  readonly shapes: tensorList.Shapes;
  applyToParts(v: readonly tf.Tensor[]): Promise<tf.Tensor[]>;
}

const takesParts = (H: HessianOperator): H is PartsOperator =>
  Array.isArray((H as Partial<PartsOperator>).shapes) &&
  typeof (H as Partial<PartsOperator>).applyToParts === 'function';

/**
 * The shapes `productOfParts` splits vectors into: the parameters' for an
 * operator with `shapes` and `applyToParts` (createHvp's, which then needs no
 * split or concatenation of the whole vector per product), else one flat [d].
 */
export const partShapes = (H: HessianOperator): tensorList.Shapes =>
  takesParts(H) ? H.shapes : [[H.dimension]];

/** Hv for v split like `partShapes(H)`, in the same form, checked like `product`. */
export async function productOfParts(
  where: string,
  H: HessianOperator,
  v: readonly tf.Tensor[],
): Promise<tf.Tensor[]> {
  if (!takesParts(H)) return [await product(where, H, v[0] as tf.Tensor1D)];
  const hv: unknown = await H.applyToParts(v);
  if (!tensorList.hasShapes(hv, H.shapes)) {
    if (Array.isArray(hv)) tf.dispose(hv.filter((t) => t instanceof tf.Tensor));
    throw new EstimatorError(
      `${where}: H.applyToParts(v) returned ${describe(hv)}; it must return one float32 tensor per part, shaped like H.shapes.`,
    );
  }
  await requireFinite(where, hv);
  return hv;
}

/** Fails, disposing `hv`, unless every entry of `hv` is finite. */
async function requireFinite(where: string, hv: readonly tf.Tensor[]): Promise<void> {
  const finite = tf.tidy(() =>
    hv.length === 1
      ? tf.all(tf.isFinite(hv[0]!))
      : tf.all(tf.stack(hv.map((t) => tf.all(tf.isFinite(t))))),
  );
  const ok = (await finite.data())[0] === 1;
  finite.dispose();
  if (!ok) {
    tf.dispose(hv as tf.Tensor[]);
    throw new EstimatorError(
      `${where}: a Hessian-vector product has NaN or infinite entries; check the loss and data for overflow (the loss itself is finite only if every batch's is), or the operator's apply.`,
    );
  }
}
