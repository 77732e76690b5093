export { createProgram } from './program';
export { buildReport, type ReportSummary } from './report/index';
export { type ChecksReport, checks } from './reproduce/checks';
export { type ReproduceOptions, type ReproduceResult, reproduce } from './reproduce/index';
export {
  createPlan,
  EXPERIMENTS,
  METHODS,
  type Plan,
  type PlannedRun,
  PROFILES,
} from './reproduce/plan';
export { parseShard, type Shard, shardFromEnv, shardRuns } from './reproduce/shard';
export * from './train/index';
