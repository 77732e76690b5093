import * as tf from '@tensorflow/tfjs-core';
import { tensorList } from '@usam/measures';
import { checkOptions, describe, OptimizerError, requireInteger, requireNumber } from './errors';
import { remember } from './recipe';
import { SharpnessAwareOptimizer } from './sharpness-aware';
import {
  ENGINE_OPTIONS,
  type LossClosure,
  type OptimizerOptions,
  type Perturbation,
  type PerturbationState,
  type PrepareContext,
} from './types';

/** Added to the norms SAM-type perturbations divide by (docs/sharpness-aware-step.md). */
export const NORM_EPSILON = 1e-12;

/** e from x and ∇L(x), one tensor per variable; called inside tf.tidy. */
export type Ascent = (x: readonly tf.Tensor[], g: readonly tf.Tensor[]) => tf.Tensor[];

/**
 * First-order worst-case ascent (optax's "adversarial perturbation"): one
 * extra gradient at x + e, with e from x and ∇L(x), so that
 * g = ∇L(x) + λ(∇L(x + e) − ∇L(x)). SAM, ASAM and SSAM-F are this with their
 * e; so is any new variant (a fixed direction, say). `idle` marks ρ = 0.
 */
export function ascent(name: string, direction: Ascent, idle = false): Perturbation {
  return {
    name,
    idle,
    perturb(context) {
      const e = tf.tidy(() => direction(context.origin, context.clean.gradient));
      try {
        context.evaluateAt(e);
      } finally {
        tensorList.dispose(e);
      }
      const { clean, perturbed } = context.losses();
      return { coefficients: [1], sharpness: perturbed[0]! - clean };
    },
  };
}

/** e = ρ·g/(‖g‖ + 1e-12), the norm over all parameters together. */
const samDirection =
  (rho: number): Ascent =>
  (_x, g) =>
    tensorList.scale(g, tf.div(rho, tf.add(tensorList.norm(g), NORM_EPSILON)) as tf.Scalar);

/** Options of the first-order ascent baselines. */
export interface AscentOptions extends OptimizerOptions {
  /** ρ ≥ 0, the ascent radius; ρ = 0 is the base optimizer exactly. */
  readonly rho?: number;
}

const SAM_OPTIONS = [...ENGINE_OPTIONS, 'rho'];

/** `sam`'s default ρ (Foret et al.'s CIFAR-10 choice). */
export const SAM_DEFAULTS = { rho: 0.05 } as const;
/** `asam`'s defaults (Kwon et al.'s CIFAR-10 choice). */
export const ASAM_DEFAULTS = { rho: 0.5, eta: 0.01 } as const;
/** `ssamF`'s defaults (Mi et al.'s CIFAR-10 choice). */
export const SSAM_DEFAULTS = { rho: 0.1, sparsity: 0.5, numSamples: 16, updateFreq: 1 } as const;

/**
 * SAM (Foret et al., 2021): e = ρ·g/(‖g‖ + 1e-12), with the norm over all
 * parameters together; the gradient at x + e replaces g (λ = 1, the default).
 * Default ρ = 0.05. Cost 2 gradients.
 */
export function sam(options: AscentOptions): SharpnessAwareOptimizer {
  const o = checkOptions('sam', options, SAM_OPTIONS);
  const rho = requireNumber('sam', 'rho (ρ)', o.rho ?? SAM_DEFAULTS.rho, { min: 0 });
  const optimizer = new SharpnessAwareOptimizer(
    'sam',
    o,
    ascent('sam', samDirection(rho), rho === 0),
  );
  return remember(optimizer, 'sam', o);
}

/** ASAM's e = ρ·T²g/(‖Tg‖ + 1e-12) with T = |x| + η elementwise. */
export const asamDirection =
  (rho: number, eta: number): Ascent =>
  (x, g) => {
    // ‖Tg‖ and T²g each in one pass over x and g (tensorList), T = |x| + η.
    const norm = tf.sqrt(tensorList.adaptiveSquaredNorm(x, g, eta));
    const scale = tf.div(rho, tf.add(norm, NORM_EPSILON)) as tf.Scalar;
    return tensorList.scale(tensorList.adaptiveDirection(x, g, eta), scale);
  };

/** Options of ASAM. */
export interface AsamOptions extends AscentOptions {
  /** η > 0 in T = |x| + η. Default 0.01. */
  readonly eta?: number;
}

/**
 * ASAM (Kwon et al., 2021), adaptive SAM: T = |x| + η elementwise and
 * e = ρ·T²g/(‖Tg‖ + 1e-12). Defaults ρ = 0.5, η = 0.01. Cost 2 gradients.
 */
export function asam(options: AsamOptions): SharpnessAwareOptimizer {
  const o = checkOptions('asam', options, [...SAM_OPTIONS, 'eta']);
  const rho = requireNumber('asam', 'rho (ρ)', o.rho ?? ASAM_DEFAULTS.rho, { min: 0 });
  const eta = requireNumber('asam', 'eta (η)', o.eta ?? ASAM_DEFAULTS.eta, {
    min: 0,
    strict: true,
  });
  return remember(
    new SharpnessAwareOptimizer('asam', o, ascent('asam', asamDirection(rho, eta), rho === 0)),
    'asam',
    o,
  );
}

/**
 * Per-example loss closures for SSAM-F's Fisher information: `count` closures,
 * each the loss of one training example, for the given epoch (so a provider can
 * pick a fresh random subset each time).
 */
export type ExampleLosses = (count: number, epoch: number) => Iterable<() => tf.Scalar>;

/** Options of SSAM-F. */
export interface SsamOptions extends AscentOptions {
  /** The per-example losses the Fisher mask is computed from. Required. */
  readonly fisherLosses: ExampleLosses;
  /** Fraction of parameters NOT perturbed, in [0, 1). Default 0.5. */
  readonly sparsity?: number;
  /** Examples summed into the empirical Fisher information. Default 16. */
  readonly numSamples?: number;
  /** Recompute the mask every this many epochs (pass `epoch` to `step`). Default 1. */
  readonly updateFreq?: number;
}

/** SSAM-F's perturbation, with its mask in view. */
export interface FisherMaskPerturbation extends Perturbation {
  /** The current mask (1 = perturbed), one tensor per variable; undefined before the first step. */
  readonly mask: readonly tf.Tensor[] | undefined;
  /** The epoch the mask was computed at. */
  readonly maskEpoch: number | undefined;
  /** Gradient evaluations spent on Fisher masks (not counted in step statistics). */
  readonly fisherEvaluations: number;
}

/**
 * SSAM-F (Mi et al., 2022), sparse SAM with a Fisher mask: SAM's e restricted
 * to the (1 − sparsity) share of parameters with the largest empirical Fisher
 * information Σ_j (∂L_j/∂x)² over `numSamples` single examples. As in the
 * reference code, e = mask ⊙ ρg/(‖g‖ + 1e-12) (the norm of the whole
 * gradient). The mask is recomputed every `updateFreq` epochs, as told by
 * `step(loss, { epoch })` (without epochs it is computed once), and whenever
 * the trained variables change. Defaults ρ = 0.1, sparsity 0.5, numSamples 16,
 * updateFreq 1. Cost 2 gradients per step, plus numSamples per mask.
 */
export function ssamF(options: SsamOptions): SharpnessAwareOptimizer<FisherMaskPerturbation> {
  const where = 'ssamF';
  const o = checkOptions(where, options, [
    ...SAM_OPTIONS,
    'fisherLosses',
    'sparsity',
    'numSamples',
    'updateFreq',
  ]);
  if (typeof o.fisherLosses !== 'function') {
    throw new OptimizerError(
      `${where}: fisherLosses must be a function (count, epoch) => per-example loss closures, for the Fisher mask; got ${describe(o.fisherLosses)}.`,
    );
  }
  const rho = requireNumber(where, 'rho (ρ)', o.rho ?? SSAM_DEFAULTS.rho, { min: 0 });
  const sparsity = requireNumber(where, 'sparsity', o.sparsity ?? SSAM_DEFAULTS.sparsity, {
    min: 0,
  });
  if (sparsity >= 1) {
    throw new OptimizerError(
      `${where}: sparsity must be in [0, 1) (the share of parameters left unperturbed), got ${sparsity}.`,
    );
  }
  const numSamples = requireInteger(
    where,
    'numSamples',
    o.numSamples ?? SSAM_DEFAULTS.numSamples,
    1,
  );
  const updateFreq = requireInteger(
    where,
    'updateFreq',
    o.updateFreq ?? SSAM_DEFAULTS.updateFreq,
    1,
  );
  const optimizer = new SharpnessAwareOptimizer(
    where,
    o,
    fisherMask({ rho, sparsity, numSamples, updateFreq, fisherLosses: o.fisherLosses }),
  );
  return remember(optimizer, where, o);
}

function fisherMask(options: {
  rho: number;
  sparsity: number;
  numSamples: number;
  updateFreq: number;
  fisherLosses: ExampleLosses;
}): FisherMaskPerturbation {
  const { rho, sparsity, numSamples, updateFreq, fisherLosses } = options;
  let mask: tf.Tensor[] | undefined;
  let maskEpoch: number | undefined;
  let maskFor: string | undefined; // the shapes of the variables the mask was made for
  let fisherEvaluations = 0;
  const where = 'ssamF';

  function* examples(epoch: number): Generator<() => tf.Scalar> {
    const losses = fisherLosses(numSamples, epoch) as unknown;
    const iterator = (losses as Iterable<unknown> | null)?.[Symbol.iterator];
    if (typeof iterator !== 'function') {
      throw new OptimizerError(
        `${where}: fisherLosses(count, epoch) must return an iterable (e.g. an array) of per-example loss closures, got ${describe(losses)}.`,
      );
    }
    let i = 0;
    for (const loss of losses as Iterable<unknown>) {
      if (i === numSamples) return;
      if (typeof loss !== 'function') {
        throw new OptimizerError(
          `${where}: fisherLosses yielded ${describe(loss)} at position ${i}; yield loss closures () => tf.Scalar, one per example.`,
        );
      }
      yield loss as LossClosure as () => tf.Scalar;
      i++;
    }
  }

  function update(context: PrepareContext, epoch: number) {
    let fisher: tf.Tensor[] = tensorList.zerosLike(context.variables);
    try {
      let used = 0;
      for (const loss of examples(epoch)) {
        const { loss: value, gradient } = context.gradient(loss);
        fisherEvaluations++;
        const next = tf.tidy(() => fisher.map((f, k) => tf.add(f, tf.square(gradient[k]!))));
        tensorList.dispose([value, ...gradient, ...fisher]);
        fisher = next;
        used++;
      }
      if (used === 0) {
        throw new OptimizerError(
          `${where}: fisherLosses gave no example losses; return numSamples per-example loss closures.`,
        );
      }
      const next = topShareMask(fisher, 1 - sparsity);
      tensorList.dispose(mask);
      mask = next;
      maskEpoch = epoch;
      maskFor = signature(context.variables);
    } finally {
      tensorList.dispose(fisher);
    }
  }

  const sam = samDirection(rho);
  const direction: Ascent = (x, g) => tensorList.mul(sam(x, g), mask!);
  const perturbation = ascent('ssamF', direction, rho === 0);
  return {
    ...perturbation,
    get mask() {
      return mask;
    },
    get maskEpoch() {
      return maskEpoch;
    },
    get fisherEvaluations() {
      return fisherEvaluations;
    },
    prepare(context) {
      const { epoch } = context;
      const due =
        mask === undefined ||
        signature(context.variables) !== maskFor ||
        (epoch !== undefined && epoch - (maskEpoch ?? 0) >= updateFreq);
      if (due) update(context, epoch ?? 0);
    },
    getState(): PerturbationState {
      return {
        json: { maskEpoch: maskEpoch ?? null, fisherEvaluations, maskFor: maskFor ?? null },
        tensors: (mask ?? []).map((t) => t.clone()),
      };
    },
    setState({ json, tensors }) {
      tensorList.dispose(mask);
      mask = tensors.length > 0 ? tensors.map((t) => tf.keep(t.clone())) : undefined;
      maskEpoch = typeof json.maskEpoch === 'number' ? json.maskEpoch : undefined;
      fisherEvaluations = Number(json.fisherEvaluations ?? 0);
      maskFor = typeof json.maskFor === 'string' ? json.maskFor : undefined;
    },
    dispose() {
      tensorList.dispose(mask);
      mask = undefined;
    },
  };
}

/** The shapes of a variable list, as one string. */
const signature = (variables: readonly tf.Variable[]) =>
  variables.map((v) => `[${v.shape}]`).join(',');

/**
 * 0/1 masks keeping exactly round(share·d) entries with the largest values over
 * all tensors together; ties at the threshold go to the earliest entries.
 */
export function topShareMask(values: readonly tf.Tensor[], share: number): tf.Tensor[] {
  const flat = tensorList.readSync(values);
  const d = flat.length;
  const keep = Math.round(share * d);
  const sorted = flat.slice().sort();
  const threshold = keep === 0 ? Number.POSITIVE_INFINITY : sorted[d - keep]!;
  let above = 0;
  for (const x of flat) if (x > threshold) above++;
  let ties = keep - above;
  const out = new Float32Array(d);
  flat.forEach((x, i) => {
    if (x > threshold || (x === threshold && ties-- > 0)) out[i] = 1;
  });
  return tensorList.fromFlat(out, tensorList.shapesOf(values)).map((t) => tf.keep(t));
}
