import * as tf from '@tensorflow/tfjs-core';

/** What every estimator returns (docs/hessian-estimators.md). */
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

/** Runs `f` on the tensors `ts` and disposes them afterwards, also when `f` throws. */
export async function using<R>(
  ts: readonly tf.Tensor[],
  f: (ts: readonly tf.Tensor[]) => Promise<R>,
): Promise<R> {
  try {
    return await f(ts);
  } finally {
    tf.dispose(ts as tf.Tensor[]);
  }
}

/** A scalar tensor read back as a number; the scalar is disposed. */
export async function readScalar(s: tf.Tensor): Promise<number> {
  try {
    return (await s.data())[0]!;
  } finally {
    s.dispose();
  }
}
