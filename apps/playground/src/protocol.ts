/**
 * The messages between the page and the training worker. Both directions are
 * plain structured-clonable objects with a `type`; what arrives at the worker
 * is checked by `parseRequest`, so a malformed message fails with a one-line
 * reason instead of training on garbage.
 */
import type { EpochMetrics, Estimated } from '@usam/cli/run-files';
import { describeValue, UsamError } from '@usam/measures';
import {
  findVariant,
  optionRequirement,
  VARIANTS,
  type Variant,
  type VariantOption,
} from '@usam/optimizer';
import {
  BACKENDS,
  checkNumber,
  DATASETS,
  type ExperimentSettings,
  MAX_RUNS,
  MIN_RUNS,
  MODELS,
  NUMBER_SETTINGS,
  playgroundVariants,
  type RunSettings,
} from './settings';

/** A Hessian quantity with its error bar (a standard error; for the eigenvalue the residual ‖Hv − λv‖). */
export type EstimateWithError = Estimated;

/**
 * One epoch of one run: a line of `usam train`'s metrics.jsonl, by the CLI's
 * own schema (`@usam/cli/run-files`): train loss and accuracy are the running
 * means over the epoch's minibatches, `seconds` the run's own time (its
 * steps, evaluation and measurements; pauses and other runs left out).
 */
export type { EpochMetrics };

export type Request =
  | { readonly type: 'start'; readonly settings: ExperimentSettings }
  | { readonly type: 'pause' }
  | { readonly type: 'resume' }
  | { readonly type: 'stop' }
  | {
      readonly type: 'landscape';
      readonly run: number;
      /** 1: a line through the weights along d₁; 2: the plane of d₁, d₂. */
      readonly dimensions: 1 | 2;
      /** Grid points per axis. */
      readonly points: number;
      /** The grid covers [−span, span] in units of the filter-normalised directions. */
      readonly span: number;
      /** Training examples the loss is averaged over. */
      readonly examples: number;
      readonly seed: number;
    }
  | {
      readonly type: 'density';
      readonly run: number;
      /** Lanczos steps per probe. */
      readonly steps: number;
      readonly probes: number;
      readonly examples: number;
      readonly seed: number;
    };

export type RunState = 'idle' | 'loading' | 'running' | 'paused' | 'stopped' | 'done' | 'failed';

export type Response =
  | {
      readonly type: 'backend';
      /** The backend training runs on. */
      readonly name: string;
      /** Milliseconds per SGD step of the chosen model, per backend tried. */
      readonly stepMs: Readonly<Record<string, number>>;
    }
  | { readonly type: 'status'; readonly state: RunState; readonly message?: string }
  | {
      /** The loaded dataset's sizes, once per start. */
      readonly type: 'dataset';
      readonly trainExamples: number;
      readonly testExamples: number;
      readonly stepsPerEpoch: number;
    }
  | {
      /** Minibatch losses of one run since its previous progress message (every step, in order). */
      readonly type: 'progress';
      readonly run: number;
      /** Epoch and step (1-based) of the last loss in `losses`. */
      readonly epoch: number;
      readonly step: number;
      readonly stepsPerEpoch: number;
      /** The losses of global steps `globalStep − losses.length + 1` to `globalStep`. */
      readonly losses: number[];
      readonly globalStep: number;
      /** Mean milliseconds per step of this run in the current epoch. */
      readonly stepMs: number;
    }
  | {
      /**
       * One run stopped while the others go on: its loss was not finite
       * ('diverged'; its weights are put back to the last step whose loss was
       * finite), or its step or measurement threw ('failed').
       */
      readonly type: 'halted';
      readonly run: number;
      readonly reason: 'diverged' | 'failed';
      readonly epoch: number;
      readonly step: number;
      /** One line for the page, e.g. "diverged at epoch 6, step 3 (loss NaN)". */
      readonly message: string;
    }
  | { readonly type: 'epoch'; readonly run: number; readonly metrics: EpochMetrics }
  | {
      readonly type: 'landscape';
      readonly run: number;
      readonly dimensions: 1 | 2;
      /** Coordinates along d₁ (and d₂): both the same grid. */
      readonly grid: number[];
      /** Loss at grid[i] (1-D), or at (grid[i], grid[j]) as values[j * n + i] (2-D). */
      readonly values: number[];
      readonly seconds: number;
    }
  | {
      readonly type: 'density';
      readonly run: number;
      readonly grid: number[];
      readonly density: number[];
      /** tr H from the same quadrature, with its standard error. */
      readonly trace: EstimateWithError;
      readonly seconds: number;
    }
  | { readonly type: 'error'; readonly message: string };

/** A message the worker cannot act on. */
export class ProtocolError extends UsamError {
  override readonly name = 'ProtocolError';

  static override isInstance(error: unknown): error is ProtocolError {
    return UsamError.isNamed(error, 'ProtocolError');
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const show = describeValue;

function oneOf<T extends string>(where: string, value: unknown, valid: readonly T[]): T {
  if (typeof value !== 'string' || !valid.includes(value as T)) {
    throw new ProtocolError(`${where} must be one of ${valid.join(', ')}, got ${show(value)}.`);
  }
  return value as T;
}

function number(where: string, value: unknown, limits: Parameters<typeof checkNumber>[2] = {}) {
  try {
    return checkNumber(where, value, limits);
  } catch (error) {
    throw new ProtocolError((error as Error).message, { cause: error });
  }
}

function onlyKeys(where: string, value: Record<string, unknown>, keys: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      throw new ProtocolError(
        `${where}: unknown field '${key}'; valid fields: ${keys.join(', ')}.`,
      );
    }
  }
}

/** Limits of the browser beyond the variants' own ranges: samples cost a gradient each. */
const BROWSER_LIMITS: Readonly<Record<string, number>> = { samples: 64 };

/** One option of a run, checked against the variant's range (and the browser's limit). */
function parseOption(where: string, optimizer: string, option: VariantOption, value: unknown) {
  const requirement = optionRequirement(option, value);
  if (requirement !== undefined) {
    throw new ProtocolError(
      `${where} must be ${requirement} for ${optimizer}, got ${show(value)}.`,
    );
  }
  const limit = BROWSER_LIMITS[option.name];
  if (limit !== undefined && (value as number) > limit) {
    throw new ProtocolError(`${where} must be ≤ ${limit} in the browser, got ${show(value)}.`);
  }
  return value as number | string;
}

function parseRun(where: string, value: unknown, variants: readonly Variant[]): RunSettings {
  if (!isRecord(value)) throw new ProtocolError(`${where} must be an object, got ${show(value)}.`);
  const names = playgroundVariants(variants).map((v) => v.name);
  const optimizer = oneOf(`${where}.optimizer`, value.optimizer, names);
  const { options } = findVariant(optimizer, variants);
  onlyKeys(where, value, ['optimizer', ...options.map((o) => o.name)]);
  return {
    optimizer,
    ...Object.fromEntries(
      options.map((o) => [o.name, parseOption(`${where}.${o.name}`, optimizer, o, value[o.name])]),
    ),
  };
}

const SETTINGS_KEYS = ['dataset', 'model', 'backend', ...NUMBER_SETTINGS, 'runs'] as const;

/** Checks experiment settings field by field; throws `ProtocolError` naming the first bad one. */
export function parseSettings(
  value: unknown,
  variants: readonly Variant[] = VARIANTS,
): ExperimentSettings {
  const where = 'settings';
  if (!isRecord(value)) throw new ProtocolError(`${where} must be an object, got ${show(value)}.`);
  onlyKeys(where, value, SETTINGS_KEYS);
  const runs = value.runs;
  if (!Array.isArray(runs) || runs.length < MIN_RUNS || runs.length > MAX_RUNS) {
    throw new ProtocolError(
      `${where}.runs must be an array of ${MIN_RUNS} to ${MAX_RUNS} runs, got ${Array.isArray(runs) ? `${runs.length} runs` : show(runs)}.`,
    );
  }
  return {
    dataset: oneOf(`${where}.dataset`, value.dataset, DATASETS),
    model: oneOf(`${where}.model`, value.model, MODELS),
    backend: oneOf(`${where}.backend`, value.backend, BACKENDS),
    epochs: number(`${where}.epochs`, value.epochs, { min: 1, max: 1000, integer: true }),
    batchSize: number(`${where}.batchSize`, value.batchSize, { min: 1, max: 4096, integer: true }),
    lr: number(`${where}.lr`, value.lr, { min: 0 }),
    momentum: number(`${where}.momentum`, value.momentum, { min: 0, max: 0.999 }),
    weightDecay: number(`${where}.weightDecay`, value.weightDecay, { min: 0 }),
    seed: number(`${where}.seed`, value.seed, { min: 0, max: 2 ** 31 - 1, integer: true }),
    mSharpness: number(`${where}.mSharpness`, value.mSharpness, {
      min: 1,
      // Each part costs a clean pass and its perturbation's gradients.
      max: Math.min(32, typeof value.batchSize === 'number' ? value.batchSize : 32),
      integer: true,
    }),
    measureEvery: number(`${where}.measureEvery`, value.measureEvery, { min: 0, integer: true }),
    hessianExamples: number(`${where}.hessianExamples`, value.hessianExamples, {
      min: 1,
      integer: true,
    }),
    probes: number(`${where}.probes`, value.probes, { min: 2, max: 1000, integer: true }),
    runs: runs.map((run, i) => parseRun(`${where}.runs[${i}]`, run, variants)),
  };
}

/** Checks a message sent to the worker; throws `ProtocolError` with a one-line reason. */
export function parseRequest(value: unknown): Request {
  if (!isRecord(value)) {
    throw new ProtocolError(`A worker message must be an object, got ${show(value)}.`);
  }
  const type = oneOf('message type', value.type, [
    'start',
    'pause',
    'resume',
    'stop',
    'landscape',
    'density',
  ] as const);
  switch (type) {
    case 'start':
      onlyKeys('start', value, ['type', 'settings']);
      return { type, settings: parseSettings(value.settings) };
    case 'pause':
    case 'resume':
    case 'stop':
      onlyKeys(type, value, ['type']);
      return { type };
    case 'landscape': {
      onlyKeys(type, value, ['type', 'run', 'dimensions', 'points', 'span', 'examples', 'seed']);
      const dimensions = value.dimensions;
      if (dimensions !== 1 && dimensions !== 2) {
        throw new ProtocolError(`landscape.dimensions must be 1 or 2, got ${show(dimensions)}.`);
      }
      return {
        type,
        run: number('landscape.run', value.run, { min: 0, max: MAX_RUNS - 1, integer: true }),
        dimensions,
        points: number('landscape.points', value.points, { min: 3, max: 201, integer: true }),
        span: number('landscape.span', value.span, { min: 1e-6 }),
        examples: number('landscape.examples', value.examples, { min: 1, integer: true }),
        seed: number('landscape.seed', value.seed, { min: 0, integer: true }),
      };
    }
    case 'density':
      onlyKeys(type, value, ['type', 'run', 'steps', 'probes', 'examples', 'seed']);
      return {
        type,
        run: number('density.run', value.run, { min: 0, max: MAX_RUNS - 1, integer: true }),
        steps: number('density.steps', value.steps, { min: 2, max: 500, integer: true }),
        probes: number('density.probes', value.probes, { min: 1, max: 100, integer: true }),
        examples: number('density.examples', value.examples, { min: 1, integer: true }),
        seed: number('density.seed', value.seed, { min: 0, integer: true }),
      };
  }
}
