/**
 * JSON Schemas (draft 2020-12) of a run directory's files and the types of
 * their lines, for tools that read runs (`usam reproduce`, `usam report`), for
 * the tests that check what `usam train` writes, and for the playground,
 * whose exports are metrics.jsonl lines (`@usam/cli/run-files`; nothing here
 * needs Node).
 */
import { HESSIAN_QUANTITIES, type HessianQuantity, TRAIN_OPTION_NAMES } from './run-names';

export { HESSIAN_QUANTITIES, type HessianQuantity };

/** An estimate with its standard error, as metrics.jsonl and sharpness.json hold them. */
export interface Estimated {
  readonly estimate: number;
  readonly standardError: number;
  /** Eigenvalues: whether power iteration met its tolerance. */
  readonly converged?: boolean;
}

/** One line of `metrics.jsonl`: one epoch. */
export interface EpochMetrics {
  /** 1-based. */
  readonly epoch: number;
  readonly trainLoss: number;
  readonly trainAccuracy: number;
  readonly testLoss: number;
  readonly testAccuracy: number;
  readonly learningRate: number;
  /** Wall-clock seconds of the epoch (training, evaluation, measurements). */
  readonly seconds: number;
  /** Gradients computed in the epoch's steps. */
  readonly gradientEvaluations: number;
  /** Steps the optimizer refused (non-finite loss or gradient). */
  readonly refusedSteps: number;
  readonly hessian?: Partial<Record<HessianQuantity, Estimated>>;
}

/** JSON text with NaN and ±∞ written as "NaN", "Infinity", "-Infinity" (JSON has no such numbers). */
export const toJson = (value: unknown, space?: number): string =>
  JSON.stringify(
    value,
    (_key, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v),
    space,
  );

const num = { type: 'number' } as const;
const nonNegative = { type: 'number', minimum: 0 } as const;
/** A non-finite value is written as the string JSON lacks a number for (docs/run-directory.md). */
const nonFinite = { enum: ['NaN', 'Infinity', '-Infinity'] } as const;
/** A loss: ≥ 0, or which non-finite value it was. */
const loss = { anyOf: [nonNegative, { enum: ['NaN', 'Infinity'] }] } as const;
const anyNumber = { anyOf: [num, nonFinite] } as const;
const count = { type: 'integer', minimum: 0 } as const;
const fraction = { type: 'number', minimum: 0, maximum: 1 } as const;
const estimated = {
  type: 'object',
  required: ['estimate', 'standardError'],
  properties: { estimate: anyNumber, standardError: anyNumber, converged: { type: 'boolean' } },
} as const;

/** `config.json`. */
export const configSchema = {
  type: 'object',
  required: ['options', 'versions', 'backend', 'startedAt', 'node', 'resumes'],
  properties: {
    options: {
      type: 'object',
      // Runs written before early stopping have no patience/minDelta (read as null).
      required: TRAIN_OPTION_NAMES.filter((k) => k !== 'patience' && k !== 'minDelta'),
      additionalProperties: false,
      properties: Object.fromEntries(TRAIN_OPTION_NAMES.map((k) => [k, {}])),
    },
    versions: { type: 'object', additionalProperties: { type: 'string' } },
    backend: { enum: ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu', 'webgl'] },
    startedAt: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T' },
    node: { type: 'string' },
    resumes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['at', 'epoch', 'step', 'backend'],
        properties: {
          at: { type: 'string' },
          epoch: count,
          step: count,
          backend: { type: 'string' },
        },
      },
    },
  },
} as const;

/** One line of `metrics.jsonl`. */
export const epochMetricsSchema = {
  type: 'object',
  required: [
    'epoch',
    'trainLoss',
    'trainAccuracy',
    'testLoss',
    'testAccuracy',
    'learningRate',
    'seconds',
    'gradientEvaluations',
    'refusedSteps',
  ],
  additionalProperties: false,
  properties: {
    epoch: { type: 'integer', minimum: 1 },
    trainLoss: loss,
    trainAccuracy: fraction,
    testLoss: loss,
    testAccuracy: fraction,
    learningRate: nonNegative,
    seconds: nonNegative,
    gradientEvaluations: count,
    refusedSteps: count,
    hessian: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(HESSIAN_QUANTITIES.map((q) => [q, estimated])),
    },
  },
} as const;

/** `summary.json`. */
export const summarySchema = {
  type: 'object',
  required: [
    'completed',
    'epochs',
    'finalTestAccuracy',
    'finalTestLoss',
    'finalTrainLoss',
    'seconds',
    'gradientEvaluations',
    'backend',
    'out',
  ],
  properties: {
    completed: { const: true },
    epochs: { type: 'integer', minimum: 1 },
    stoppedEarly: {
      type: 'object',
      required: ['epoch', 'bestEpoch', 'bestTestAccuracy'],
      properties: {
        epoch: { type: 'integer', minimum: 1 },
        bestEpoch: count,
        bestTestAccuracy: fraction,
      },
    },
    finalTestAccuracy: fraction,
    finalTestLoss: loss,
    finalTrainLoss: loss,
    seconds: nonNegative,
    gradientEvaluations: count,
    backend: { type: 'string' },
    out: { type: 'string' },
  },
} as const;

/** `diverged.json`. */
export const divergenceSchema = {
  type: 'object',
  required: ['epoch', 'step', 'loss'],
  properties: {
    epoch: { type: 'integer', minimum: 1 },
    step: count,
    loss: anyNumber,
    reason: { type: 'string' },
    checkpoint: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          required: ['epoch', 'step'],
          properties: { epoch: count, step: count },
        },
      ],
    },
  },
} as const;

/** `checkpoint/progress.json`. */
export const progressSchema = {
  type: 'object',
  required: ['epoch', 'step', 'globalStep', 'dataOrder', 'partial', 'seconds'],
  properties: {
    epoch: count,
    step: count,
    globalStep: count,
    dataOrder: {
      type: 'object',
      required: ['seed', 'epoch', 'batch'],
      properties: { seed: count, epoch: count, batch: count },
    },
    partial: {
      type: 'object',
      required: [
        'lossSum',
        'correct',
        'examples',
        'gradientEvaluations',
        'refusedSteps',
        'seconds',
      ],
      properties: {
        lossSum: anyNumber,
        correct: count,
        examples: count,
        gradientEvaluations: count,
        refusedSteps: count,
        seconds: nonNegative,
      },
    },
    seconds: nonNegative,
  },
} as const;
