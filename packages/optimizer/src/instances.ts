import { defineMeasure, frobenius, hypercube, phi, psi, type Sampler, trace } from '@usam/measures';
import { covariance, logSpace } from './coefficients';
import { requireNumber, withDefaults } from './errors';
import type { OptimizerOptions } from './sharpness-aware';
import { UniversalSam, type UniversalSamOptions } from './universal-sam';

/** What every instance takes besides the base options; each has the paper's defaults. */
export interface InstanceOptions extends OptimizerOptions {
  readonly rho?: number;
  readonly samples?: number;
  readonly lambda?: number;
  readonly seed?: number | string;
  /** Replaces the instance's μ (SPEC §4), e.g. `fixed([...])` to inject perturbations. */
  readonly sampler?: Sampler;
}

/** Algorithm 3 for any (φ, ψ, μ) measure: `new UniversalSam(options)`. */
export function universalSam(options: UniversalSamOptions): UniversalSam {
  return new UniversalSam(options);
}

/**
 * Frob-SAM (Algorithm 2): the Frobenius triple ψ = (t, t²), φ = 2(t₂ − t₁²),
 * μ = N(0, I) with shared samples, in its covariance form
 * g = ∇L + λ·(4/ρ²)·ĉov(L_i, ∇L_i) (unbiased, so n ≥ 2). Defaults: the paper's
 * CIFAR-10 choice, ρ = 0.005, n = 2 (Table 5) and λ_ref = 5e-3 (Table 4),
 * which is λ = λ_ref/4 = 1.25e-3 here (SPEC §3). Cost 1 + n gradients.
 */
export function frobSam(options: InstanceOptions): UniversalSam {
  return new UniversalSam(
    {
      ...withDefaults({ rho: 0.005, samples: 2, lambda: 0.00125 }, options),
      measure: frobenius(),
      coefficients: covariance,
    },
    'frobSam',
  );
}

/**
 * Trace-SAM: ψ = φ = identity, g = ∇L + λ·(1/n)Σ(∇L(x + ρv_i) − ∇L(x)).
 * `mu: 'gaussian'` (default, N(0, I), what the paper's experiments sampled) or
 * `'sphere'` (uniform on the unit sphere of the whole parameter vector,
 * Table 1). Defaults: ρ = 0.01, n = 1, λ = 1 (the paper's CIFAR-10 choice).
 */
export function traceSam(
  options: InstanceOptions & { readonly mu?: 'gaussian' | 'sphere' },
): UniversalSam {
  return new UniversalSam(
    {
      ...withDefaults({ rho: 0.01, samples: 1, lambda: 1 }, options),
      measure: trace(options?.mu ?? 'gaussian'),
    },
    'traceSam',
  );
}

/**
 * Det-SAM: ψ = exp(−t), φ = 1/t², μ = uniform on the hypercube [−h, h]^d
 * (the determinant row with the Lebesgue integral truncated and its constants
 * dropped, SPEC §2), perturbation ρ·v, computed in log space so no finite
 * losses give NaN or ±∞ (clipped coefficients are counted). Defaults: ρ = 1,
 * h = 0.01, n = 1, λ = 1.
 *
 * With h this small, E[e^{−d}] ≈ 1 − h²·tr(H)/6, so to first order the step
 * regularises the trace (scaled by h²), not the determinant.
 */
export function detSam(options: InstanceOptions & { readonly halfWidth?: number }): UniversalSam {
  const h = requireNumber('detSam', 'halfWidth (h)', options?.halfWidth ?? 0.01, {
    min: 0,
    strict: true,
  });
  return new UniversalSam(
    {
      ...withDefaults({ rho: 1, samples: 1, lambda: 1 }, options),
      measure: defineMeasure({
        name: `det-SAM (hypercube h=${h})`,
        components: [{ mu: hypercube(h), psi: psi.exp(-1) }],
        phi: phi.inverseSquare(),
      }),
      coefficients: logSpace,
    },
    'detSam',
  );
}
