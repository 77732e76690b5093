/**
 * A run's settings to an @usam/optimizer instance: the one place the
 * playground's optimizer names meet the package's factories (training and the
 * toy losses both build theirs here).
 */
import type * as tf from '@tensorflow/tfjs-core';
import {
  asam,
  detSam,
  type ExampleLosses,
  frobSam,
  type Parameters,
  plain,
  type SharpnessAwareOptimizer,
  sam,
  ssamF,
  traceSam,
} from '@usam/optimizer';
import type { RunSettings } from './settings';

export interface OptimizerContext {
  readonly params: Parameters;
  readonly base: tf.Optimizer;
  readonly weightDecay: number;
  readonly seed: number;
  /** Per-example losses for SSAM-F's Fisher mask; SSAM-F is unavailable without them. */
  readonly fisherLosses?: ExampleLosses;
}

export function createOptimizer(
  run: RunSettings,
  context: OptimizerContext,
): SharpnessAwareOptimizer {
  const { params, base, weightDecay, seed } = context;
  const common = { params, base, weightDecay };
  switch (run.optimizer) {
    case 'sgd':
      return plain(common);
    case 'sam':
      return sam({ ...common, rho: run.rho });
    case 'asam':
      return asam({ ...common, rho: run.rho, eta: run.eta });
    case 'ssam':
      if (context.fisherLosses === undefined) {
        throw new Error(
          'ssam needs per-example losses for its Fisher mask; pick another optimizer.',
        );
      }
      return ssamF({
        ...common,
        rho: run.rho,
        sparsity: run.sparsity,
        fisherLosses: context.fisherLosses,
      });
    case 'frob-sam':
      return frobSam({ ...common, rho: run.rho, lambda: run.lambda, samples: run.samples, seed });
    case 'trace-sam':
      return traceSam({ ...common, rho: run.rho, lambda: run.lambda, samples: run.samples, seed });
    case 'det-sam':
      return detSam({
        ...common,
        rho: run.rho,
        lambda: run.lambda,
        samples: run.samples,
        halfWidth: run.halfWidth,
        seed,
      });
  }
}
