/**
 * @usam/models: the paper's models as TensorFlow.js layers models (docs/models.md):
 * the 6-layer MNIST MLP, the CIFAR ResNet-18 with a width multiplier, a small
 * CNN, and the state helpers the optimizer and the estimators use on any
 * tfjs-layers model. Saving to a directory is in `@usam/models/node`.
 */
export {
  createModel,
  MODEL_NAMES,
  type ModelName,
  type ModelOptions,
  type ModelRecipe,
  modelRecipe,
} from './create-model';
export { ModelError } from './errors';
export {
  type Applicable,
  countParameters,
  forward,
  type LayerVariableLike,
  type ModelLike,
  nonTrainableVariables,
  type ParameterCounts,
  parameterCount,
  type StateSnapshot,
  snapshotState,
  trainableVariables,
} from './state';
