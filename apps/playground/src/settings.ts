/**
 * What a visitor chooses: the experiment (data, model, schedule, Hessian
 * measurements) and two to four runs (an optimizer and its settings each).
 * The optimizers, their settings, defaults and ranges are @usam/optimizer's
 * table of variants, whose names `usam train` takes too, so a run's settings
 * become a command line that reproduces it in Node.
 */
import { HESSIAN_QUANTITIES, type HessianQuantity, knownDivergence } from '@usam/cli/run-files';
import { describeValue } from '@usam/measures';
import { findVariant, VARIANTS, type Variant, variantDefaults } from '@usam/optimizer';

export const DATASETS = ['mnist-s', 'mnist', 'mnist-c', 'mnist-s-c'] as const;
export type DatasetName = (typeof DATASETS)[number];

export const MODELS = ['mlp', 'cnn'] as const;
export type ModelName = (typeof MODELS)[number];

export const BACKENDS = ['auto', 'webgl', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

/**
 * The variants of a table the playground offers: all but those that need a
 * measure object (Algorithm 3 for any measure), which a form cannot give.
 */
export const playgroundVariants = (variants: readonly Variant[] = VARIANTS): Variant[] =>
  variants.filter((v) => v.needs.every((need) => need === 'fisherLosses'));

/** The optimizers, by their `usam train --optimizer` names. */
export const OPTIMIZERS: readonly string[] = playgroundVariants().map((v) => v.name);
/** A variant's name (`Variant.name`). */
export type OptimizerName = string;

/** Display names, as in the paper. */
export const OPTIMIZER_LABELS: Readonly<Record<OptimizerName, string>> = Object.fromEntries(
  VARIANTS.map((v) => [v.name, v.label]),
);

/** One run: an optimizer and its options (the variant's, by name: `rho`, `lambda`, …). */
export interface RunSettings {
  readonly optimizer: OptimizerName;
  readonly [option: string]: number | string;
}

/** Which settings each optimizer reads, in the table's order. */
export const OPTIMIZER_PARAMETERS: Readonly<Record<OptimizerName, readonly string[]>> =
  Object.fromEntries(VARIANTS.map((v) => [v.name, v.options.map((o) => o.name)]));

/** A run of `optimizer` with @usam/optimizer's defaults (its table of variants). */
export function defaultRun(
  optimizer: OptimizerName,
  variants: readonly Variant[] = VARIANTS,
): RunSettings {
  return { optimizer, ...variantDefaults(findVariant(optimizer, variants)) };
}

/** Hessian quantities measured every `measureEvery` epochs: all of usam train's `--hessian`. */
export { HESSIAN_QUANTITIES, type HessianQuantity };

export interface ExperimentSettings {
  readonly dataset: DatasetName;
  readonly model: ModelName;
  readonly backend: BackendChoice;
  readonly epochs: number;
  readonly batchSize: number;
  readonly lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly seed: number;
  /** m-sharpness: each minibatch split into m parts, each perturbed on its own (1: off). */
  readonly mSharpness: number;
  /** Measure the Hessian every this many epochs; 0 never. */
  readonly measureEvery: number;
  /** Training examples the Hessian is taken over (the first ones). */
  readonly hessianExamples: number;
  /** Probes per Hutchinson estimate. */
  readonly probes: number;
  readonly runs: readonly RunSettings[];
}

/** The experiment's numeric settings (form fields of the same names). */
export const NUMBER_SETTINGS = [
  'epochs',
  'batchSize',
  'lr',
  'momentum',
  'weightDecay',
  'seed',
  'mSharpness',
  'measureEvery',
  'hessianExamples',
  'probes',
] as const satisfies readonly (keyof ExperimentSettings)[];

export const MIN_RUNS = 1;
export const MAX_RUNS = 4;

/**
 * The defaults: the paper's MLP on MNIST-S, SGD against Frob-SAM with Figure
 * 2's ρ = 0.01, n = 2 and its middle λ_ref = 1e-3 (λ 2.5e-4 here), momentum
 * 0.9 for 20 epochs as there, and the
 * smallest learning rate that leaves the initial plateau (loss ln 10) well
 * within the run: 0.02 at batch 32 (the paper's 0.001 is for the 60,000
 * digits; here it would not move in 20 epochs). lr 0.1, the earlier default,
 * sent Frob-SAM to NaN in epoch 6; 0.05 does so with λ = 0.005; the library's
 * λ 1.25e-3 gives lr·4λ/ρ² = 1, where usam train warns of divergence, λ 2.5e-4
 * gives 0.2 (docs/playground.md has the measurements). Small Hessian subsets and few
 * probes keep a measurement to seconds in a browser (the paper's 1280
 * examples and 100 probes are one setting away).
 */
export const DEFAULT_EXPERIMENT: ExperimentSettings = {
  dataset: 'mnist-s',
  model: 'mlp',
  backend: 'auto',
  epochs: 20,
  batchSize: 32,
  lr: 0.02,
  momentum: 0.9,
  weightDecay: 5e-4,
  seed: 1,
  mSharpness: 1,
  measureEvery: 2,
  hessianExamples: 256,
  probes: 8,
  runs: [defaultRun('sgd'), { ...defaultRun('frob-sam'), rho: 0.01, lambda: 2.5e-4 }],
};

/** A run's name in charts and files: "Frob-SAM (ρ 0.005, λ 0.00125, n 2)". */
export function runLabel(
  run: RunSettings,
  index?: number,
  variants: readonly Variant[] = VARIANTS,
): string {
  const variant = findVariant(run.optimizer, variants);
  const parts = variant.options.map((o) => `${o.symbol} ${run[o.name]}`);
  const name = `${variant.label}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
  return index === undefined ? name : `${index + 1}. ${name}`;
}

/** `halfWidth` → `--half-width`, as `usam train` spells a camelCase option. */
const flag = (name: string) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/**
 * The `usam train` command line that reproduces run `index` in Node (flags
 * as in issue 14: the options camelCased are `TrainOptions`). The backend is
 * the one that ran here, where Node has it (webgl does not exist there).
 */
export function trainCommand(
  settings: ExperimentSettings,
  index: number,
  backend?: string,
  variants: readonly Variant[] = VARIANTS,
): string {
  const run = settings.runs[index];
  if (run === undefined) {
    throw new RangeError(
      `trainCommand: run ${index} does not exist; pass 0 to ${settings.runs.length - 1}.`,
    );
  }
  const args: (string | number)[] = [
    'usam train',
    '--dataset',
    settings.dataset,
    '--model',
    settings.model,
    '--optimizer',
    run.optimizer,
  ];
  for (const option of findVariant(run.optimizer, variants).options) {
    args.push(flag(option.name), run[option.name]!);
  }
  args.push(
    '--epochs',
    settings.epochs,
    '--batch-size',
    settings.batchSize,
    '--lr',
    settings.lr,
    // The playground keeps the rate constant; usam train's default schedule may not.
    '--lr-schedule',
    'constant',
    '--momentum',
    settings.momentum,
    '--weight-decay',
    settings.weightDecay,
    '--seed',
    settings.seed,
  );
  if (settings.mSharpness > 1) args.push('--m-sharpness', settings.mSharpness);
  if (settings.measureEvery > 0) {
    args.push(
      '--measure-every',
      settings.measureEvery,
      '--hessian',
      HESSIAN_QUANTITIES.join(','),
      '--hessian-examples',
      settings.hessianExamples,
      '--probes',
      settings.probes,
    );
  }
  const nodeBackend = backend === 'wasm' || backend === 'cpu' ? backend : undefined;
  if (nodeBackend !== undefined) args.push('--backend', nodeBackend);
  return args.join(' ');
}

/** Check a number field: finite and in range, else a one-line message naming it. */
export function checkNumber(
  name: string,
  value: unknown,
  { min = -Infinity, max = Infinity, integer = false } = {},
): number {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < min ||
    value > max ||
    (integer && !Number.isInteger(value))
  ) {
    const shown = describeValue(value);
    const kind = integer ? 'an integer' : 'a number';
    const range = `${min === -Infinity ? '' : ` ≥ ${min}`}${max === Infinity ? '' : `${min === -Infinity ? '' : ' and'} ≤ ${max}`}`;
    throw new TypeError(`${name} must be ${kind}${range}, got ${shown}.`);
  }
  return value;
}

/**
 * Why run `index` of `settings` is expected to diverge (usam train's own
 * warning, which `usam train` prints for the exported command), or undefined.
 */
export function expectedDivergence(
  settings: ExperimentSettings,
  index: number,
): string | undefined {
  const run = settings.runs[index]!;
  const option = (name: string) => (typeof run[name] === 'number' ? (run[name] as number) : null);
  return knownDivergence({
    dataset: settings.dataset,
    optimizer: run.optimizer,
    lr: settings.lr,
    lambda: option('lambda'),
    rho: option('rho'),
  });
}

/**
 * What to change when run `index` diverged: usam train's reason where it
 * knows the setting, else the learning rate and the run's weight λ (or ρ).
 */
export function divergenceAdvice(settings: ExperimentSettings, index: number): string {
  const known = expectedDivergence(settings, index);
  if (known !== undefined) return known;
  const run = settings.runs[index]!;
  const also = ['lambda', 'rho'].find((name) => typeof run[name] === 'number');
  const symbol = also === 'lambda' ? 'λ' : 'ρ';
  return `lower the learning rate (now ${settings.lr})${also === undefined ? '' : ` or this run's ${symbol} (now ${run[also]})`} and start again`;
}
