/**
 * The names a run directory's files use, without anything Node-only, so that
 * the schemas (`schema.ts`) load in a browser too (the playground's exports
 * are checked against them: `@usam/cli/run-files`).
 */
/** Hessian quantities `--hessian` takes, in the order they are measured. */
export const HESSIAN_QUANTITIES = ['trace', 'frobenius', 'topEigenvalue'] as const;
export type HessianQuantity = (typeof HESSIAN_QUANTITIES)[number];

/**
 * The variants' options that `TrainOptions` (and so config.json) has a field
 * for. Their values, defaults and ranges come from @usam/optimizer's table;
 * a variant whose option is not listed here is refused by `variantOptions`.
 */
export const VARIANT_KEYS = [
  'rho',
  'lambda',
  'samples',
  'eta',
  'halfWidth',
  'sparsity',
  'mu',
] as const;

/** The numeric ones (`mu` names Trace-SAM's sampler), as `results.csv` has columns for. */
export const NUMERIC_VARIANT_KEYS = VARIANT_KEYS.filter(
  (key): key is Exclude<(typeof VARIANT_KEYS)[number], 'mu'> => key !== 'mu',
);

/** The options' names, in the order config.json lists them. */
export const TRAIN_OPTION_NAMES = [
  'dataset',
  'dataDir',
  'subsample',
  'corrupt',
  'augment',
  'model',
  'width',
  'optimizer',
  'measure',
  ...VARIANT_KEYS,
  'mSharpness',
  'epochs',
  'patience',
  'minDelta',
  'batchSize',
  'lr',
  'lrSchedule',
  'milestones',
  'gamma',
  'momentum',
  'weightDecay',
  'seed',
  'backend',
  'measureEvery',
  'hessian',
  'hessianExamples',
  'probes',
  'out',
  'resume',
  'force',
] as const;
