import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import {
  asam,
  constantSchedule,
  cosineSchedule,
  detSam,
  type ExampleLosses,
  frobSam,
  multiStepSchedule,
  plain,
  type Schedule,
  type SharpnessAwareOptimizer,
  sam,
  ssamF,
  traceSam,
  universalSam,
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

const defined = <T extends object>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], null>;
  };

/**
 * The run's optimizer: `options.optimizer` with its hyperparameters, over the
 * model's trainable weights (BatchNorm statistics protected), seeded by the
 * run's seed. `fisherLosses` feeds SSAM-F's mask.
 */
export function createOptimizer(
  options: TrainOptions,
  model: LayersModel,
  fisherLosses: ExampleLosses,
): SharpnessAwareOptimizer {
  const common = {
    params: model,
    base: baseOptimizer(options),
    weightDecay: options.weightDecay,
    seed: options.seed,
    ...(options.mSharpness > 1 && { mSharpness: options.mSharpness }),
  };
  const { rho, lambda, samples } = defined({
    rho: options.rho,
    lambda: options.lambda,
    samples: options.samples,
  });
  switch (options.optimizer) {
    case 'sgd': {
      const { seed: _, ...unseeded } = common; // nothing random to seed
      return plain(unseeded);
    }
    case 'sam':
      return sam({ ...common, rho });
    case 'asam':
      return asam({ ...common, rho, eta: options.eta! });
    case 'ssam':
      return ssamF({ ...common, rho, sparsity: options.sparsity!, fisherLosses });
    case 'frob-sam':
      return frobSam({ ...common, rho, lambda, samples });
    case 'trace-sam':
      return traceSam({ ...common, rho, lambda, samples, mu: options.mu! });
    case 'det-sam':
      return detSam({ ...common, rho, lambda, samples, halfWidth: options.halfWidth! });
    case 'universal': {
      const dimension = model.trainableWeights.reduce(
        (n, w) => n + w.shape.reduce((a, b) => a! * b!, 1)!,
        0,
      );
      return universalSam({
        ...common,
        rho: rho!,
        lambda,
        samples,
        measure: catalogueMeasure(options.measure!, dimension),
      });
    }
  }
}
