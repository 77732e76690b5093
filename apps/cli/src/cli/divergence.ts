import { isMnist } from '../train/defaults';

/**
 * Settings known to diverge, said before a run starts (docs/reproduce-default.md).
 * Frob-SAM with n = 2 scales its covariance term by 4λ/ρ², so its effective
 * step on that term is lr·4λ/ρ². Measured on the 6×128 MLP and MNIST: every
 * setting with lr·4λ/ρ² ≥ 1 diverged on some seed (lr 0.02 with λ = 0.00125,
 * 0.0025; lr 0.05 with λ = 0.01), and lr 0.02 with λ = 0.005 (4) nearly
 * collapsed; at 0.5 and below (lr 0.05 with λ = 0.00025; Figure 2's lr 0.001
 * with λ ≤ 0.0025, i.e. ≤ 0.1) every run trained.
 */
export const FROB_SAM_UNSTABLE = 1;

/**
 * Why a run with these settings is expected to diverge, or undefined. Only on
 * MNIST, where the threshold was measured: the ratio says how large the
 * covariance step is relative to lr, not how the Hessian of another model on
 * other data scales it, and the paper's own CIFAR settings (lr 0.1, ρ 0.005,
 * λ_ref 0.005: a ratio of 20) trained ResNet-18 in its Tables 2–3
 * (docs/reproduce-default.md, "Divergence"). A run that diverges anyway is
 * stopped loudly (docs/run-directory.md, "Divergence").
 */
export function knownDivergence(settings: {
  /** Undefined (a caller that does not say, like the playground, whose data is MNIST): warned as MNIST. */
  readonly dataset?: string;
  readonly optimizer: string;
  readonly lr: number;
  readonly lambda?: number | null;
  readonly rho?: number | null;
}): string | undefined {
  if (settings.optimizer !== 'frob-sam') return undefined;
  if (settings.dataset !== undefined && !isMnist(settings.dataset)) return undefined;
  const { lr, lambda, rho } = settings;
  if (typeof lambda !== 'number' || typeof rho !== 'number' || !(lambda > 0) || !(rho > 0)) {
    return undefined;
  }
  const scale = (lr * 4 * lambda) / rho ** 2;
  if (scale < FROB_SAM_UNSTABLE) return undefined;
  return `frob-sam with lr ${lr}, λ ${lambda}, ρ ${rho} has lr·4λ/ρ² = ${Number(scale.toPrecision(3))} ≥ ${FROB_SAM_UNSTABLE}: such settings diverged in our measurements on MNIST; a lower lr or λ (or a larger ρ) trains`;
}
