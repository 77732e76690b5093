/**
 * @usam/optimizer: Algorithm 3 of "A Universal Class of Sharpness-Aware
 * Minimization Algorithms" for any (φ, ψ, μ) measure, its instances Frob-SAM,
 * Trace-SAM and Det-SAM, and the SAM, ASAM and SSAM-F baselines: one step
 * engine (`SharpnessAwareOptimizer`, built by the factories and by
 * `sharpnessAware` for a perturbation of your own) around one `Perturbation` per variant,
 * each wrapping any TensorFlow.js optimizer (docs/sharpness-aware-step.md,
 * docs/optimizer-semantics.md).
 */
export { OptimizerError } from './errors';
export { asTfOptimizer, type SharpnessAwareTfOptimizer } from './fit';
export {
  detSam,
  frobSam,
  type InstanceOptions,
  MAX_SAMPLES,
  type MeasurePerturbation,
  plain,
  sharpnessAware,
  traceSam,
  type UniversalSamOptions,
  universalSam,
} from './instances';
export { type Classifier, type LabelledBatch, perExampleLosses } from './per-example-losses';
export {
  type AsamOptions,
  type Ascent,
  type AscentOptions,
  asam,
  ascent,
  type ExampleLosses,
  type FisherMaskPerturbation,
  NORM_EPSILON,
  type SsamOptions,
  sam,
  ssamF,
  topShareMask,
} from './sam';
export {
  constantSchedule,
  cosineSchedule,
  multiStepSchedule,
  type Schedule,
} from './schedules';
export type { SharpnessAwareOptimizer } from './sharpness-aware';
export {
  decodeOptimizerState,
  disposeOptimizerState,
  encodeOptimizerState,
  type NamedState,
  type OptimizerState,
} from './state';
export type {
  BatchPart,
  Counters,
  Evaluation,
  LossClosure,
  OptimizerOptions,
  PassContext,
  Perturbation,
  PerturbationState,
  PerturbedResult,
  PrepareContext,
  StepStats,
} from './types';
export type { LayerVariableLike, ModelLike, Parameter, Parameters } from './variables';
export {
  createVariant,
  findVariant,
  optionAccepts,
  optionAllows,
  optionRequirement,
  paperSettings,
  VARIANTS,
  type Variant,
  type VariantContext,
  type VariantNeed,
  type VariantOption,
  type VariantSettings,
  variantDefaults,
} from './variants';
