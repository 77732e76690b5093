/**
 * A run's settings to an @usam/optimizer instance, through its table of
 * variants (training and the toy losses both build theirs here).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Measure } from '@usam/measures';
import {
  createVariant,
  type ExampleLosses,
  findVariant,
  type Parameters,
  type SharpnessAwareOptimizer,
  VARIANTS,
  type Variant,
} from '@usam/optimizer';
import type { RunSettings } from './settings';

export interface OptimizerContext {
  readonly params: Parameters;
  readonly base: tf.Optimizer;
  readonly weightDecay: number;
  readonly seed: number;
  /** m-sharpness: the minibatch split into this many parts, each perturbed on its own. */
  readonly mSharpness?: number;
  /** Per-example losses for SSAM-F's Fisher mask; SSAM-F is unavailable without them. */
  readonly fisherLosses?: ExampleLosses;
  /** Universal SAM's (φ, ψ, μ) measure (the toy losses' log damped determinant). */
  readonly measure?: Measure;
}

export function createOptimizer(
  run: RunSettings,
  context: OptimizerContext,
  variants: readonly Variant[] = VARIANTS,
): SharpnessAwareOptimizer {
  const { optimizer, ...settings } = run;
  const { fisherLosses, ...engine } = context;
  return createVariant(
    findVariant(optimizer, variants),
    { ...engine, ...(fisherLosses && { fisherLosses }) },
    settings,
  );
}
