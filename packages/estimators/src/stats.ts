import * as tf from '@tensorflow/tfjs-core';

/** What every estimator returns (SPEC §5). */
export interface Estimate {
  /** The estimated quantity. */
  readonly estimate: number;
  /**
   * Its standard error: the sample standard deviation of the probes over √n
   * for Monte Carlo estimators (NaN with one probe); see each estimator for
   * the deterministic ones.
   */
  readonly standardError: number;
  /** The per-probe values the estimate is the mean of (or, for power iteration, the iterates). */
  readonly probes: number[];
}

/** Mean and standard error of the mean (unbiased variance; NaN for one value). */
export function meanAndStandardError(values: readonly number[]): {
  mean: number;
  standardError: number;
} {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, standardError: Number.NaN };
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean, standardError: Math.sqrt(variance / n) };
}

/** a · b read back as a number (float32 products, summed by the backend). */
export async function dot(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const s = tf.tidy(() => tf.sum(tf.mul(a, b)));
  try {
    return (await s.data())[0]!;
  } finally {
    s.dispose();
  }
}

/** Runs `f` on `t` and disposes `t` afterwards, also when `f` throws. */
export async function using<T extends tf.Tensor, R>(t: T, f: (t: T) => Promise<R>): Promise<R> {
  try {
    return await f(t);
  } finally {
    t.dispose();
  }
}
