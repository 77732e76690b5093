import { MeasureError, requireOptions, show } from './errors';
import type { ScalarFunction } from './types';

/**
 * Numerical quadrature of ∫_{R^d} ψ_ℓ(½vᵀHv)·f(v₁⋯v_d) dv for d ≤ 3, the exact
 * evaluator of the scale-invariant family (docs/scale-invariant.md), whose μ is
 * not rotation invariant, so S is not a function of the eigenvalues.
 *
 * Each coordinate is mapped v_i = s_i·sinh(u_i) (s_i = H_ii^{−1/2} where
 * H_ii > 0): the trapezoid rule in u then converges exponentially for smooth
 * integrands with Gaussian tails. The grid is widened until its last layer
 * contributes less than the tolerance (an integral that never settles is
 * reported as divergent) and halved until two step sizes agree. All sums are
 * kept in log space, signed, so ψ = exp(−t) never underflows to a wrong 0.
 */

export interface QuadratureOptions {
  /** Relative agreement between successive grids (default 1e-8). */
  readonly tolerance?: number;
  /** Most integrand evaluations in all before giving up (default 4e7). */
  readonly maxEvaluations?: number;
}

export interface QuadratureResult {
  /** ∫ψ_ℓ(½vᵀHv)·f(∏v) dv, ℓ = 1..m. */
  readonly values: number[];
  /** Estimated relative error of `values` (from the last grids' disagreement). */
  readonly relativeError: number;
  /** Integrand evaluations spent. */
  readonly evaluations: number;
}

/** Σ ±e^{log} accumulated without overflow or underflow: positive and negative parts apart. */
class SignedLogSum {
  private maxPos = Number.NEGATIVE_INFINITY;
  private sumPos = 0;
  private maxNeg = Number.NEGATIVE_INFINITY;
  private sumNeg = 0;

  add(sign: number, log: number) {
    if (sign === 0 || log === Number.NEGATIVE_INFINITY) return;
    if (sign > 0) {
      if (log > this.maxPos) {
        this.sumPos = this.sumPos * Math.exp(this.maxPos - log) + 1;
        this.maxPos = log;
      } else this.sumPos += Math.exp(log - this.maxPos);
    } else if (log > this.maxNeg) {
      this.sumNeg = this.sumNeg * Math.exp(this.maxNeg - log) + 1;
      this.maxNeg = log;
    } else this.sumNeg += Math.exp(log - this.maxNeg);
  }

  value(): number {
    const pos = this.sumPos === 0 ? 0 : this.sumPos * Math.exp(this.maxPos);
    const neg = this.sumNeg === 0 ? 0 : this.sumNeg * Math.exp(this.maxNeg);
    return pos - neg;
  }
}

/**
 * s_i, the width of coordinate i: √((H⁻¹)_ii), the marginal standard deviation
 * of exp(−½vᵀHv), where H ≻ 0; else H_ii^{−1/2} where H_ii > 0; else 1. Both
 * follow a diagonal rescaling (H → D⁻¹HD⁻¹ gives s_i → D_i·s_i), so the grid
 * adapts to the badly scaled Hessians that rescaled networks have.
 */
function coordinateScales(H: readonly (readonly number[])[]): number[] {
  const d = H.length;
  const diagonal = H.map((row, i) => (row[i]! > 0 ? 1 / Math.sqrt(row[i]!) : 1));
  // Cholesky H = LLᵀ; (H⁻¹)_ii = Σ_k (L⁻¹)_ki².
  const L = H.map(() => new Array<number>(d).fill(0));
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = H[i]![j]!;
      for (let k = 0; k < j; k++) sum -= L[i]![k]! * L[j]![k]!;
      if (i === j) {
        // A pivot lost to round-off means H is singular for this purpose.
        if (!(sum > 1e-12 * H[i]![i]!)) return diagonal;
        L[i]![i] = Math.sqrt(sum);
      } else L[i]![j] = sum / L[j]![j]!;
    }
  }
  const inverse = L.map(() => new Array<number>(d).fill(0)); // L⁻¹, lower triangular
  for (let j = 0; j < d; j++) {
    inverse[j]![j] = 1 / L[j]![j]!;
    for (let i = j + 1; i < d; i++) {
      let sum = 0;
      for (let k = j; k < i; k++) sum -= L[i]![k]! * inverse[k]![j]!;
      inverse[i]![j] = sum / L[i]![i]!;
    }
  }
  // √(H_ii·(H⁻¹)_ii) ≥ 1 is rescaling-invariant; capped, since the sinh map
  // already reaches e^U times past s_i and a damped f cuts long directions short.
  return H.map((row, i) => {
    let s = 0;
    for (let k = i; k < d; k++) s += inverse[k]![i]! ** 2;
    return diagonal[i]! * Math.min(Math.sqrt(row[i]! * s), 8);
  });
}

const logForm = (psi: ScalarFunction, t: number) => {
  if (psi.logForm) return psi.logForm(t);
  const y = psi.value(t);
  return { sign: Math.sign(y), log: Math.log(Math.abs(y)) };
};

/**
 * The quadrature (see the module comment). `logDensity(p)` is log f(p), −∞
 * where f = 0; it is trusted to have been checked (finite, f ≥ 0).
 */
export function integrateProductDensity(
  H: readonly (readonly number[])[],
  psis: readonly ScalarFunction[],
  logDensity: (p: number) => number,
  where: string,
  options: QuadratureOptions = {},
): QuadratureResult {
  const d = H.length;
  if (d < 1 || d > 3) {
    throw new MeasureError(
      `${where}: quadrature is for d ≤ 3 (a grid in more dimensions is too costly), got d = ${d}; estimate it with monteCarlo(measure, explicitHvp(H), …) instead.`,
    );
  }
  requireOptions(`${where}: quadrature`, options, ['tolerance', 'maxEvaluations']);
  const tolerance = options.tolerance ?? 1e-8;
  const budget = options.maxEvaluations ?? 4e7;
  const scales = coordinateScales(H);
  let evaluations = 0;

  /** The trapezoid sum on u ∈ [−U, U]^d with step h. */
  const grid = (h: number, U: number): number[] => {
    const n = Math.round(U / h);
    const count = 2 * n + 1;
    if (evaluations + count ** d > budget) {
      throw new MeasureError(
        `${where}: quadrature did not reach relative tolerance ${show(tolerance)} within ${show(budget)} evaluations (step ${show(h)}, |u| ≤ ${U}); the integrand is too narrow for the grid here: estimate it with monteCarlo instead.`,
      );
    }
    evaluations += count ** d;
    // Per axis: v = s·sinh(u) and log(h·s·cosh(u)).
    const nodes = scales.map((s) => {
      const v = new Float64Array(count);
      const logJ = new Float64Array(count);
      for (let k = 0; k < count; k++) {
        const u = (k - n) * h;
        v[k] = s * Math.sinh(u);
        logJ[k] = Math.log(h * s * Math.cosh(u));
      }
      return { v, logJ };
    });
    const sums = psis.map(() => new SignedLogSum());
    const index = new Array<number>(d).fill(0);
    const v = new Float64Array(d);
    for (;;) {
      let logJ = 0;
      let p = 1;
      for (let i = 0; i < d; i++) {
        v[i] = nodes[i]!.v[index[i]!]!;
        logJ += nodes[i]!.logJ[index[i]!]!;
        p *= v[i]!;
      }
      const lf = logDensity(p);
      if (lf !== Number.NEGATIVE_INFINITY) {
        let q = 0;
        for (let i = 0; i < d; i++) {
          const row = H[i]!;
          let hv = 0;
          for (let j = 0; j < d; j++) hv += row[j]! * v[j]!;
          q += v[i]! * hv;
        }
        q *= 0.5;
        psis.forEach((psi, l) => {
          const { sign, log } = logForm(psi, q);
          sums[l]!.add(sign, log + lf + logJ);
        });
      }
      let i = 0;
      while (i < d && ++index[i]! === count) index[i++] = 0;
      if (i === d) break;
    }
    return sums.map((s) => s.value());
  };

  const gap = (a: readonly number[], b: readonly number[]) =>
    Math.max(
      ...a.map((x, l) => {
        const y = b[l]!;
        const scale = Math.max(Math.abs(x), Math.abs(y));
        return scale === 0 ? 0 : Math.abs(x - y) / scale;
      }),
    );
  const check = (values: number[]) => {
    const l = values.findIndex((x) => !Number.isFinite(x));
    if (l >= 0) {
      throw new MeasureError(
        `${where}: the integral of ψ_${l + 1}·f is ${values[l]} on the quadrature grid; ψ or f overflows there, so the measure has no finite value at this H.`,
      );
    }
    return values;
  };

  const widest = 7; // v up to s·sinh(7) ≈ 548·s: far past any Gaussian tail
  /** grid(h, U + 1), failing once the grid is as wide as it goes. */
  const widen = (h: number, U: number, current: number[]) => {
    const wider = check(grid(h, U + 1));
    const g = gap(current, wider);
    if (g > tolerance && U + 1 >= widest) {
      throw new MeasureError(
        `${where}: ∫ψ(½vᵀHv)·f(v₁⋯v_d)dv does not converge at this H (the quadrature grid's outer layer, |v_i| up to ${show(Math.sinh(widest) * Math.max(...scales))}, still changes it by ${show(g)} relative): the measure diverges here, or its tails are too heavy for quadrature.`,
      );
    }
    return { wider, settled: g <= tolerance };
  };
  // Widen at a coarse step (the tails are smooth, so a coarse grid sees what they
  // add), then halve h at that width until two steps agree; the finer sum is
  // returned, whose error is far below their gap once the trapezoid rule is in
  // its exponential regime.
  let h = 0.25;
  let U = 3;
  let current = check(grid(h, U));
  for (;;) {
    const { wider, settled } = widen(h, U, current);
    current = wider;
    U += 1;
    if (settled) break;
  }
  // Halving h squares the trapezoid error for analytic integrands (error ~ e^{−c/h}),
  // so once two successive gaps g₁ > g₂ show it (g₂ ≤ g₁^{3/2}), the finer sum's
  // error is about g₂²/g₁: that is the estimate compared with the tolerance.
  let relativeError = Number.POSITIVE_INFINITY;
  let previousGap = Number.POSITIVE_INFINITY;
  for (;;) {
    const finer = check(grid(h / 2, U));
    const g = gap(current, finer);
    current = finer;
    h /= 2;
    const exponential = previousGap < 1 && g <= previousGap ** 1.5;
    relativeError = exponential ? (g * g) / previousGap : g;
    if (g === 0 || (exponential && relativeError <= tolerance) || g * g <= tolerance * 1e-6) {
      relativeError = Math.min(relativeError, g);
      break;
    }
    previousGap = g;
  }
  return { values: current, relativeError, evaluations };
}
