/**
 * `usam train` as a function: `train(resolveTrainOptions({ … }), hooks)`
 * writes a run directory and resolves with its summary.
 */
export type { Progress } from './checkpoint';
export type { Estimated } from './hessian';
export {
  BACKEND_CHOICES,
  configDifference,
  flag,
  HESSIAN_QUANTITIES,
  type HessianQuantity,
  LR_SCHEDULES,
  OPTIMIZERS,
  type PartialTrainOptions,
  resolveTrainOptions,
  TRAIN_DEFAULTS,
  TRAIN_OPTION_NAMES,
  type TrainOptions,
  VARIANT_KEYS,
  variantOptions,
} from './options';
export {
  CONFIG,
  type EpochMetrics,
  METRICS,
  type RunConfig,
  readMetrics,
  resumeOptions,
  SUMMARY,
  type TrainSummary,
} from './run-dir';
export { type StartInfo, type StepInfo, type TrainHooks, train } from './train';
