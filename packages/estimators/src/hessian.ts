import * as tf from '@tensorflow/tfjs-core';
import type { Measure, ModelLike } from '@usam/measures';
import { type Batch, firstBatches } from './data';
import { describe, EstimatorError, requireInteger, requireOptions } from './errors';
import {
  type FrobeniusOptions,
  frobeniusNormSquared,
  type HutchinsonOptions,
  hutchinsonTrace,
} from './hutchinson';
import { createHvp, type HvpOperator } from './hvp';
import {
  type MeasureMonteCarloEstimate,
  type MeasureMonteCarloOptions,
  measureMonteCarlo,
} from './measure';
import { type TopEigenvalues, type TopEigenvaluesOptions, topEigenvalues } from './power-iteration';
import type { Seed } from './rng';
import { type SpectralDensity, type SpectralDensityOptions, spectralDensity } from './slq';
import type { Estimate } from './stats';
import {
  twiceDifferentiableSigmoidCrossEntropy,
  twiceDifferentiableSoftmaxCrossEntropy,
} from './twice-differentiable';

/**
 * What `hessian` needs of a model; a tfjs-layers `LayersModel` (Sequential or
 * functional) is one. Typed structurally so this package does not depend on
 * tfjs-layers.
 */
export interface HessianModel extends ModelLike {
  apply(inputs: tf.Tensor, kwargs?: { training?: boolean }): tf.Tensor | tf.Tensor[] | unknown;
  /** The layers (tfjs-layers): the last one's activation is checked (see `HessianOptions.loss`). */
  readonly layers?: readonly unknown[];
  /** The output layers (tfjs-layers' functional models). */
  readonly outputLayers?: readonly unknown[];
  /** Symbolic inputs and outputs (tfjs-layers): their shapes are checked against the data. */
  readonly inputs?: readonly { readonly shape?: readonly (number | null)[] }[];
  readonly outputs?: readonly { readonly shape?: readonly (number | null)[] }[];
}

/** A loss by name, or `(labels, outputs) => mean loss over the batch`. */
export type HessianLoss =
  | 'softmaxCrossEntropy'
  | 'sigmoidCrossEntropy'
  | 'meanSquaredError'
  | ((labels: tf.Tensor, outputs: tf.Tensor) => tf.Scalar);

export interface HessianOptions {
  /**
   * The labelled examples H is the Hessian of the mean loss over: `{ xs, ys }`
   * (split into batches of `batchSize`), or batches. The paper (Appendix I)
   * uses the first 1280 training examples, without augmentation. `ys`: one-hot
   * rows, or integer class indices (int32, rank 1) for softmaxCrossEntropy.
   */
  readonly data: { readonly xs: tf.Tensor; readonly ys: tf.Tensor } | readonly Batch[];
  /**
   * The cross-entropies take logits. A model whose last layer ends in a
   * softmax (or sigmoid) activation outputs probabilities, so there they are
   * evaluated on the pre-activation, the same loss as Keras's cross-entropy
   * on the probabilities (and twice differentiable); a cross-entropy that does
   * not match the activation is an error. Default: the cross-entropy matching
   * the model's last activation, `'softmaxCrossEntropy'` for a linear one.
   * `'meanSquaredError'` and functions see the model's outputs as they are.
   */
  readonly loss?: HessianLoss;
  /** Examples per batch when `data` is `{ xs, ys }`; default 128. Does not change H. */
  readonly batchSize?: number;
  /** Default seed of every estimator's probes (each call can pass its own); default 0. */
  readonly seed?: Seed;
}

/** `density` options: Lanczos `iterations` per probe and the rest of `SpectralDensityOptions`. */
export interface DensityOptions extends Omit<SpectralDensityOptions, 'steps'> {
  /** Lanczos steps per probe (capped at d); default 90. */
  readonly iterations?: number;
}

/**
 * The Hessian of a model's loss over fixed labelled data, PyHessian-style:
 * each method returns `{ estimate, standardError, … }` (docs/hessian-estimators.md).
 */
export interface ModelHessian {
  /** d, the number of trainable parameters. */
  readonly dimension: number;
  /** The Hessian-vector products underneath (exact, eval mode), for the lower-level estimators. */
  readonly operator: HvpOperator;
  /** tr H by Hutchinson (default 100 Rademacher probes). */
  trace(options?: HutchinsonOptions): Promise<Estimate>;
  /** ‖H‖_F² = E‖Hz‖² (default 100 Gaussian probes; paper, Appendix I). */
  frobenius(options?: FrobeniusOptions): Promise<Estimate>;
  /** The k eigenvalues largest in magnitude, by power iteration with deflation (default k = 1). */
  eigenvalues(options?: TopEigenvaluesOptions): Promise<TopEigenvalues>;
  /** Spectral density by stochastic Lanczos quadrature; `grid`/`values` are ready to plot. */
  density(options?: DensityOptions): Promise<SpectralDensity>;
  /** Any (φ, ψ, μ) measure of @usam/measures by Monte Carlo (docs/measures.md). */
  measure(measure: Measure, options?: MeasureMonteCarloOptions): Promise<MeasureMonteCarloEstimate>;
  /** Frees the batches `hessian` made from `{ xs, ys }` (never the model or your tensors). */
  dispose(): void;
}

const WHERE = 'hessian';
const OPTIONS = ['data', 'loss', 'batchSize', 'seed'];
const LOSSES = ['softmaxCrossEntropy', 'sigmoidCrossEntropy', 'meanSquaredError'];

/**
 * The Hessian of `model`'s loss over `options.data` with respect to its
 * trainable weights, as exact Hessian-vector products (reverse over reverse;
 * needs `initBackend` from @usam/backend). The model runs in eval mode
 * (`training: false`: BatchNorm uses its moving statistics, dropout is off)
 * and every non-trainable variable is restored bit-identically after each
 * product. The named losses are twice differentiable
 * (`'softmaxCrossEntropy'` is `twiceDifferentiableSoftmaxCrossEntropy`); a
 * function loss is checked like any `createHvp` loss.
 *
 * ```ts
 * const H = hessian(model, { data: { xs, ys } });
 * const { estimate, standardError } = await H.trace({ probes: 100 });
 * ```
 */
export function hessian(model: HessianModel, options: HessianOptions): ModelHessian {
  if (
    model == null ||
    typeof (model as HessianModel).apply !== 'function' ||
    !Array.isArray((model as HessianModel).trainableWeights)
  ) {
    throw new EstimatorError(
      `${WHERE}: model must be a tfjs-layers model (apply, trainableWeights), got ${describe(model)}.`,
    );
  }
  if (options == null || typeof options !== 'object') {
    throw new EstimatorError(
      `${WHERE}: options must be an object { data, loss?, batchSize?, seed? }, got ${describe(options)}; pass at least data: { xs, ys }.`,
    );
  }
  requireOptions(WHERE, options, OPTIONS);
  const head = headOf(model);
  const lossOf = resolveLoss(options.loss, head);
  const preActivation = head !== undefined && lossOf.onLogits;
  const variables = model.trainableWeights.map((w) => w.read());
  if (variables.length === 0) {
    throw new EstimatorError(
      `${WHERE}: the model has no trainable weights; build it (call it once on an input) and leave model.trainable true.`,
    );
  }
  const preserve = (model.nonTrainableWeights ?? []).map((w) => w.read());
  const { batches, owned } = resolveData(options.data, options.batchSize);
  try {
    checkDataShapes(model, batches, lossOf);
  } catch (error) {
    tf.dispose(owned);
    throw error;
  }
  const seed = options.seed ?? 0;
  const operator = createHvp({
    variables: variables as tf.Variable[],
    preserve: preserve as tf.Variable[],
    data: batches,
    loss: (batch: Batch) =>
      tf.tidy(() => {
        const output = preActivation
          ? head.withoutActivation(() => model.apply(batch.xs, { training: false }))
          : model.apply(batch.xs, { training: false });
        if (!(output instanceof tf.Tensor)) {
          throw new EstimatorError(
            `${WHERE}: the model returned ${describe(output)}; hessian needs a model with one output tensor.`,
          );
        }
        checkLabels(lossOf, batch.ys, output);
        return lossOf(batch.ys, output);
      }),
  });
  const withSeed = <T extends { seed?: Seed }>(o: T | undefined): T => ({ seed, ...o }) as T;
  return {
    dimension: operator.dimension,
    operator,
    trace: (o) => hutchinsonTrace(operator, withSeed(o)),
    frobenius: (o) => frobeniusNormSquared(operator, withSeed(o)),
    eigenvalues: (o) => topEigenvalues(operator, withSeed(o)),
    density: (o) => {
      const { iterations, ...rest } = withSeed(o);
      return spectralDensity(operator, {
        ...rest,
        ...(iterations !== undefined && { steps: iterations }),
      });
    },
    measure: (measure, o) => measureMonteCarlo(operator, measure, withSeed(o)),
    dispose: () => tf.dispose(owned),
  };
}

/** A last activation whose outputs are probabilities, and a way to evaluate the model without it. */
interface Head {
  readonly kind: 'softmax' | 'sigmoid';
  /** Runs `f` with the activation replaced by the identity (restored after, also on a throw). */
  withoutActivation<T>(f: () => T): T;
}

/** tfjs-layers' linear activation, as a layer's `activation` field holds one. */
const IDENTITY = { apply: (x: tf.Tensor) => x, getClassName: () => 'linear' };

/**
 * The model's last activation where it is a softmax or sigmoid: a layer's
 * `activation` (Dense, Conv, Activation layers) or tfjs-layers' Softmax layer
 * over the last axis, looked up through nested models.
 */
function headOf(model: unknown): Head | undefined {
  type LayerLike = {
    activation?: { getClassName?: () => string };
    softmax?: unknown;
    axis?: unknown;
    getClassName?: () => string;
    layers?: readonly unknown[];
    outputLayers?: readonly unknown[];
  };
  let layer = model as LayerLike | undefined;
  for (let depth = 0; depth < 100 && layer != null; depth++) {
    const outputs = layer.outputLayers;
    const inner = outputs?.length === 1 ? outputs[0] : layer.layers?.at(-1);
    if (inner == null || inner === layer) break;
    layer = inner as LayerLike;
    if (!Array.isArray(layer.layers)) break;
  }
  if (layer == null || layer === model) return undefined;
  const swap =
    <K extends keyof LayerLike>(key: K, value: unknown) =>
    <T>(f: () => T): T => {
      const target = layer as Record<string, unknown>;
      const saved = target[key];
      target[key] = value;
      try {
        return f();
      } finally {
        target[key] = saved;
      }
    };
  const name = layer.activation?.getClassName?.();
  if (name === 'softmax' || name === 'sigmoid') {
    return { kind: name, withoutActivation: swap('activation', IDENTITY) };
  }
  if (layer.getClassName?.() === 'Softmax' && typeof layer.softmax === 'function') {
    if (layer.axis !== -1 && layer.axis !== 1) {
      throw new EstimatorError(
        `${WHERE}: the model ends in a Softmax layer over axis ${describe(layer.axis)}; hessian's cross-entropies take the last axis, so pass your own loss function.`,
      );
    }
    const axis = layer.axis;
    const identity = (x: tf.Tensor) => {
      // tfjs's default axis is 1: the last one only for [batch, classes] outputs.
      if (axis === 1 && x.rank !== 2) {
        throw new EstimatorError(
          `${WHERE}: the model ends in a Softmax layer over axis 1 of a rank-${x.rank} output; hessian's cross-entropies take the last axis, so pass your own loss function.`,
        );
      }
      return x;
    };
    return { kind: 'softmax', withoutActivation: swap('softmax', identity) };
  }
  return undefined;
}

type LossOf = ((labels: tf.Tensor, outputs: tf.Tensor) => tf.Scalar) & {
  onLogits?: boolean;
  /** The named loss, for the shape checks (a function loss checks its own). */
  named?: string;
};

/** `[4, 3]`, with null (any size) as `*`. */
const showShape = (shape: readonly (number | null)[]) =>
  `[${shape.map((n) => (n === null ? '*' : n)).join(', ')}]`;

/**
 * Checks the data against the model's symbolic input and output shapes where
 * it has them (tfjs-layers models do), before any work: each batch's xs must
 * fit the input, and the labels of a named loss must fit the output (one-hot
 * rows as wide as the output; integer class indices inside [0, classes)).
 */
function checkDataShapes(model: HessianModel, batches: readonly Batch[], lossOf: LossOf): void {
  const input = model.inputs?.length === 1 ? model.inputs[0]?.shape : undefined;
  const output = model.outputs?.length === 1 ? model.outputs[0]?.shape : undefined;
  batches.forEach(({ xs, ys }, b) => {
    if (input && !fits(xs.shape, input)) {
      throw new EstimatorError(
        `${WHERE}: data.xs${batches.length > 1 ? ` of batch ${b}` : ''} has shape ${showShape(xs.shape)} but the model takes inputs of shape ${showShape(input)}; pass examples shaped like the model's input.`,
      );
    }
    if (xs.shape[0] !== ys.shape[0]) {
      throw new EstimatorError(
        `${WHERE}: batch ${b} has ${xs.shape[0]} examples in xs but ${ys.shape[0]} in ys; pass one label row per example.`,
      );
    }
    if (output && lossOf.named !== undefined) {
      checkLabelShape(lossOf, ys.shape, output);
      const classes = output.at(-1);
      if (isIndexLabels(lossOf, ys) && typeof classes === 'number') {
        const values = ys.dataSync();
        const bad = values.findIndex((c) => c < 0 || c >= classes);
        if (bad >= 0) {
          throw new EstimatorError(
            `${WHERE}: data.ys holds class index ${values[bad]} (example ${bad}${batches.length > 1 ? ` of batch ${b}` : ''}) but the model has ${classes} classes; pass indices in [0, ${classes - 1}].`,
          );
        }
      }
    }
  });
}

/** Whether a shape fits a symbolic one (null: any size). */
const fits = (shape: readonly number[], symbolic: readonly (number | null)[]) =>
  shape.length === symbolic.length && symbolic.every((n, i) => n === null || n === shape[i]);

const isIndexLabels = (lossOf: LossOf, ys: tf.Tensor) =>
  lossOf.named === 'softmaxCrossEntropy' && ys.rank === 1 && ys.dtype === 'int32';

/** Labels of a named loss against the model's output shape (symbolic or actual). */
function checkLabelShape(
  lossOf: LossOf,
  labels: readonly number[],
  output: readonly (number | null)[],
): void {
  if (lossOf.named === undefined) return;
  if (lossOf.named === 'softmaxCrossEntropy' && labels.length === 1) return; // class indices
  if (
    !fits(
      labels,
      output.map((n, i) => (i === 0 ? null : n)),
    )
  ) {
    const classes = output.at(-1);
    const fix =
      lossOf.named === 'softmaxCrossEntropy'
        ? `one-hot rows of ${classes} (tf.oneHot(labels, ${classes})) or int32 class indices`
        : `labels shaped like the model's output`;
    throw new EstimatorError(
      `${WHERE}: data.ys has shape ${showShape(labels)} but the model outputs ${showShape(output)}${lossOf.named === 'softmaxCrossEntropy' ? ` (${classes} classes)` : ''}, so '${lossOf.named}' cannot pair them; pass ${fix}.`,
    );
  }
}

/** `checkLabelShape` on the actual outputs, for models without symbolic shapes. */
const checkLabels = (lossOf: LossOf, labels: tf.Tensor, output: tf.Tensor) =>
  checkLabelShape(lossOf, labels.shape, output.shape);

function resolveLoss(loss: HessianLoss | undefined, head: Head | undefined): LossOf {
  if (typeof loss === 'function') return loss;
  const named = loss ?? (head?.kind === 'sigmoid' ? 'sigmoidCrossEntropy' : 'softmaxCrossEntropy');
  const mismatch =
    (named === 'softmaxCrossEntropy' && head?.kind === 'sigmoid') ||
    (named === 'sigmoidCrossEntropy' && head?.kind === 'softmax');
  if (mismatch) {
    const match = head!.kind === 'softmax' ? 'softmaxCrossEntropy' : 'sigmoidCrossEntropy';
    throw new EstimatorError(
      `${WHERE}: the model ends in a ${head!.kind} activation, so its outputs are probabilities, and '${named}' is the loss of the other kind of head; pass loss: '${match}' (evaluated on the pre-activation), or end the model in a linear layer.`,
    );
  }
  if (named === 'softmaxCrossEntropy') {
    const lossOf: LossOf = (labels, logits) => {
      const oneHot =
        labels.rank === 1 && labels.dtype === 'int32'
          ? tf.oneHot(labels as tf.Tensor1D, logits.shape.at(-1)!)
          : labels;
      return twiceDifferentiableSoftmaxCrossEntropy(oneHot, logits);
    };
    lossOf.onLogits = true;
    lossOf.named = named;
    return lossOf;
  }
  if (named === 'sigmoidCrossEntropy') {
    const lossOf: LossOf = (labels, logits) =>
      twiceDifferentiableSigmoidCrossEntropy(tf.cast(labels, 'float32'), logits);
    lossOf.onLogits = true;
    lossOf.named = named;
    return lossOf;
  }
  if (named === 'meanSquaredError') {
    // Mean over examples and outputs, like tf.losses.meanSquaredError.
    const lossOf: LossOf = (labels, predictions) =>
      tf.mean(tf.square(tf.sub(predictions, labels))) as tf.Scalar;
    lossOf.named = named;
    return lossOf;
  }
  throw new EstimatorError(
    `${WHERE}: loss must be ${LOSSES.map((l) => `'${l}'`).join(', ')} or a function (labels, outputs) => tf.Scalar, got ${describe(loss)}.`,
  );
}

function resolveData(
  data: HessianOptions['data'] | undefined,
  batchSize: number | undefined,
): { batches: readonly Batch[]; owned: Batch[] } {
  const isBatch = (b: unknown): b is Batch =>
    b != null && (b as Batch).xs instanceof tf.Tensor && (b as Batch).ys instanceof tf.Tensor;
  if (Array.isArray(data)) {
    const bad = data.findIndex((b) => !isBatch(b));
    if (data.length === 0 || bad >= 0) {
      throw new EstimatorError(
        `${WHERE}: data must be { xs, ys } tensors or a non-empty array of { xs, ys } batches, got ${data.length === 0 ? 'an empty array' : `${describe(data[bad])} at index ${bad}`}.`,
      );
    }
    if (batchSize !== undefined) {
      throw new EstimatorError(
        `${WHERE}: batchSize applies only to data given as { xs, ys }; your batches are used as they are, so drop batchSize.`,
      );
    }
    return { batches: data, owned: [] };
  }
  if (!isBatch(data)) {
    throw new EstimatorError(
      `${WHERE}: data must be { xs, ys } tensors (e.g. the first 1280 training examples) or an array of such batches, got ${describe(data)}.`,
    );
  }
  const size = requireInteger(WHERE, 'batchSize', batchSize ?? 128, 1);
  const owned = firstBatches(data.xs, data.ys, { examples: data.xs.shape[0], batchSize: size });
  return { batches: owned, owned };
}
