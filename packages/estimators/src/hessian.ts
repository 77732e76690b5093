import * as tf from '@tensorflow/tfjs-core';
import type { Measure } from '@usam/measures';
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
import { twiceDifferentiableSoftmaxCrossEntropy } from './twice-differentiable';

/**
 * What `hessian` needs of a model; a tfjs-layers `LayersModel` (Sequential or
 * functional) is one. Typed structurally so this package does not depend on
 * tfjs-layers.
 */
export interface HessianModel {
  apply(inputs: tf.Tensor, kwargs?: { training?: boolean }): tf.Tensor | tf.Tensor[] | unknown;
  /** The parameters H is taken with respect to (`read()` gives the tf.Variable). */
  readonly trainableWeights: readonly { read(): tf.Tensor }[];
  /** BatchNorm moving statistics and the like: left bit-identical. */
  readonly nonTrainableWeights: readonly { read(): tf.Tensor }[];
}

/** A loss by name, or `(labels, logits) => mean loss over the batch`. */
export type HessianLoss =
  | 'softmaxCrossEntropy'
  | 'meanSquaredError'
  | ((labels: tf.Tensor, logits: tf.Tensor) => tf.Scalar);

export interface HessianOptions {
  /**
   * The labelled examples H is the Hessian of the mean loss over: `{ xs, ys }`
   * (split into batches of `batchSize`), or batches. The paper (Appendix I)
   * uses the first 1280 training examples, without augmentation. `ys`: one-hot
   * rows, or integer class indices (int32, rank 1) for softmaxCrossEntropy.
   */
  readonly data: { readonly xs: tf.Tensor; readonly ys: tf.Tensor } | readonly Batch[];
  /** Default `'softmaxCrossEntropy'` (on the model's outputs as logits). */
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
 * each method returns `{ estimate, standardError, … }` (SPEC §5).
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
  /** Any (φ, ψ, μ) measure of @usam/measures by Monte Carlo (SPEC §2). */
  measure(measure: Measure, options?: MeasureMonteCarloOptions): Promise<MeasureMonteCarloEstimate>;
  /** Frees the batches `hessian` made from `{ xs, ys }` (never the model or your tensors). */
  dispose(): void;
}

const WHERE = 'hessian';
const OPTIONS = ['data', 'loss', 'batchSize', 'seed'];
const LOSSES = ['softmaxCrossEntropy', 'meanSquaredError'];

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
  const lossOf = resolveLoss(options.loss);
  const variables = model.trainableWeights.map((w) => w.read());
  if (variables.length === 0) {
    throw new EstimatorError(
      `${WHERE}: the model has no trainable weights; build it (call it once on an input) and leave model.trainable true.`,
    );
  }
  const preserve = (model.nonTrainableWeights ?? []).map((w) => w.read());
  const { batches, owned } = resolveData(options.data, options.batchSize);
  const seed = options.seed ?? 0;
  const operator = createHvp({
    variables: variables as tf.Variable[],
    preserve: preserve as tf.Variable[],
    data: batches,
    loss: (batch: Batch) =>
      tf.tidy(() => {
        const output = model.apply(batch.xs, { training: false });
        if (!(output instanceof tf.Tensor)) {
          throw new EstimatorError(
            `${WHERE}: the model returned ${describe(output)}; hessian needs a model with one output tensor.`,
          );
        }
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

function resolveLoss(
  loss: HessianLoss | undefined,
): (labels: tf.Tensor, logits: tf.Tensor) => tf.Scalar {
  if (typeof loss === 'function') return loss;
  if (loss === undefined || loss === 'softmaxCrossEntropy') {
    return (labels, logits) => {
      const oneHot =
        labels.rank === 1 && labels.dtype === 'int32'
          ? tf.oneHot(labels as tf.Tensor1D, logits.shape.at(-1)!)
          : labels;
      return twiceDifferentiableSoftmaxCrossEntropy(oneHot, logits);
    };
  }
  if (loss === 'meanSquaredError') {
    // Mean over examples and outputs, like tf.losses.meanSquaredError.
    return (labels, predictions) => tf.mean(tf.square(tf.sub(predictions, labels))) as tf.Scalar;
  }
  throw new EstimatorError(
    `${WHERE}: loss must be ${LOSSES.map((l) => `'${l}'`).join(' or ')} or a function (labels, logits) => tf.Scalar, got ${describe(loss)}.`,
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
