/**
 * @usam/estimators: Hessian quantities of a loss over a fixed data subset
 * (docs/hessian-estimators.md), from Hessian-vector products: Hutchinson trace, Frobenius norm,
 * top eigenvalues, spectral density (SLQ) and any (φ, ψ, μ) measure by Monte
 * Carlo.
 */
export { AbortError, MAX_COUNT, YIELD_MS } from './abort';
export {
  type Batch,
  type DataSource,
  defaultBatchSize,
  type FirstBatchesOptions,
  firstBatches,
} from './data';
export { EstimatorError } from './errors';
export {
  type DensityOptions,
  type HessianLoss,
  type HessianModel,
  type HessianOptions,
  hessian,
  type ModelHessian,
} from './hessian';
export {
  type FrobeniusOptions,
  frobeniusNormSquared,
  type HutchinsonOptions,
  hutchinsonTrace,
} from './hutchinson';
export {
  centralDifferenceEpsilon,
  createHvp,
  EPSILON_SCALE,
  FLOAT32_EPSILON,
  type HvpMethod,
  type HvpOperator,
  type HvpOptions,
} from './hvp';
export {
  type MeasureMonteCarloEstimate,
  type MeasureMonteCarloOptions,
  measureMonteCarlo,
} from './measure';
export type { HessianOperator } from './operator';
export { type TopEigenvalues, type TopEigenvaluesOptions, topEigenvalues } from './power-iteration';
export type { ProbeDistribution, Seed } from './rng';
export {
  type SpectralDensity,
  type SpectralDensityOptions,
  spectralDensity,
  spectralSum,
} from './slq';
export type { Estimate } from './stats';
export {
  twiceDifferentiableExp,
  twiceDifferentiableSigmoidCrossEntropy,
  twiceDifferentiableSoftmaxCrossEntropy,
} from './twice-differentiable';
