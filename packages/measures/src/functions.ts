import { MeasureError, show } from './errors';
import type { OuterFunction, ScalarFunction } from './types';

/**
 * Building blocks for ψ (applied to q = ½vᵀHv) and φ (applied to the means
 * t = (t_1, …, t_m)) of Definition 1. Each carries its derivative, which
 * Algorithm 3 needs (ψ'_ℓ and ∂_ℓφ) and the evaluators' delta method uses.
 */

const finite = (x: number, what: string, where: string) => {
  if (!Number.isFinite(x)) {
    throw new MeasureError(`${where}: ${what} must be a finite number, got ${show(x)}.`);
  }
};

/** Checks n is an integer ≥ 1 (powers, polynomial degrees). */
export const checkDegree = (n: number, where: string) => {
  if (!(Number.isInteger(n) && n >= 1)) {
    throw new MeasureError(`${where}: n must be an integer ≥ 1, got ${show(n)}.`);
  }
};

const checkArity = (t: readonly number[], m: number, name: string) => {
  if (t.length !== m) {
    throw new MeasureError(`φ = ${name} takes ${m} argument(s), got ${t.length}.`);
  }
};

/** Scalar functions ψ. */
export const psi = {
  /** ψ(t) = t (trace and max-eigenvalue rows). */
  identity: {
    name: 't',
    value: (t) => t,
    derivative: () => 1,
    logFormDerivative: () => ({ sign: 1, log: 0 }),
  } satisfies ScalarFunction as ScalarFunction,

  /** ψ(t) = tⁿ, n an integer ≥ 1 (polynomial row; n = 2 in the Frobenius row). */
  power(n: number): ScalarFunction {
    checkDegree(n, 'psi.power');
    return {
      name: n === 1 ? 't' : `t^${n}`,
      value: (t) => t ** n,
      derivative: (t) => n * t ** (n - 1),
    };
  },

  /** ψ(t) = exp(σt) (σ = −1: determinant row; σ free: product row). */
  exp(sigma: number): ScalarFunction {
    finite(sigma, 'σ', 'psi.exp');
    return {
      name: sigma === 1 ? 'exp(t)' : sigma === -1 ? 'exp(−t)' : `exp(${show(sigma)}t)`,
      value: (t) => Math.exp(sigma * t),
      derivative: (t) => sigma * Math.exp(sigma * t),
      logForm: (t) => ({ sign: 1, log: sigma * t }),
      logFormDerivative: (t) => ({
        sign: Math.sign(sigma),
        log: Math.log(Math.abs(sigma)) + sigma * t,
      }),
    };
  },
};

const identityPhi: OuterFunction = {
  name: 't',
  value: (t) => {
    checkArity(t, 1, 't');
    return t[0]!;
  },
  gradient: (t) => {
    checkArity(t, 1, 't');
    return [1];
  },
  get homogeneous() {
    return { degree: 1, logScale: 0, base: identityPhi };
  },
};

/** Outer functions φ. */
export const phi = {
  /** φ(t) = t, m = 1 (trace and polynomial rows). */
  identity: identityPhi,
  /**
   * φ(t) = c·max_ℓ t_ℓ over any m ≥ 1 (c = 2: max-eigenvalue row). The
   * gradient is the indicator of the (first) maximiser, valid where it is unique.
   */
  max(scale = 2): OuterFunction {
    finite(scale, 'the scale c', 'phi.max');
    const argmax = (t: readonly number[]) => {
      if (t.length === 0) throw new MeasureError('φ = max takes at least one argument, got 0.');
      return t.reduce((best, x, i) => (x > t[best]! ? i : best), 0);
    };
    const max: OuterFunction = {
      name: `${show(scale)}·max`,
      value: (t) => scale * t[argmax(t)]!,
      gradient: (t) => {
        const i = argmax(t);
        return t.map((_, j) => (j === i ? scale : 0));
      },
      get homogeneous() {
        return { degree: 1, logScale: 0, base: max };
      },
    };
    return max;
  },

  /** φ(t₁, t₂) = 2(t₂ − t₁²): twice the variance of q when t = (E q, E q²) (Frobenius row). */
  variance: {
    name: '2(t₂ − t₁²)',
    value: (t) => {
      checkArity(t, 2, '2(t₂ − t₁²)');
      return 2 * (t[1]! - t[0]! * t[0]!);
    },
    gradient: (t) => {
      checkArity(t, 2, '2(t₂ − t₁²)');
      return [-4 * t[0]!, 2];
    },
  } satisfies OuterFunction as OuterFunction,

  /**
   * φ(t) = c/t², with c = exp(logScale) so that large constants such as the
   * determinant's (2π)^d stay representable (product row: c = 1; determinant
   * row: logScale = d·log 2π).
   */
  inverseSquare(logScale = 0): OuterFunction {
    finite(logScale, 'log c', 'phi.inverseSquare');
    const name = logScale === 0 ? '1/t²' : `${show(Math.exp(logScale))}/t²`;
    const value = (t: readonly number[]) => {
      checkArity(t, 1, name);
      const x = t[0]!;
      // exp(log c − 2 log|t|) keeps c/t² finite whenever the result itself is.
      return x === 0 ? Number.POSITIVE_INFINITY : Math.exp(logScale - 2 * Math.log(Math.abs(x)));
    };
    const unscaled = logScale === 0 ? undefined : phi.inverseSquare(0);
    const self: OuterFunction = {
      name,
      value,
      gradient: (t) => [(-2 * value(t)) / t[0]!],
      get homogeneous() {
        return { degree: -2, logScale, base: unscaled ?? self };
      },
    };
    return self;
  },
};
