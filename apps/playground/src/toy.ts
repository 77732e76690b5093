/**
 * The paper's two-parameter toy losses and optimizer trajectories on them.
 *
 * - Example 1: L = ½(x₁² − x₂²). H = diag(1, −1) everywhere: tr H = 0 (the
 *   trace calls every point flat), ‖H‖_F² = 2, det H = −1.
 * - Example 2: L = (x₁x₂ − 1)², scale-invariant (L(kx₁, x₂/k) = L(x₁, x₂)).
 *   On its zero-loss manifold x₁x₂ = 1, H = 2(x₂, x₁)(x₂, x₁)ᵀ:
 *   tr H = 2(x₁² + x₂²) and ‖H‖_F² = tr(H)², both smallest at |x₁| = |x₂| = 1,
 *   while det H = 0 at every point of it. So from a start on the manifold SGD
 *   and SAM stay (∇L = 0 there), Trace-SAM and Frob-SAM slide along it toward
 *   |x₁| = |x₂| = 1, and Det-SAM barely moves: its measure det H is 0 all
 *   along the manifold, so it prefers no point of it (Theorem 4: scale
 *   invariance). The sampled Det-SAM only approximates that measure: on a
 *   hypercube of half-width h, E[e^{−d}] ≈ 1 − h²·tr(H)/6, so it drifts like a
 *   Trace-SAM weighted by h², slowly for small h (see TOY_RUNS). Universal SAM
 *   with the log damped determinant (a member of the scale-invariant family,
 *   Theorem 1 of the workshop paper) is invariant as an objective, so its run
 *   stays put too, and from k·x₁, x₂/k it ends at the rescaled image (Theorem 2).
 *
 * This module is plain data, for the page; the trajectories (the real
 * @usam/optimizer steps on one tf.Variable of shape [2]) are computed in
 * toy-trajectory.ts, in the toy worker.
 */
import { defaultRun, OPTIMIZER_LABELS, type OptimizerName, type RunSettings } from './settings';

export type Point = readonly [number, number];

export interface ToyLoss {
  readonly name: 'example1' | 'example2';
  readonly label: string;
  /** The loss of x = (x₁, x₂) (toy-trajectory.ts has it as tensor ops). */
  value(x1: number, x2: number): number;
  /** Its Hessian, in closed form. */
  hessian(x1: number, x2: number): number[][];
  /** Where to draw: [−extent, extent]². */
  readonly extent: number;
  /** The default start. */
  readonly start: Point;
}

export const TOY_LOSSES: Record<ToyLoss['name'], ToyLoss> = {
  example1: {
    name: 'example1',
    label: 'Example 1: L = ½(x₁² − x₂²)',
    value: (x1, x2) => 0.5 * (x1 * x1 - x2 * x2),
    hessian: () => [
      [1, 0],
      [0, -1],
    ],
    extent: 3,
    start: [1, 0.2],
  },
  example2: {
    name: 'example2',
    label: 'Example 2: L = (x₁x₂ − 1)²',
    value: (x1, x2) => (x1 * x2 - 1) ** 2,
    hessian: (x1, x2) => [
      [2 * x2 * x2, 4 * x1 * x2 - 2],
      [4 * x1 * x2 - 2, 2 * x1 * x1],
    ],
    extent: 3,
    start: [2.5, 0.4],
  },
};

/**
 * The optimizers drawn on the toy losses (SSAM-F needs per-example losses, which a toy has not):
 * variants by their names, and `log-damped-determinant`, Universal SAM (Algorithm 3) with the
 * log damped determinant, the scale-invariant family's member to train with (docs/scale-invariant.md).
 */
export const TOY_OPTIMIZERS = [
  'sgd',
  'sam',
  'asam',
  'trace-sam',
  'frob-sam',
  'det-sam',
  'log-damped-determinant',
] as const satisfies readonly (OptimizerName | 'log-damped-determinant')[];
export type ToyOptimizer = (typeof TOY_OPTIMIZERS)[number];

/** How the page names each toy optimizer: the variant's label, or the measure Universal SAM runs. */
export const TOY_LABELS: Readonly<Record<ToyOptimizer, string>> = {
  ...(OPTIMIZER_LABELS as Record<Exclude<ToyOptimizer, 'log-damped-determinant'>, string>),
  'log-damped-determinant': 'Log damped determinant',
};

/**
 * Settings for the toys. Radii are larger than the paper's network settings:
 * the regularisers' drift along the manifold is of order lr·λ·ρ², so with
 * ρ = 0.01 nothing would visibly move in a few hundred steps. Det-SAM keeps
 * ρ = 1 with h = 0.1 (perturbation std ρh/√3 ≈ 0.06, against Trace-SAM's 0.3).
 * Wider hypercubes show the sampled algorithm away from small h: at h = 1 it
 * slides to |x₁| = |x₂| = 1 as well; at h = 2 its 1/t̄² weights blow up and it
 * diverges. Theorem 4's invariance belongs to the exact measure, not to this
 * finite-h estimate of it.
 * Frob-SAM takes n = 8 at λ = 0.05: its covariance estimate has heavy tails on
 * a quartic, and with n = 4 single steps jump by up to 1.5.
 */
export const TOY_RUNS: Record<ToyOptimizer, RunSettings> = {
  sgd: defaultRun('sgd'),
  sam: { ...defaultRun('sam'), rho: 0.1 },
  asam: { ...defaultRun('asam'), rho: 0.1 },
  'trace-sam': { ...defaultRun('trace-sam'), rho: 0.3, samples: 4 },
  'frob-sam': { ...defaultRun('frob-sam'), rho: 0.3, lambda: 0.05, samples: 8 },
  'det-sam': { ...defaultRun('det-sam'), rho: 1, halfWidth: 0.1, samples: 4 },
  // Theorem 2 of the scale-invariant paper: its objective is constant along the manifold,
  // so it stays put. λ < ½ (the log form's objective is (1 − 2λ)L + 2λ·a soft minimum).
  'log-damped-determinant': {
    ...defaultRun('universal'),
    rho: 0.1,
    lambda: 0.25,
    samples: 16,
  },
};

/** Universal SAM's measure for the toy optimizers that run it (toy-trajectory.ts builds it). */
export const TOY_MEASURE_NAMES: Readonly<Partial<Record<ToyOptimizer, 'log-damped-determinant'>>> =
  { 'log-damped-determinant': 'log-damped-determinant' };

export interface ToyOptions {
  readonly lr: number;
  readonly steps: number;
  readonly seed: number;
}

export const TOY_DEFAULTS: ToyOptions = { lr: 0.02, steps: 300, seed: 1 };

/** The Hessian measures the page shows along a path (closed forms of @usam/measures). */
export interface ToyMeasures {
  readonly loss: number;
  readonly trace: number;
  readonly frobenius: number;
  readonly lambdaMax: number;
  readonly determinant: number;
}

export interface Trajectory {
  readonly optimizer: ToyOptimizer;
  /** x after 0, 1, …, steps steps (stops early if it leaves 10× the drawn square). */
  readonly path: Point[];
  readonly measures: ToyMeasures[];
  /** The step at which it left 10× the drawn square (diverged), where it did. */
  readonly left?: number;
}

/** What the page asks the toy worker: trajectories of some optimizers from one start. */
export interface ToyRequest {
  readonly id: number;
  readonly toy: ToyLoss['name'];
  readonly start: Point;
  readonly options: ToyOptions;
  readonly optimizers: readonly ToyOptimizer[];
  /** Settings per optimizer where the page changed them (ρ, h); TOY_RUNS otherwise. */
  readonly runs?: Readonly<Partial<Record<ToyOptimizer, RunSettings>>>;
}

export type ToyResponse =
  | { readonly type: 'trajectories'; readonly id: number; readonly trajectories: Trajectory[] }
  | { readonly type: 'error'; readonly id: number; readonly message: string };
