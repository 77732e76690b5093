/**
 * Loss landscapes (Li, Xu, Taylor, Studer & Goldstein, "Visualizing the Loss
 * Landscape of Neural Nets", NeurIPS 2018): the loss along
 * θ + α·d₁ (+ β·d₂) for random directions d normalised filter by filter, so
 * that each filter of d has the norm of the same filter of θ. Without that
 * normalisation the picture depends on the weights' scale, which ReLU
 * networks can change without changing the function (the same scale
 * invariance as the paper's Example 2).
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * A filter-normalised Gaussian direction for `weights` (Li et al. §4). A
 * filter is one slice along the last axis: an output unit of a dense kernel
 * [in, out], an output channel of a conv kernel [h, w, in, out]. Rank-0/1
 * tensors (biases) get a zero direction, as Li et al. do for biases and
 * BatchNorm parameters ("ignore biasbn"). The tensors are new: dispose them.
 */
export function filterNormalizedDirection(
  weights: readonly tf.Tensor[],
  seed: number,
): tf.Tensor[] {
  return weights.map((w, i) =>
    tf.tidy(() => {
      if (w.rank <= 1) return tf.zerosLike(w);
      const filters = w.shape[w.rank - 1]!;
      const d = tf.randomNormal(w.shape, 0, 1, 'float32', seed * 1000 + i);
      const w2 = tf.reshape(w, [-1, filters]);
      const d2 = tf.reshape(d, [-1, filters]);
      const scale = tf.div(tf.norm(w2, 'euclidean', 0), tf.add(tf.norm(d2, 'euclidean', 0), 1e-10));
      return tf.reshape(tf.mul(d2, scale), w.shape);
    }),
  );
}

/** Evenly spaced points from −span to span, `points` of them (0 included when points is odd). */
export function sliceGrid(points: number, span: number): number[] {
  return Array.from({ length: points }, (_, i) => -span + (2 * span * i) / (points - 1));
}

export interface SliceOptions {
  /** The weights θ: set to θ + α·d₁ + β·d₂ for each point, then restored bit for bit. */
  readonly variables: readonly tf.Variable[];
  /** The loss at the variables' current values. */
  readonly loss: () => tf.Scalar;
  /** One direction (a 1-D slice) or two (a 2-D slice), each shaped like `variables`. */
  readonly directions: readonly (readonly tf.Tensor[])[];
  /** Coordinates along each direction. */
  readonly grid: readonly number[];
  /** Called after each point (e.g. to yield to the event loop or stop). */
  readonly onPoint?: (done: number, total: number) => Promise<void> | void;
}

/**
 * The loss on the grid: values[i] = L(θ + grid[i]·d₁) for one direction;
 * values[j·n + i] = L(θ + grid[i]·d₁ + grid[j]·d₂) for two. The variables are
 * restored from saved copies afterwards (also when the loss throws), so they
 * end bit-identical to where they started.
 */
export async function lossSlice(options: SliceOptions): Promise<number[]> {
  const { variables, loss, directions, grid } = options;
  if (directions.length !== 1 && directions.length !== 2) {
    throw new RangeError(`lossSlice: pass 1 or 2 directions, got ${directions.length}.`);
  }
  for (const d of directions) {
    if (d.length !== variables.length || d.some((t, k) => !sameShape(t, variables[k]!))) {
      throw new RangeError(
        'lossSlice: each direction must have one tensor per variable, same shapes.',
      );
    }
  }
  const origin = variables.map((v) => tf.keep(v.clone()));
  const [d1, d2] = directions;
  const outer = d2 === undefined ? [0] : grid;
  const values: number[] = [];
  try {
    for (const beta of outer) {
      for (const alpha of grid) {
        tf.tidy(() => {
          variables.forEach((v, k) => {
            let moved = tf.add(origin[k]!, tf.mul(d1![k]!, alpha));
            if (d2 !== undefined) moved = tf.add(moved, tf.mul(d2[k]!, beta));
            v.assign(moved);
          });
        });
        const value = loss();
        values.push((await value.data())[0]!);
        value.dispose();
        await options.onPoint?.(values.length, grid.length * outer.length);
      }
    }
  } finally {
    variables.forEach((v, k) => {
      v.assign(origin[k]!);
    });
    tf.dispose(origin);
  }
  return values;
}

const sameShape = (a: tf.Tensor, b: tf.Tensor) =>
  a.shape.length === b.shape.length && a.shape.every((n, i) => n === b.shape[i]);
