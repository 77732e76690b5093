import type { Measure } from '@usam/measures';
import { describe, OptimizerError } from './errors';
import {
  DET_SAM_DEFAULTS,
  detSam,
  FROB_SAM_DEFAULTS,
  frobSam,
  MAX_SAMPLES,
  plain,
  TRACE_SAM_DEFAULTS,
  traceSam,
  UNIVERSAL_SAM_DEFAULTS,
  universalSam,
} from './instances';
import {
  ASAM_DEFAULTS,
  asam,
  type ExampleLosses,
  SAM_DEFAULTS,
  SSAM_DEFAULTS,
  sam,
  ssamF,
} from './sam';
import type { SharpnessAwareOptimizer } from './sharpness-aware';
import type { OptimizerOptions } from './types';

/**
 * One hyperparameter of a variant, as a command-line flag or a form field
 * renders and validates it. The factory checks the same range itself (the
 * variants test holds the two together).
 */
export interface VariantOption {
  /** The factory's option name (camelCase), e.g. `halfWidth`; `usam train` takes `--half-width`. */
  readonly name: string;
  /** The paper's symbol, for labels: `ρ`, `λ`, `n`, `h`. */
  readonly symbol: string;
  /** What it is, in a few words. */
  readonly description: string;
  readonly type: 'number' | 'integer' | 'choice';
  /** The factory's default; undefined where the factory picks it from other settings (see `description`). */
  readonly default?: number | string;
  /** Lower bound (numbers); exclusive where `minExclusive`. */
  readonly min?: number;
  readonly minExclusive?: boolean;
  /** Upper bound (numbers); exclusive where `maxExclusive`. */
  readonly max?: number;
  readonly maxExclusive?: boolean;
  /** The values a `choice` takes. */
  readonly choices?: readonly string[];
  /** Why the range is what it is, where that is not obvious ("its measure divides by ρ²"). */
  readonly why?: string;
  /** What the default is, in words, where `default` is undefined. */
  readonly defaultNote?: string;
}

/** What a variant's factory needs beyond numbers: SSAM-F's per-example losses, Algorithm 3's measure. */
export type VariantNeed = 'fisherLosses' | 'measure';

/** The engine's options and what a variant needs, for `Variant.create`. */
export interface VariantContext extends OptimizerOptions {
  readonly fisherLosses?: ExampleLosses;
  readonly measure?: Measure;
}

/** Settings of a variant: its options by name. */
export type VariantSettings = Readonly<Record<string, number | string>>;

/**
 * One optimizer variant: everything a program needs to offer it (a command
 * line, a form, a plan of runs) without restating it. `VARIANTS` lists them;
 * the CLI's `usam train` options and help, `usam reproduce`'s methods and the
 * playground's settings all derive from that table.
 */
export interface Variant {
  /** The name programs use (`usam train --optimizer frob-sam`). */
  readonly name: string;
  /** The @usam/optimizer factory that builds it. */
  readonly factory: string;
  /** Its name in text and charts: `Frob-SAM`. */
  readonly label: string;
  /** Its row label in the paper's Tables 2–3: `Frob`. */
  readonly tableLabel: string;
  /** Its row in the paper's Tables 2–3 (0 the top); undefined for a variant the paper did not run. */
  readonly paperRow?: number;
  /** One line: what it does. */
  readonly summary: string;
  /**
   * `base`: the base optimizer alone; `ascent`: one extra gradient at a
   * worst-case point (SAM's family); `measure`: Algorithm 3 over a (φ, ψ, μ) measure.
   */
  readonly family: 'base' | 'ascent' | 'measure';
  /** Its own hyperparameters (the engine's, such as weight decay, are every variant's). */
  readonly options: readonly VariantOption[];
  /** What `create` needs in its context besides the engine's options. */
  readonly needs: readonly VariantNeed[];
  /**
   * The paper's settings per dataset column of Tables 2–3 (`cifar10`,
   * `cifar100-s`, `svhn-c`, …; a column missing falls back to its base
   * dataset), as published: λ in the reference code's units, under `lambdaRef`.
   * `paperSettings` converts them.
   */
  readonly paper?: Readonly<Record<string, VariantSettings>>;
  /**
   * The reference code's λ_ref in this library's λ (docs/lambda.md): Frob-SAM
   * λ_ref/4, Det-SAM λ_ref/2, Trace-SAM λ_ref.
   */
  readonly lambdaFromReference?: (lambdaRef: number) => number;
  /** Gradient evaluations per step (per part of the batch with m-sharpness), for the given settings. */
  gradientsPerStep(settings: VariantSettings): number;
  /** Builds it from the engine's options and its own (`settings`, defaults filled in). */
  create(context: VariantContext, settings: VariantSettings): SharpnessAwareOptimizer;
}

/** The range part of an option's schema. */
type Range = Pick<VariantOption, 'min' | 'minExclusive' | 'max' | 'maxExclusive' | 'why'>;
/** x > 0, the range of most radii and widths. */
const POSITIVE: Range = { min: 0, minExclusive: true };

/** A number option's schema: one shape for every numeric hyperparameter. */
const numberOption = (
  name: string,
  symbol: string,
  description: string,
  value: number,
  range: Range,
): VariantOption => ({ name, symbol, description, type: 'number', default: value, ...range });

const rho = (value: number, exclusive: boolean): VariantOption =>
  numberOption('rho', 'ρ', 'perturbation radius', value, {
    min: 0,
    minExclusive: exclusive,
    ...(exclusive && { why: 'its measure divides by ρ²' }),
  });
const lambda = (value: number): VariantOption =>
  numberOption('lambda', 'λ', 'weight λ of the sharpness term, L + λρ²R_ρ', value, { min: 0 });
const samples = (value: number | undefined, min: number): VariantOption => ({
  name: 'samples',
  symbol: 'n',
  description: 'perturbation samples per step',
  type: 'integer',
  default: value,
  min,
  // The factories' own cap (each sample costs a gradient per step): one limit for every caller.
  max: MAX_SAMPLES,
  ...(min === 2 && { why: 'a covariance needs two samples' }),
});

const num = (settings: VariantSettings, key: string) => settings[key] as number;

/** 1 + n for Algorithm 3's one-distribution instances; 1 where λ = 0 (the base step). */
const measureCost = (settings: VariantSettings) =>
  num(settings, 'lambda') === 0 ? 1 : 1 + ((settings.samples as number | undefined) ?? 1);
/** 2 for the ascent family; 1 where ρ = 0 (the base step). */
const ascentCost = (settings: VariantSettings) => (num(settings, 'rho') === 0 ? 1 : 2);

/** §10.1's baselines, per base dataset. */
const baselines = (values: Record<'cifar10' | 'cifar100' | 'svhn', VariantSettings>) => values;

/**
 * Table 4 (λ as published) and Table 5 (Frob-SAM's ρ) of the paper's Appendix I,
 * per dataset column: CIFAR-10, CIFAR-100, SVHN, their -S and -C variants.
 */
const TABLE4_COLUMNS = [
  'cifar10',
  'cifar100',
  'svhn',
  'cifar10-s',
  'cifar100-s',
  'svhn-s',
  'cifar10-c',
  'cifar100-c',
  'svhn-c',
] as const;
const perColumn = (key: string, values: readonly number[]) =>
  Object.fromEntries(TABLE4_COLUMNS.map((c, i) => [c, { [key]: values[i]! }]));
const merge = (...tables: Record<string, VariantSettings>[]) =>
  Object.fromEntries(
    TABLE4_COLUMNS.map((c) => [c, Object.assign({}, ...tables.map((t) => t[c]))]),
  ) as Record<string, VariantSettings>;

/** The variants, in the order programs list them. */
export const VARIANTS: readonly Variant[] = [
  {
    name: 'sgd',
    factory: 'plain',
    label: 'SGD',
    tableLabel: 'SGD',
    paperRow: 6,
    summary: 'the base optimizer alone',
    family: 'base',
    options: [],
    needs: [],
    gradientsPerStep: () => 1,
    create: ({ lambda: _, ...context }) => plain(context),
  },
  {
    name: 'sam',
    factory: 'sam',
    label: 'SAM',
    tableLabel: 'SAM',
    paperRow: 5,
    summary: 'SAM, Foret et al. 2021',
    family: 'ascent',
    options: [rho(SAM_DEFAULTS.rho, false)],
    needs: [],
    paper: baselines({ cifar10: { rho: 0.05 }, cifar100: { rho: 0.1 }, svhn: { rho: 0.05 } }),
    gradientsPerStep: ascentCost,
    create: (context, s) => sam({ ...context, rho: num(s, 'rho') }),
  },
  {
    name: 'asam',
    factory: 'asam',
    label: 'ASAM',
    tableLabel: 'ASAM',
    paperRow: 4,
    summary: 'adaptive SAM, Kwon et al. 2021',
    family: 'ascent',
    options: [
      rho(ASAM_DEFAULTS.rho, false),
      numberOption('eta', 'η', 'η in T = |x| + η', ASAM_DEFAULTS.eta, POSITIVE),
    ],
    needs: [],
    paper: baselines({
      cifar10: { rho: 0.5, eta: 0.01 },
      cifar100: { rho: 1, eta: 0.1 },
      svhn: { rho: 0.5, eta: 0.01 },
    }),
    gradientsPerStep: ascentCost,
    create: (context, s) => asam({ ...context, rho: num(s, 'rho'), eta: num(s, 'eta') }),
  },
  {
    name: 'ssam',
    factory: 'ssamF',
    label: 'SSAM-F',
    tableLabel: 'SSAM',
    paperRow: 3,
    summary: 'sparse SAM with a Fisher mask, Mi et al. 2022',
    family: 'ascent',
    options: [
      rho(SSAM_DEFAULTS.rho, false),
      numberOption(
        'sparsity',
        'sparsity',
        'share of parameters not perturbed',
        SSAM_DEFAULTS.sparsity,
        {
          min: 0,
          max: 1,
          maxExclusive: true,
        },
      ),
    ],
    needs: ['fisherLosses'],
    paper: baselines({
      cifar10: { rho: 0.1, sparsity: 0.5 },
      cifar100: { rho: 0.2, sparsity: 0.5 },
      svhn: { rho: 0.1, sparsity: 0.5 },
    }),
    gradientsPerStep: ascentCost,
    create: ({ fisherLosses, ...context }, s) =>
      ssamF({
        ...context,
        rho: num(s, 'rho'),
        sparsity: num(s, 'sparsity'),
        fisherLosses: fisherLosses!,
      }),
  },
  {
    name: 'frob-sam',
    factory: 'frobSam',
    label: 'Frob-SAM',
    tableLabel: 'Frob',
    paperRow: 0,
    summary: 'Frob-SAM: Algorithm 2, the Frobenius norm of the Hessian',
    family: 'measure',
    options: [
      rho(FROB_SAM_DEFAULTS.rho, true),
      lambda(FROB_SAM_DEFAULTS.lambda),
      samples(FROB_SAM_DEFAULTS.samples, 2),
    ],
    needs: [],
    paper: merge(
      perColumn('rho', [5e-3, 5e-3, 5e-3, 1e-2, 5e-3, 5e-3, 1e-2, 5e-3, 1e-2]),
      perColumn('lambdaRef', [5e-3, 1e-4, 5e-3, 1e-4, 1e-4, 1e-3, 0.01, 0.01, 1e-3]),
    ),
    lambdaFromReference: (lambdaRef) => lambdaRef / 4,
    gradientsPerStep: measureCost,
    create: (context, s) =>
      frobSam({
        ...context,
        rho: num(s, 'rho'),
        lambda: num(s, 'lambda'),
        samples: num(s, 'samples'),
      }),
  },
  {
    name: 'trace-sam',
    factory: 'traceSam',
    label: 'Trace-SAM',
    tableLabel: 'Trace',
    paperRow: 1,
    summary: 'Trace-SAM: the trace of the Hessian',
    family: 'measure',
    options: [
      rho(TRACE_SAM_DEFAULTS.rho, true),
      lambda(TRACE_SAM_DEFAULTS.lambda),
      samples(TRACE_SAM_DEFAULTS.samples, 1),
      {
        name: 'mu',
        symbol: 'μ',
        description: 'the distribution μ of the perturbations',
        type: 'choice',
        default: TRACE_SAM_DEFAULTS.mu,
        choices: ['gaussian', 'sphere'],
      },
    ],
    needs: [],
    paper: merge(perColumn('lambdaRef', [1, 0.1, 0.1, 0.01, 0.01, 1, 1, 0.1, 0.01])),
    lambdaFromReference: (lambdaRef) => lambdaRef,
    gradientsPerStep: measureCost,
    create: (context, s) =>
      traceSam({
        ...context,
        rho: num(s, 'rho'),
        lambda: num(s, 'lambda'),
        samples: num(s, 'samples'),
        mu: s.mu as 'gaussian' | 'sphere',
      }),
  },
  {
    name: 'det-sam',
    factory: 'detSam',
    label: 'Det-SAM',
    tableLabel: 'Det',
    paperRow: 2,
    summary: 'Det-SAM: the determinant of the Hessian, with a hypercube μ',
    family: 'measure',
    options: [
      rho(DET_SAM_DEFAULTS.rho, true),
      lambda(DET_SAM_DEFAULTS.lambda),
      samples(DET_SAM_DEFAULTS.samples, 1),
      numberOption(
        'halfWidth',
        'h',
        'half-width of the hypercube μ',
        DET_SAM_DEFAULTS.halfWidth,
        POSITIVE,
      ),
    ],
    needs: [],
    paper: merge(perColumn('lambdaRef', [1, 0.1, 0.1, 0.01, 1, 1, 0.01, 0.1, 0.1])),
    lambdaFromReference: (lambdaRef) => lambdaRef / 2,
    gradientsPerStep: measureCost,
    create: (context, s) =>
      detSam({
        ...context,
        rho: num(s, 'rho'),
        lambda: num(s, 'lambda'),
        samples: num(s, 'samples'),
        halfWidth: num(s, 'halfWidth'),
      }),
  },
  {
    name: 'universal',
    factory: 'universalSam',
    label: 'Universal SAM',
    tableLabel: 'Universal',
    summary: 'Algorithm 3 for any (φ, ψ, μ) measure',
    family: 'measure',
    options: [
      // universalSam requires ρ; programs offer Trace-SAM's 0.01.
      rho(0.01, true),
      lambda(UNIVERSAL_SAM_DEFAULTS.lambda),
      {
        ...samples(undefined, 1),
        defaultNote: 'the fewest its measure needs',
      },
    ],
    needs: ['measure'],
    gradientsPerStep: measureCost,
    create: ({ measure, ...context }, s) =>
      universalSam({
        ...context,
        measure: measure!,
        rho: num(s, 'rho'),
        lambda: num(s, 'lambda'),
        ...(s.samples !== undefined && { samples: num(s, 'samples') }),
      }),
  },
];

/** The variant called `name` in `variants`; an `OptimizerError` listing the names otherwise. */
export function findVariant(name: string, variants: readonly Variant[] = VARIANTS): Variant {
  const found = variants.find((v) => v.name === name);
  if (found === undefined) {
    throw new OptimizerError(
      `findVariant: no optimizer variant ${describe(name)}; valid names are ${variants.map((v) => v.name).join(', ')}.`,
    );
  }
  return found;
}

/** What an option accepts, in words: "a number > 0", "an integer ≥ 2", "one of 'gaussian', 'sphere'". */
export function optionAccepts(option: VariantOption): string {
  if (option.type === 'choice') {
    return `one of ${(option.choices ?? []).map((c) => `'${c}'`).join(', ')}`;
  }
  const kind = option.type === 'integer' ? 'an integer' : 'a number';
  const lo = option.min === undefined ? '' : `${option.minExclusive ? '>' : '≥'} ${option.min}`;
  const hi = option.max === undefined ? '' : `${option.maxExclusive ? '<' : '≤'} ${option.max}`;
  const bounds = [lo, hi].filter(Boolean).join(' and ');
  return bounds === '' ? kind : `${kind} ${bounds}`;
}

/** Whether `value` is in the option's range (a finite number of its kind, or one of its choices). */
export function optionAllows(option: VariantOption, value: unknown): boolean {
  if (option.type === 'choice') {
    return typeof value === 'string' && (option.choices ?? []).includes(value);
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  if (option.type === 'integer' && !Number.isInteger(value)) return false;
  const { min, max } = option;
  if (min !== undefined && (option.minExclusive ? value <= min : value < min)) return false;
  if (max !== undefined && (option.maxExclusive ? value >= max : value > max)) return false;
  return true;
}

/**
 * What `value` must be for `option`, in words with the range's reason ("a
 * number > 0 (its measure divides by ρ²)"), or undefined where it is
 * allowed: the one message `usam train` and the playground give.
 */
export function optionRequirement(option: VariantOption, value: unknown): string | undefined {
  if (optionAllows(option, value)) return undefined;
  return `${optionAccepts(option)}${option.why === undefined ? '' : ` (${option.why})`}`;
}

/** A variant's defaults, as settings. */
export const variantDefaults = (variant: Variant): VariantSettings =>
  Object.fromEntries(
    variant.options.flatMap((o) => (o.default === undefined ? [] : [[o.name, o.default]])),
  );

/** The paper's dataset column's base dataset: `cifar100-s` → `cifar100`. */
const baseColumn = (column: string) => column.replace(/-(s|c|s-c)$/, '');

/**
 * The paper's settings of a variant for one dataset column of Tables 2–3
 * (its defaults where the paper gives none, λ converted to this library's
 * units); undefined for a column the paper has no settings for.
 */
export function paperSettings(variant: Variant, column: string): VariantSettings | undefined {
  if (variant.paper === undefined) return variant.options.length === 0 ? {} : undefined;
  const published = variant.paper[column] ?? variant.paper[baseColumn(column)];
  if (published === undefined) return undefined;
  const { lambdaRef, ...rest } = published;
  const settings: Record<string, number | string> = { ...variantDefaults(variant), ...rest };
  if (lambdaRef !== undefined) {
    if (variant.lambdaFromReference === undefined) {
      throw new OptimizerError(
        `paperSettings: variant '${variant.name}' has a published λ but no lambdaFromReference; add the conversion to its table entry.`,
      );
    }
    settings.lambda = variant.lambdaFromReference(lambdaRef as number);
  }
  return settings;
}

/**
 * Builds a variant: `settings` checked against its option schema (an
 * `OptimizerError` naming the option, what it got and what it accepts),
 * defaults filled in, unknown settings refused.
 */
export function createVariant(
  variant: Variant,
  context: VariantContext,
  settings: Readonly<Record<string, unknown>> = {},
): SharpnessAwareOptimizer {
  const where = variant.factory;
  const known = variant.options.map((o) => o.name);
  const unknown = Object.keys(settings).filter(
    (k) => settings[k] !== undefined && !known.includes(k),
  );
  if (unknown.length > 0) {
    throw new OptimizerError(
      `${where}: '${unknown[0]}' is not an option of ${variant.name}; its options are ${known.join(', ') || 'none'}.`,
    );
  }
  const resolved: Record<string, number | string> = {};
  for (const option of variant.options) {
    const value = settings[option.name] ?? option.default;
    if (value === undefined) continue; // the factory's own default
    if (!optionAllows(option, value)) {
      throw new OptimizerError(
        `${where}: ${option.name} (${option.symbol}) must be ${optionAccepts(option)}, got ${describe(value)}.`,
      );
    }
    resolved[option.name] = value as number | string;
  }
  // Only what the variant needs goes on: the factories refuse options they do not know.
  const { fisherLosses: _f, measure: _m, ...engine } = context;
  const given: { -readonly [K in keyof VariantContext]: VariantContext[K] } = { ...engine };
  for (const need of variant.needs) {
    if (context[need] === undefined) {
      throw new OptimizerError(
        `${where}: ${variant.name} needs ${need === 'fisherLosses' ? 'fisherLosses, the per-example losses of its Fisher mask' : 'a measure from @usam/measures'}; pass it in the context.`,
      );
    }
    Object.assign(given, { [need]: context[need] });
  }
  return variant.create(given, resolved);
}
