/**
 * @usam/optimizer: Algorithm 3 of "A Universal Class of Sharpness-Aware
 * Minimization Algorithms" for any (φ, ψ, μ) measure, its instances Frob-SAM,
 * Trace-SAM and Det-SAM, and the SAM, ASAM and SSAM-F baselines, each wrapping
 * any TensorFlow.js optimizer (SPEC §3–4).
 */
export {
  algorithm3,
  COEFFICIENT_LIMIT,
  type CoefficientRule,
  type Coefficients,
  covariance,
  type Draws,
  logSpace,
} from './coefficients';
export { OptimizerError } from './errors';
export { detSam, frobSam, type InstanceOptions, traceSam, universalSam } from './instances';
export { Plain, plain } from './plain';
export {
  Asam,
  type AsamOptions,
  type AscentOptions,
  AscentSam,
  asam,
  type ExampleLosses,
  NORM_EPSILON,
  Sam,
  SsamF,
  type SsamOptions,
  sam,
  ssamF,
  topShareMask,
} from './sam';
export {
  type Counters,
  type Evaluation,
  type LossClosure,
  type OptimizerOptions,
  type PassContext,
  type PerturbedResult,
  SharpnessAwareOptimizer,
  type StepStats,
} from './sharpness-aware';
export { UniversalSam, type UniversalSamOptions } from './universal-sam';
export type { LayerVariableLike, ModelLike, Parameter, Parameters } from './variables';
