import { DATASET_NAMES, parseDatasetName } from '@usam/datasets';
import { MODEL_NAMES, type ModelName } from '@usam/models';
import {
  findVariant,
  optionRequirement,
  VARIANTS,
  type Variant,
  type VariantOption,
} from '@usam/optimizer';
import { UsageError } from '../cli/errors';
import { catalogueMeasure, MEASURE_NAMES } from '../measures';
import { datasetSettings, isMnist, mnistRecipe } from './defaults';
import {
  HESSIAN_QUANTITIES,
  type HessianQuantity,
  TRAIN_OPTION_NAMES,
  VARIANT_KEYS,
} from './run-names';

/** The optimizers `--optimizer` takes: @usam/optimizer's table of variants. */
export const OPTIMIZERS: readonly string[] = VARIANTS.map((v) => v.name);
/** A variant's name (`Variant.name`). */
export type OptimizerName = string;

export const LR_SCHEDULES = ['constant', 'multistep', 'cosine'] as const;
export type LrSchedule = (typeof LR_SCHEDULES)[number];

export { HESSIAN_QUANTITIES, type HessianQuantity, TRAIN_OPTION_NAMES, VARIANT_KEYS };
// Every name config.json lists is a field of TrainOptions: checked here, beside the type,
// so that run-names.ts (browser-safe) does not import this file back.
TRAIN_OPTION_NAMES satisfies readonly (keyof TrainOptions)[];

/** Backends `--backend` accepts (usam's names; `auto` picks the fastest that starts). */
export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;

/**
 * One training run, every option resolved (`resolveTrainOptions`). Names are
 * the `usam train` flags camelCased. Options of optimizer variants other than
 * the chosen one are null.
 */
export interface TrainOptions {
  readonly dataset: string;
  /** Directory holding the dataset's official files (null: the cache, downloading when missing). */
  readonly dataDir: string | null;
  /** `-s` datasets: fraction of the training set kept. */
  readonly subsample: number;
  /** `-c` datasets: fraction of training labels flipped. */
  readonly corrupt: number;
  /** Random crop and flip (on for CIFAR, as in the paper). */
  readonly augment: boolean;
  readonly model: ModelName;
  readonly width: number;
  readonly optimizer: OptimizerName;
  /** `universal`: the catalogue measure Algorithm 3 regularises. */
  readonly measure: string | null;
  /** Perturbation radius ρ. */
  readonly rho: number | null;
  /** λ in L + λρ²R_ρ (docs/lambda.md); the reference code's Frob-SAM λ is 4× this one. */
  readonly lambda: number | null;
  /** Perturbation samples n per step. */
  readonly samples: number | null;
  /** ASAM's η. */
  readonly eta: number | null;
  /** Det-SAM's hypercube half-width h. */
  readonly halfWidth: number | null;
  /** SSAM-F's share of parameters left unperturbed. */
  readonly sparsity: number | null;
  /** Trace-SAM's μ. */
  readonly mu: 'gaussian' | 'sphere' | null;
  /** m-sharpness: the batch is split into this many parts, each perturbed on its own. */
  readonly mSharpness: number;
  readonly epochs: number;
  /**
   * Stop before `epochs` once test accuracy has not improved by more than
   * `minDelta` for this many epochs (docs/early-stopping.md); null: train every epoch.
   */
  readonly patience: number | null;
  /** The improvement in test accuracy (a fraction: 0.001 = 0.1 points) that resets `patience`. */
  readonly minDelta: number | null;
  readonly batchSize: number;
  readonly lr: number;
  readonly lrSchedule: LrSchedule;
  /** multistep: epochs at which the learning rate is multiplied by `gamma`. */
  readonly milestones: readonly number[];
  readonly gamma: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly seed: number;
  readonly backend: (typeof BACKEND_CHOICES)[number];
  /** Measure the Hessian every this many epochs (0: never). */
  readonly measureEvery: number;
  readonly hessian: readonly HessianQuantity[];
  readonly hessianExamples: number;
  readonly probes: number;
  readonly out: string;
  readonly resume: boolean;
  readonly force: boolean;
}

export type PartialTrainOptions = { -readonly [K in keyof TrainOptions]?: TrainOptions[K] | null };

type VariantKey = (typeof VARIANT_KEYS)[number];

/**
 * The options, by `TrainOptions` field, of the variants in `variants`, each
 * with the variants that take it (in table order).
 */
export function variantOptions(
  variants: readonly Variant[] = VARIANTS,
): Map<VariantKey, { variant: Variant; option: VariantOption }[]> {
  const byKey = new Map<VariantKey, { variant: Variant; option: VariantOption }[]>(
    VARIANT_KEYS.map((key) => [key, []]),
  );
  for (const variant of variants) {
    for (const option of variant.options) {
      const users = byKey.get(option.name as VariantKey);
      if (users === undefined) {
        throw new UsageError(
          `optimizer '${variant.name}' has an option '${option.name}' that usam train has no flag for; add it to VARIANT_KEYS and TrainOptions.`,
        );
      }
      users.push({ variant, option });
    }
  }
  return byKey;
}

/**
 * Defaults: Appendix I's CIFAR-10/SVHN recipe. On MNIST the recipe is Figure
 * 2's (`MNIST_RECIPE`), and each variant's options default to the paper's
 * settings for the dataset (`datasetSettings`).
 */
export const TRAIN_DEFAULTS = {
  dataset: 'mnist',
  dataDir: null,
  subsample: 0.1,
  corrupt: 0.2,
  width: 1,
  optimizer: 'sgd',
  measure: null,
  mSharpness: 1,
  epochs: 200,
  batchSize: 128,
  lr: 0.1,
  lrSchedule: 'multistep',
  milestones: [50, 100, 150],
  gamma: 0.1,
  momentum: 0.9,
  seed: 0,
  backend: 'auto',
  measureEvery: 0,
  hessian: ['trace', 'frobenius'],
  hessianExamples: 1280,
  probes: 100,
  resume: false,
  force: false,
} as const satisfies PartialTrainOptions;

/** `--min-delta` when only `--patience` is given: 0.1 points of test accuracy. */
export const DEFAULT_MIN_DELTA = 0.001;

/**
 * Upper bounds of the options that have no natural one, so that a typo
 * (`--epochs 1e12`, `--lr 1e308`) is a range error up front rather than a run
 * that never ends or overflows (docs/run-directory.md, "Ranges").
 */
export const TRAIN_LIMITS = {
  epochs: 100_000,
  /** More than any training set here (SVHN's 73,257). */
  batchSize: 100_000,
  hessianExamples: 100_000,
  probes: 100_000,
  /** ResNet-18 at width 8 has ~715M parameters (2.9 GB of float32 weights). */
  width: 8,
  lr: 10,
  weightDecay: 1,
  /** Smallest `--subsample`: 0.001 of MNIST's 8,569 digits is still 8. */
  subsampleMin: 0.001,
} as const;

/** `dataDir` → `--data-dir`: how the user wrote it. */
export const flag = (name: string): string =>
  `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

const quote = (v: unknown) =>
  typeof v === 'string' ? `'${v}'` : typeof v === 'number' ? String(v) : JSON.stringify(v);
const list = (names: readonly string[]) => names.map((n) => `'${n}'`).join(', ');

function bad(name: string, got: unknown, accepts: string): never {
  throw new UsageError(`${flag(name)}: expected ${accepts}, got ${quote(got)}.`);
}

function number(
  name: string,
  value: unknown,
  { min = -Infinity, max = Infinity, minOpen = false, maxOpen = false, integer = false } = {},
): number {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!integer || Number.isInteger(value)) &&
    (minOpen ? value > min : value >= min) &&
    (maxOpen ? value < max : value <= max);
  if (!ok) {
    const kind = integer ? 'an integer' : 'a number';
    const lo = min === -Infinity ? '' : `${minOpen ? '>' : '≥'} ${min}`;
    const hi = max === Infinity ? '' : `${maxOpen ? '<' : '≤'} ${max}`;
    bad(name, value, `${kind}${lo || hi ? ' ' : ''}${[lo, hi].filter(Boolean).join(' and ')}`);
  }
  return value as number;
}

function choice<T extends string>(name: string, value: unknown, choices: readonly T[]): T {
  if (typeof value !== 'string' || !choices.includes(value as T)) {
    bad(name, value, `one of ${list(choices)}`);
  }
  return value as T;
}

function boolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') bad(name, value, 'true or false');
  return value as boolean;
}

function text(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') bad(name, value, 'a non-empty string');
  return value as string;
}

export const RESUME_AND_FORCE = new UsageError(
  '--resume and --force contradict each other; --resume continues the run, --force starts it over.',
);

/**
 * Fills in defaults and checks every option, throwing a `UsageError` whose one
 * line names the option, what it got and what it accepts. Also refuses
 * options that do not apply (`--eta` with frob-sam) and impossible
 * combinations (`--samples 1` with frob-sam). Unset and null mean "default".
 */
export function resolveTrainOptions(
  partial: PartialTrainOptions,
  variants: readonly Variant[] = VARIANTS,
): TrainOptions {
  if (typeof partial !== 'object' || partial === null) {
    throw new UsageError('train options: pass an object of options, e.g. { dataset: "mnist" }.');
  }
  const unknown = Object.keys(partial).filter(
    (k) => !(TRAIN_OPTION_NAMES as readonly string[]).includes(k),
  );
  if (unknown.length > 0) {
    throw new UsageError(
      `unknown train option ${quote(unknown[0])}; valid names are ${TRAIN_OPTION_NAMES.join(', ')}.`,
    );
  }
  const given = Object.fromEntries(
    Object.entries(partial).filter(([, v]) => v !== undefined && v !== null),
  ) as Partial<TrainOptions>;
  const o = { ...TRAIN_DEFAULTS, ...given };

  const dataset = choice('dataset', o.dataset, DATASET_NAMES);
  const { base, subsample: isSubsampled, corrupt: isCorrupted } = parseDatasetName(dataset);
  // An option that does not apply is refused unless it holds its default, so that
  // resolving resolved options (a run's config.json) gives them back unchanged.
  const set = (key: keyof TrainOptions) =>
    given[key] !== undefined &&
    JSON.stringify(given[key]) !==
      JSON.stringify(TRAIN_DEFAULTS[key as keyof typeof TRAIN_DEFAULTS]) &&
    !(key === 'milestones' && JSON.stringify(given[key]) === '[]');
  if (set('subsample') && !isSubsampled) {
    throw new UsageError(
      `--subsample applies to '-s' datasets only; use --dataset ${base}-s (or drop --subsample).`,
    );
  }
  if (set('corrupt') && !isCorrupted) {
    throw new UsageError(
      `--corrupt applies to '-c' datasets only; use --dataset ${base}-c (or drop --corrupt).`,
    );
  }
  const isCifar = base === 'cifar10' || base === 'cifar100';
  // Figure 2's recipe on MNIST, for what the user did not set.
  if (isMnist(dataset)) Object.assign(o, { ...mnistRecipe(dataset), ...given });
  const optimizer = choice(
    'optimizer',
    o.optimizer,
    variants.map((v) => v.name),
  );
  const chosen = findVariant(optimizer, variants);
  const users = variantOptions(variants);
  const variant = {} as Record<VariantKey, number | string | null>;
  const forDataset = datasetSettings(chosen, dataset);
  for (const key of VARIANT_KEYS) {
    const option = chosen.options.find((x) => x.name === key);
    if (given[key] !== undefined && option === undefined) {
      throw new UsageError(
        `${flag(key)} does not apply to --optimizer ${optimizer}; it is an option of ${list(users.get(key)!.map((u) => u.variant.name))}.`,
      );
    }
    const value = given[key] ?? (option && (forDataset[key] ?? option.default));
    const requirement = option && value !== undefined && optionRequirement(option, value);
    if (requirement) bad(key, value, requirement);
    variant[key] = (value ?? null) as number | string | null;
  }
  const lrSchedule = choice('lrSchedule', o.lrSchedule, LR_SCHEDULES);
  if (lrSchedule !== 'multistep') {
    for (const key of ['milestones', 'gamma'] as const) {
      if (set(key)) {
        throw new UsageError(
          `${flag(key)} applies to --lr-schedule multistep only; drop it or pass --lr-schedule multistep.`,
        );
      }
    }
  }
  const epochs = number('epochs', o.epochs, { min: 1, max: TRAIN_LIMITS.epochs, integer: true });
  const patience =
    given.patience === undefined
      ? null
      : number('patience', given.patience, { min: 1, integer: true });
  if (patience === null && given.minDelta !== undefined) {
    throw new UsageError(
      '--min-delta applies with --patience only; pass --patience N (epochs) or drop --min-delta.',
    );
  }
  const minDelta =
    patience === null
      ? null
      : number('minDelta', given.minDelta ?? DEFAULT_MIN_DELTA, { min: 0, max: 1 });
  const milestones =
    lrSchedule === 'multistep' && JSON.stringify(o.milestones) === '[]'
      ? TRAIN_DEFAULTS.milestones
      : o.milestones;
  if (
    !Array.isArray(milestones) ||
    milestones.some((m, i) => !Number.isInteger(m) || m < 1 || (i > 0 && m <= milestones[i - 1]!))
  ) {
    bad('milestones', milestones, 'increasing positive integers, e.g. 50,100,150');
  }
  const hessian = o.hessian;
  if (
    !Array.isArray(hessian) ||
    hessian.length === 0 ||
    hessian.some((h) => !(HESSIAN_QUANTITIES as readonly string[]).includes(h))
  ) {
    bad('hessian', hessian, `a non-empty list of ${list(HESSIAN_QUANTITIES)}`);
  }
  const batchSize = number('batchSize', o.batchSize, {
    min: 1,
    max: TRAIN_LIMITS.batchSize,
    integer: true,
  });
  const mSharpness = number('mSharpness', o.mSharpness, { min: 1, integer: true });
  if (batchSize % mSharpness !== 0) {
    throw new UsageError(
      `--m-sharpness ${mSharpness} does not divide --batch-size ${batchSize}; pass a batch size that is a multiple of it.`,
    );
  }
  if (mSharpness > 1 && chosen.family === 'base') {
    throw new UsageError('--m-sharpness applies to sharpness-aware optimizers; drop it with sgd.');
  }
  const resume = boolean('resume', o.resume);
  const force = boolean('force', o.force);
  if (resume && force) throw RESUME_AND_FORCE;
  const resolved: TrainOptions = {
    dataset,
    dataDir: o.dataDir === null ? null : text('dataDir', o.dataDir),
    subsample: number('subsample', o.subsample, { min: TRAIN_LIMITS.subsampleMin, max: 1 }),
    corrupt: number('corrupt', o.corrupt, { min: 0, max: 1 }),
    augment: boolean('augment', o.augment ?? isCifar),
    model: choice('model', o.model ?? (base.startsWith('mnist') ? 'mlp' : 'resnet18'), MODEL_NAMES),
    width: number('width', o.width, { min: 0, minOpen: true, max: TRAIN_LIMITS.width }),
    optimizer,
    measure: null,
    rho: variant.rho as number | null,
    lambda: variant.lambda as number | null,
    samples: variant.samples as number | null,
    eta: variant.eta as number | null,
    halfWidth: variant.halfWidth as number | null,
    sparsity: variant.sparsity as number | null,
    mu: variant.mu as 'gaussian' | 'sphere' | null,
    mSharpness,
    epochs,
    patience,
    minDelta,
    batchSize,
    lr: number('lr', o.lr, { min: 0, minOpen: true, max: TRAIN_LIMITS.lr }),
    lrSchedule,
    milestones: lrSchedule === 'multistep' ? [...milestones] : [],
    gamma: number('gamma', o.gamma, { min: 0, minOpen: true, max: 1 }),
    momentum: number('momentum', o.momentum, { min: 0, max: 1, maxOpen: true }),
    weightDecay: number('weightDecay', o.weightDecay ?? (base === 'cifar100' ? 1e-3 : 5e-4), {
      min: 0,
      max: TRAIN_LIMITS.weightDecay,
    }),
    seed: number('seed', o.seed, { min: 0, max: 2 ** 32 - 1, integer: true }),
    backend: choice('backend', o.backend, BACKEND_CHOICES),
    measureEvery: number('measureEvery', o.measureEvery, { min: 0, integer: true }),
    hessian: [...new Set(hessian)],
    hessianExamples: number('hessianExamples', o.hessianExamples, {
      min: 1,
      max: TRAIN_LIMITS.hessianExamples,
      integer: true,
    }),
    probes: number('probes', o.probes, { min: 2, max: TRAIN_LIMITS.probes, integer: true }),
    out: text('out', o.out ?? `runs/${dataset}-${optimizer}-seed${o.seed}`),
    resume,
    force,
  };
  if (chosen.needs.includes('measure')) {
    if (given.measure === undefined) {
      throw new UsageError(
        `--optimizer ${optimizer} needs --measure NAME; valid names are ${list(MEASURE_NAMES)}.`,
      );
    }
    const measure = text('measure', given.measure);
    // Throws a UsageError listing the names for an unknown one.
    const { minSamples = 1 } = catalogueMeasure(measure, 1);
    const samples = given.samples === undefined ? Math.max(1, minSamples) : resolved.samples!;
    if (samples < minSamples) {
      throw new UsageError(
        `--samples ${samples} with --measure ${measure}: its estimate needs n ≥ ${minSamples} samples; pass --samples ${minSamples} or more.`,
      );
    }
    return { ...resolved, measure, samples };
  }
  if (given.measure !== undefined) {
    const takers = variants.filter((v) => v.needs.includes('measure')).map((v) => v.name);
    throw new UsageError(
      `--measure applies to --optimizer ${takers.join(', ')} only; drop it or pass --optimizer ${takers[0]}.`,
    );
  }
  return resolved;
}

/** What may change when a run is resumed: the number of epochs (and how the run is invoked). */
const RESUMABLE = new Set<string>(['epochs', 'out', 'resume', 'force']);

/**
 * The first option, other than the epoch count, in which `requested` differs
 * from the run's saved options, as "--name: saved X, requested Y"; undefined if none.
 */
export function configDifference(
  saved: TrainOptions,
  requested: PartialTrainOptions,
): string | undefined {
  for (const key of TRAIN_OPTION_NAMES) {
    const value = requested[key];
    if (RESUMABLE.has(key) || value === undefined || value === null) continue;
    if (JSON.stringify(value) !== JSON.stringify(saved[key])) {
      return `${flag(key)}: the run has ${quote(saved[key])}, this command ${quote(value)}`;
    }
  }
  return undefined;
}

export const resumeMismatch = (difference: string): UsageError =>
  new UsageError(
    `--resume: the options differ from the run's (${difference}); only --epochs may change on resume.`,
  );
