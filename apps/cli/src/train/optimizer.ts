import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import {
  constantSchedule,
  cosineSchedule,
  createVariant,
  type ExampleLosses,
  findVariant,
  multiStepSchedule,
  type Schedule,
  type SharpnessAwareOptimizer,
  VARIANTS,
  type Variant,
} from '@usam/optimizer';
import { catalogueMeasure } from '../measures';
import type { TrainOptions } from './options';

/** The run's learning-rate schedule (epochs 0-based), from @usam/optimizer's schedules. */
export function schedule(options: TrainOptions): Schedule {
  switch (options.lrSchedule) {
    case 'constant':
      return constantSchedule(options.lr);
    case 'multistep':
      return multiStepSchedule({
        lr: options.lr,
        milestones: options.milestones,
        gamma: options.gamma,
      });
    case 'cosine':
      return cosineSchedule({ lr: options.lr, epochs: options.epochs });
  }
}

/** The base optimizer the paper uses: SGD with momentum (plain SGD when momentum is 0). */
function baseOptimizer(options: TrainOptions): tf.Optimizer {
  return options.momentum === 0
    ? tf.train.sgd(options.lr)
    : tf.train.momentum(options.lr, options.momentum);
}

/**
 * The run's optimizer: `options.optimizer` from @usam/optimizer's table of
 * variants, with its hyperparameters, over the model's trainable weights
 * (BatchNorm statistics protected), seeded by the run's seed. `fisherLosses`
 * feeds SSAM-F's mask.
 */
export function createOptimizer(
  options: TrainOptions,
  model: LayersModel,
  fisherLosses: ExampleLosses,
  variants: readonly Variant[] = VARIANTS,
): SharpnessAwareOptimizer {
  const variant = findVariant(options.optimizer, variants);
  const values = options as unknown as Record<string, unknown>;
  const settings = Object.fromEntries(
    variant.options.flatMap((o) => (values[o.name] == null ? [] : [[o.name, values[o.name]]])),
  );
  const dimension = () =>
    model.trainableWeights.reduce((n, w) => n + w.shape.reduce((a, b) => a! * b!, 1)!, 0);
  return createVariant(
    variant,
    {
      params: model,
      base: baseOptimizer(options),
      weightDecay: options.weightDecay,
      seed: options.seed,
      ...(options.mSharpness > 1 && { mSharpness: options.mSharpness }),
      fisherLosses,
      ...(variant.needs.includes('measure') && {
        measure: catalogueMeasure(options.measure!, dimension()),
      }),
    },
    settings,
  );
}
