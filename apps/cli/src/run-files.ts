/**
 * `@usam/cli/run-files`: the JSON Schemas and types of a `usam train` run
 * directory's files (config.json, metrics.jsonl, summary.json, progress.json)
 * and the names they use. Nothing here needs Node: the playground imports it
 * so that its exports are metrics.jsonl lines by the same schema.
 */

export { knownDivergence } from './cli/divergence';
export { TRAIN_OPTION_NAMES, VARIANT_KEYS } from './train/run-names';
export {
  configSchema,
  type EpochMetrics,
  type Estimated,
  epochMetricsSchema,
  HESSIAN_QUANTITIES,
  type HessianQuantity,
  progressSchema,
  summarySchema,
  toJson,
} from './train/schema';
