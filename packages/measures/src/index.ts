/**
 * @usam/measures: the (φ, ψ, μ)-sharpness measures of Definition 1 and
 * Table 1 as data, and three evaluators for any of them: `exact` (closed form
 * from an explicit Hessian), `monteCarlo` (Hessian-vector products) and
 * `zerothOrder` (loss values, Definition 2).
 */

export {
  type CoefficientRule,
  checkSamples,
  coefficientRule,
  type Draw,
  type DrawGroup,
  type Draws,
  type DrawsSummary,
  drawGroups,
  drawRound,
  type LegacyDraws,
  summarizeDraws,
} from './algorithm3';
export {
  type DampedDeterminantOptions,
  dampedDeterminant,
  determinant,
  frobenius,
  hypercubeDeterminant,
  maxEigenvalue,
  polynomial,
  product,
  sphereMoment,
  trace,
} from './catalogue';
export { describeValue, MeasureError, UsamError } from './errors';
export type { MeasureEstimate, Probe, SamplingOptions } from './estimate';
export { divergenceOf, type ExactOptions, exact } from './exact';
export { phi, psi } from './functions';
export { variableGrads } from './gradients';
export {
  type ImportanceDiagnostics,
  importanceDiagnostics,
  MIN_EFFECTIVE_SAMPLES,
  tailShapeLimit,
} from './importance';
export { type MatrixInput, type SymmetryOptions, symmetricEigenvalues } from './linalg';
export { type LossReduction, softmaxCrossEntropy } from './losses';
export { checkMeasure, defineMeasure, type MeasureDefinition, replaceSampler } from './measure';
export { explicitHvp, type Hvp, monteCarlo } from './monte-carlo';
export { proposalScale } from './proposal';
export {
  integrateProductDensity,
  type QuadratureOptions,
  type QuadratureResult,
} from './quadrature';
export { createRng, type RngState, type SeededRng } from './rng';
export {
  type FixedVector,
  fixed,
  gaussian,
  hypercube,
  type LebesgueOptions,
  lebesgue,
  rademacher,
  randomDirection,
  sphere,
} from './samplers';
export {
  type ProductDensity,
  type ProductDensitySampler,
  productDensity,
  productOf,
  type ScaleInvariantDefinition,
  scaleInvariant,
} from './scale-invariant';
export * as tensorList from './tensor-list';
export { dimensionOf, type Shapes, type TensorList } from './tensor-list';
export type {
  Measure,
  MeasureComponent,
  OuterFunction,
  Rng,
  Sampler,
  ScalarFunction,
  SignedLog,
} from './types';
export {
  checkVariables,
  isModelLike,
  type LayerVariableLike,
  type ModelLike,
  type VariableCheck,
} from './variables';
export {
  type PerturbedLoss,
  quadraticLoss,
  type ZerothOrderEstimate,
  type ZerothOrderOptions,
  zerothOrder,
} from './zeroth-order';
