/**
 * Whether an importance-weighted Monte Carlo mean t̂ = (1/n)Σ w_i·ψ(q_i) can be
 * trusted with the standard error the sample gives it. Both diagnostics read
 * the log terms log|w_i·ψ(q_i)|, so they work where the terms themselves lie
 * beyond float64 (the determinant's Lebesgue weights in large d). Thresholds
 * and their reasons: docs/scale-invariant.md ("Trusting a Monte Carlo standard
 * error").
 */

/** What the draws of one importance-weighted mean say about its reliability. */
export interface ImportanceDiagnostics {
  /**
   * Kish's effective sample size (Σ|y_i|)²/Σy_i² of the terms y_i = w_i·ψ(q_i):
   * n when every draw contributes equally, 1 when one draw carries the mean.
   */
  readonly effectiveSampleSize: number;
  /**
   * k̂, the shape of a generalized Pareto distribution fitted to the largest
   * terms (Vehtari et al., "Pareto smoothed importance sampling", JMLR 2024).
   * The terms' variance is finite only for k < ½, and the sample's standard
   * error means something only then; NaN where n is too small to fit a tail
   * (fewer than `MIN_TAIL` tail draws), −∞ where the tail is flat.
   */
  readonly tailShape: number;
}

/** Fewest effective draws for the delta-method standard error of φ(t̂) (docs/scale-invariant.md). */
export const MIN_EFFECTIVE_SAMPLES = 36;

/** Fewest tail draws a Pareto fit is made from (PSIS's tail is min(n/5, 3√n) draws). */
const MIN_TAIL = 5;

/** k̂ above which n draws do not pin the mean down (PSIS's sample-size-dependent threshold). */
export const tailShapeLimit = (n: number): number => Math.min(1 - 1 / Math.log10(n), 0.7);

/**
 * Zhang and Stephens' (2009) estimate of a generalized Pareto's shape k from
 * positive exceedances x (ascending), as PSIS uses it, with PSIS's weakly
 * informative prior pulling k toward ½ by 10 pseudo-draws.
 */
function paretoShape(x: readonly number[]): number {
  const N = x.length;
  const M = 30 + Math.floor(Math.sqrt(N));
  const quartile = x[Math.floor(N / 4 + 0.5) - 1]!;
  const largest = x[N - 1]!;
  const thetas: number[] = [];
  const profile: number[] = [];
  for (let j = 1; j <= M; j++) {
    const theta = 1 / largest + (1 - Math.sqrt(M / (j - 0.5))) / 3 / quartile;
    let k = 0;
    for (const xi of x) k += Math.log1p(-theta * xi);
    k /= N;
    thetas.push(theta);
    // The profile log-likelihood N·(log(−θ/k) − k − 1), with k = mean log(1 − θx).
    profile.push(N * (Math.log(-theta / k) - k - 1));
  }
  const top = Math.max(...profile);
  const weights = profile.map((l) => Math.exp(l - top));
  const total = weights.reduce((a, b) => a + b, 0);
  const theta = thetas.reduce((s, t, j) => s + (t * weights[j]!) / total, 0);
  let k = 0;
  for (const xi of x) k += Math.log1p(-theta * xi);
  k /= N;
  // k > 0 is a tail ∝ t^{−1/k}; the prior's 10 pseudo-draws at ½ steady small tails.
  return (k * N + 0.5 * 10) / (N + 10);
}

/** The diagnostics of one importance-weighted mean from its terms' logs log|w_i·ψ(q_i)|. */
export function importanceDiagnostics(logTerms: readonly number[]): ImportanceDiagnostics {
  const n = logTerms.length;
  const top = Math.max(...logTerms);
  if (!Number.isFinite(top)) return { effectiveSampleSize: 0, tailShape: Number.NaN };
  let sum = 0;
  let sumSquares = 0;
  for (const l of logTerms) {
    const y = Math.exp(l - top);
    sum += y;
    sumSquares += y * y;
  }
  const effectiveSampleSize = (sum * sum) / sumSquares;
  const tail = Math.ceil(Math.min(0.2 * n, 3 * Math.sqrt(n)));
  if (tail < MIN_TAIL || tail >= n) return { effectiveSampleSize, tailShape: Number.NaN };
  const sorted = [...logTerms].sort((a, b) => a - b);
  const cutoff = Math.exp(sorted[n - tail - 1]! - top);
  const exceedances = sorted.slice(n - tail).map((l) => Math.exp(l - top) - cutoff);
  if (!(exceedances[tail - 1]! > 0)) return { effectiveSampleSize, tailShape: -Infinity };
  // Ties at the cutoff give zero exceedances; the fit needs positive ones.
  const positive = exceedances.filter((x) => x > 0);
  if (positive.length < MIN_TAIL) return { effectiveSampleSize, tailShape: -Infinity };
  return { effectiveSampleSize, tailShape: paretoShape(positive) };
}

/**
 * Why the stated standard error cannot be trusted (one line naming the fix), or
 * undefined where it can: too few effective draws, or a tail so heavy that n
 * draws do not pin the mean down.
 */
export function importanceWarning(
  diagnostics: ImportanceDiagnostics,
  n: number,
  where: string,
  fix: string,
): string | undefined {
  const { effectiveSampleSize: ess, tailShape: k } = diagnostics;
  const limit = tailShapeLimit(n);
  const heavy = k > limit;
  const few = ess < MIN_EFFECTIVE_SAMPLES;
  if (!heavy && !few) return undefined;
  const facts = `effective sample size ${ess.toFixed(1)} of ${n} draws${Number.isNaN(k) ? '' : `, Pareto tail shape k̂ = ${k.toFixed(2)}`}`;
  const why = heavy
    ? `the importance weights are heavy-tailed (k̂ > ${limit.toFixed(2)}: their variance is infinite or ${n} draws cannot tell)`
    : `fewer than ${MIN_EFFECTIVE_SAMPLES} effective draws carry the mean`;
  return `${where}: the standard error cannot be trusted: ${why} (${facts}); ${fix}.`;
}
