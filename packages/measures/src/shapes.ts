import * as tf from '@tensorflow/tfjs-core';
import { MeasureError } from './errors.js';

/** Shapes of the tensors a perturbation v is split into (shaped like the parameters). */
export type Shapes = readonly (readonly number[])[];

/** Number of entries of one tensor of this shape. */
export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** d, the length of the whole concatenated vector v. */
export const dimensionOf = (shapes: Shapes): number =>
  shapes.reduce((sum, shape) => sum + sizeOf(shape), 0);

/** Checks that `shapes` is a non-empty list of shapes of natural numbers with d ≥ 1; returns d. */
export function checkShapes(shapes: Shapes, where: string): number {
  if (!Array.isArray(shapes) || shapes.length === 0) {
    throw new MeasureError(
      `${where}: shapes must be a non-empty list of tensor shapes, e.g. [[784, 128], [128]].`,
    );
  }
  for (const shape of shapes) {
    if (!Array.isArray(shape) || !shape.every((n) => Number.isInteger(n) && n >= 0)) {
      throw new MeasureError(
        `${where}: every shape must be a list of non-negative integers, got ${JSON.stringify(shape)}.`,
      );
    }
  }
  const d = dimensionOf(shapes);
  if (d < 1) throw new MeasureError(`${where}: the shapes hold no entries (d = 0).`);
  return d;
}

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((n, i) => n === b[i]);

/** Checks that `tensors` has exactly the given shapes (what a sampler or an hvp returned). */
export function checkTensorShapes(tensors: readonly tf.Tensor[], shapes: Shapes, what: string) {
  if (!Array.isArray(tensors) || tensors.length !== shapes.length) {
    throw new MeasureError(
      `${what} returned ${Array.isArray(tensors) ? tensors.length : 'no list of'} tensors, expected ${shapes.length} (one per shape).`,
    );
  }
  tensors.forEach((t, i) => {
    const shape = shapes[i]!;
    if (!(t instanceof tf.Tensor) || !sameShape(t.shape, shape)) {
      throw new MeasureError(
        `${what} returned a tensor of shape [${t instanceof tf.Tensor ? t.shape : '?'}] at position ${i}, expected [${shape}]; dimension mismatch between v and the shapes.`,
      );
    }
  });
}

/** ½·Σ_k sum(a_k ⊙ b_k), i.e. ½ aᵀb over the concatenated vectors, as a scalar tensor. */
export const halfDot = (a: readonly tf.Tensor[], b: readonly tf.Tensor[]): tf.Scalar =>
  tf.tidy(() => tf.mul(tf.addN(a.map((ak, k) => tf.sum(tf.mul(ak, b[k]!)))), 0.5) as tf.Scalar);
