import { appendFile, mkdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { UsageError } from '../cli/errors';
import { pathKind, requireDirectoryPath, writeFileAtomic, writeJsonAtomic } from '../cli/files';
import type { Estimated } from './hessian';
import type { HessianQuantity, TrainOptions } from './options';

/** `config.json`: the resolved options and where and with what the run was made. */
export interface RunConfig {
  readonly options: TrainOptions;
  /** Versions of the usam packages and TensorFlow.js. */
  readonly versions: Record<string, string>;
  /** The backend that ran (usam's name), as resolved from `options.backend`. */
  readonly backend: string;
  /** ISO 8601. */
  readonly startedAt: string;
  readonly node: string;
  /** Each `--resume`: when, from which epoch and step, on which backend. */
  readonly resumes: readonly { at: string; epoch: number; step: number; backend: string }[];
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

/** `summary.json`, written when the run completes. */
export interface TrainSummary {
  readonly completed: boolean;
  readonly epochs: number;
  readonly finalTestAccuracy: number;
  readonly finalTestLoss: number;
  readonly finalTrainLoss: number;
  /** Seconds over all sessions of the run. */
  readonly seconds: number;
  readonly gradientEvaluations: number;
  readonly backend: string;
  readonly out: string;
  /** Set when stopped by a signal: where the checkpoint stands. */
  readonly interrupted?: { readonly epoch: number; readonly step: number };
}

export const CONFIG = 'config.json';
export const METRICS = 'metrics.jsonl';
export const SUMMARY = 'summary.json';
const RUN_FILES = [CONFIG, METRICS, SUMMARY, 'checkpoint', 'checkpoint.new', 'checkpoint.old'];

/** Versions of the packages a run depends on, for config.json. */
export function packageVersions(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const versions: Record<string, string> = {};
  for (const name of [
    '@usam/cli',
    '@usam/optimizer',
    '@usam/estimators',
    '@usam/measures',
    '@usam/datasets',
    '@usam/models',
    '@usam/backend',
    '@tensorflow/tfjs-core',
  ]) {
    try {
      versions[name] = (require(`${name}/package.json`) as { version: string }).version;
    } catch {
      versions[name] = 'unknown';
    }
  }
  return versions;
}

/**
 * Checks `--out` before any work: a file is refused; an existing run is
 * refused unless resumed (its config is returned) or forced (its files are
 * removed, nothing else).
 */
export async function prepareRunDir(options: TrainOptions): Promise<RunConfig | undefined> {
  const { out } = options;
  await requireDirectoryPath('--out', out);
  const hasRun = (await pathKind(join(out, CONFIG))) === 'other';
  if (options.resume) {
    if (!hasRun) {
      throw new UsageError(
        `--resume: ${out} holds no run (no ${CONFIG}); drop --resume to start one.`,
      );
    }
    return JSON.parse(await readFile(join(out, CONFIG), 'utf8')) as RunConfig;
  }
  if (hasRun && !options.force) {
    throw new UsageError(
      `--out ${out} already holds a run; pass --resume to continue it, --force to start it over, or another --out.`,
    );
  }
  if (options.force) {
    for (const name of RUN_FILES) await rm(join(out, name), { recursive: true, force: true });
  }
  await mkdir(out, { recursive: true });
  return undefined;
}

export const writeConfig = (out: string, config: RunConfig): Promise<void> =>
  writeJsonAtomic(join(out, CONFIG), config);

export const writeSummary = (out: string, summary: TrainSummary): Promise<void> =>
  writeJsonAtomic(join(out, SUMMARY), summary);

/**
 * Appends one epoch's line. One `write` of a whole line: a crash leaves the
 * file as it was or with the line, and `truncateMetrics` drops a partial one.
 */
export const appendMetrics = (out: string, metrics: EpochMetrics): Promise<void> =>
  appendFile(join(out, METRICS), `${JSON.stringify(metrics)}\n`);

/** The complete lines of metrics.jsonl, parsed (a trailing partial line is left out). */
export async function readMetrics(out: string): Promise<EpochMetrics[]> {
  let text: string;
  try {
    text = await readFile(join(out, METRICS), 'utf8');
  } catch {
    return [];
  }
  const lines = text.split('\n');
  lines.pop(); // after the last '\n': empty, or a partial line
  return lines.map((line) => JSON.parse(line) as EpochMetrics);
}

/**
 * On resume: metrics.jsonl keeps exactly the epochs the checkpoint has
 * completed (a line written after the checkpoint it belongs to is dropped, as
 * is a partial line), rewritten atomically.
 */
export async function truncateMetrics(out: string, epochs: number): Promise<EpochMetrics[]> {
  const kept = (await readMetrics(out)).filter((m) => m.epoch <= epochs);
  await writeFileAtomic(join(out, METRICS), kept.map((m) => `${JSON.stringify(m)}\n`).join(''));
  return kept;
}
