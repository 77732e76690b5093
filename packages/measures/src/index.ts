/**
 * @usam/measures: the (φ, ψ, μ)-sharpness measures of Definition 1 and
 * Table 1 as data, and three evaluators for any of them: `exact` (closed form
 * from an explicit Hessian), `monteCarlo` (Hessian-vector products) and
 * `zerothOrder` (loss values, Definition 2).
 */

export {
  checkSamples,
  coefficientRule,
  type DrawGroup,
  type Draws,
  type DrawsSummary,
  drawGroups,
  summarizeDraws,
} from './algorithm3.js';
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
} from './catalogue.js';
export { MeasureError } from './errors.js';
export type { MeasureEstimate, Probe, SamplingOptions } from './estimate.js';
export { divergenceOf, type ExactOptions, exact } from './exact.js';
export { phi, psi } from './functions.js';
export { type MatrixInput, type SymmetryOptions, symmetricEigenvalues } from './linalg.js';
export { defineMeasure, type MeasureDefinition, replaceSampler } from './measure.js';
export { explicitHvp, type Hvp, monteCarlo } from './monte-carlo.js';
export {
  integrateProductDensity,
  type QuadratureOptions,
  type QuadratureResult,
} from './quadrature.js';
export { createRng, type RngState, type SeededRng } from './rng.js';
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
} from './samplers.js';
export {
  type ProductDensity,
  type ProductDensitySampler,
  productDensity,
  productOf,
  type ScaleInvariantDefinition,
  scaleInvariant,
} from './scale-invariant.js';
export * as tensorList from './tensor-list.js';
export { dimensionOf, type Shapes, type TensorList } from './tensor-list.js';
export type {
  Measure,
  MeasureComponent,
  OuterFunction,
  Rng,
  Sampler,
  ScalarFunction,
  SignedLog,
} from './types.js';
export {
  type PerturbedLoss,
  quadraticLoss,
  type ZerothOrderEstimate,
  type ZerothOrderOptions,
  zerothOrder,
} from './zeroth-order.js';
