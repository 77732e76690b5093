import { appendFile, readdir, readFile, rm, truncate } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { version as backendVersion } from '@usam/backend/package.json';
import { version as datasetsVersion } from '@usam/datasets/package.json';
import { version as estimatorsVersion } from '@usam/estimators/package.json';
import { version as measuresVersion } from '@usam/measures/package.json';
import { version as modelsVersion } from '@usam/models/package.json';
import { VARIANTS, type Variant } from '@usam/optimizer';
import { version as optimizerVersion } from '@usam/optimizer/package.json';
import { version as cliVersion } from '../../package.json';
import { UsageError } from '../cli/errors';
import {
  diskFullError,
  isDiskFull,
  makeOutputDirectory,
  pathKind,
  requireDirectoryPath,
  writeFileAtomic,
} from '../cli/files';
import type { EarlyStop } from './early-stop';
import {
  configDifference,
  flag,
  type PartialTrainOptions,
  RESUME_AND_FORCE,
  resolveTrainOptions,
  resumeMismatch,
  type TrainOptions,
} from './options';
import { TRAIN_OPTION_NAMES } from './run-names';
import {
  configSchema,
  divergenceSchema,
  type EpochMetrics,
  epochMetricsSchema,
  summarySchema,
} from './schema';
import { parseJson, readNumber, toJson, validated } from './validate';

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

export type { EpochMetrics } from './schema';

/** `summary.json`, written when the run completes. */
export interface TrainSummary {
  readonly completed: boolean;
  /** Epochs trained (fewer than asked when `stoppedEarly`). */
  readonly epochs: number;
  /** Set when `--patience` ended the run before its last epoch (docs/early-stopping.md). */
  readonly stoppedEarly?: EarlyStop;
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
  /** Set when the run stopped because it diverged (`diverged.json`). */
  readonly diverged?: Divergence;
}

/**
 * `diverged.json`: where a run diverged. `usam train` writes it when most of
 * an epoch's steps are refused (docs/run-directory.md); `usam reproduce` also
 * when a loss leaves every sane range. `reproduce` and `report` show the run as
 * diverged, never averaged in; `--resume` refuses it.
 */
export interface Divergence {
  /** 1-based epoch and step where the divergence began. */
  readonly epoch: number;
  readonly step: number;
  /** The minibatch loss there (NaN, ±∞, or a finite loss out of range). */
  readonly loss: number;
  /** Why it counts as diverged, in words. */
  readonly reason?: string;
  /** The live checkpoint (the last finite state): epochs and steps done; null if none was written. */
  readonly checkpoint?: { readonly epoch: number; readonly step: number } | null;
}

export const CONFIG = 'config.json';
export const METRICS = 'metrics.jsonl';
export const SUMMARY = 'summary.json';
export const DIVERGED = 'diverged.json';
const RUN_FILES = [
  CONFIG,
  METRICS,
  SUMMARY,
  DIVERGED,
  'checkpoint',
  'checkpoint.new',
  'checkpoint.old',
];

/** What to do about a run file that does not read back. */
const FIX = 'restore the file from a copy, or start the run over with usam train --force.';

/**
 * Versions of the packages a run depends on, for config.json. The @usam libraries are
 * bundled into the CLI (tsup.config.ts), so theirs are the versions built in, read from
 * their package.json at build time; tfjs-core is the installed one.
 */
export function packageVersions(): Record<string, string> {
  const versions: Record<string, string> = {
    '@usam/cli': cliVersion,
    '@usam/optimizer': optimizerVersion,
    '@usam/estimators': estimatorsVersion,
    '@usam/measures': measuresVersion,
    '@usam/datasets': datasetsVersion,
    '@usam/models': modelsVersion,
    '@usam/backend': backendVersion,
  };
  try {
    const require = createRequire(import.meta.url);
    versions['@tensorflow/tfjs-core'] = (
      require('@tensorflow/tfjs-core/package.json') as { version: string }
    ).version;
  } catch {
    versions['@tensorflow/tfjs-core'] = 'unknown';
  }
  return versions;
}

/**
 * A run's `config.json`, read and checked: its fields against the schema, and
 * its options as `usam train` checks its flags (one-line errors naming the
 * file and field, never a later "Unknown dataset 'undefined'").
 */
export async function readRunConfig(
  out: string,
  variants: readonly Variant[] = VARIANTS,
): Promise<RunConfig> {
  const path = join(out, CONFIG);
  const config = validated<RunConfig>(
    configSchema,
    parseJson(await readFile(path, 'utf8'), path, FIX),
    path,
    FIX,
  );
  try {
    resolveTrainOptions(config.options, variants);
  } catch (error) {
    if (!UsageError.isInstance(error)) throw error;
    // Its messages name a flag (`--lr: …`); here it is the file's field.
    const named = /^--([a-z0-9-]+)/.exec(error.message)?.[0];
    const key = TRAIN_OPTION_NAMES.find((k) => flag(k) === named);
    const field = key === undefined ? 'options' : `options.${key}`;
    throw new UsageError(
      `${path}: field '${field}' is not valid (${error.message.replace(/\.$/, '')}); ${FIX}`,
      { cause: error },
    );
  }
  return config;
}

/**
 * The options of `usam train --resume`: the run's saved options (from
 * `<out>/config.json`), with `requested.epochs` if given. Any other requested
 * option that differs from the saved one is refused, naming it. Without a run
 * at `out`, the request is returned as it is (train then says there is nothing to resume).
 */
export async function resumeOptions(
  requested: PartialTrainOptions,
  variants: readonly Variant[] = VARIANTS,
): Promise<PartialTrainOptions> {
  // Checked here, before the saved options (which say force: false) replace the request's.
  if (requested.force === true) throw RESUME_AND_FORCE;
  const out = requested.out ?? resolveTrainOptions({ ...requested, resume: false }, variants).out;
  // No run there: returned as it is, and train says there is nothing to resume.
  if ((await pathKind(join(out, CONFIG)).catch(() => 'none')) !== 'other') return requested;
  const saved = (await readRunConfig(out, variants)).options;
  const difference = configDifference(saved, requested);
  if (difference !== undefined) throw resumeMismatch(difference);
  return { ...saved, epochs: requested.epochs ?? saved.epochs, out, resume: true, force: false };
}

/**
 * Checks `--out` before any work: a file is refused; an existing run is
 * refused unless resumed (its config is returned) or forced (its files are
 * removed, nothing else); a non-empty directory that holds no run is refused
 * unless forced, so that nothing a user keeps there is overwritten.
 */
export async function prepareRunDir(
  options: TrainOptions,
  variants: readonly Variant[] = VARIANTS,
): Promise<RunConfig | undefined> {
  const { out } = options;
  await requireDirectoryPath('--out', out);
  const hasRun = (await pathKind(join(out, CONFIG))) === 'other';
  if (options.resume) {
    if (!hasRun) {
      throw new UsageError(
        `--resume: ${out} holds no run (no ${CONFIG}); drop --resume to start one.`,
      );
    }
    return readRunConfig(out, variants);
  }
  if (hasRun && !options.force) {
    throw new UsageError(
      `--out ${out} already holds a run; pass --resume to continue it, --force to start it over, or another --out.`,
    );
  }
  if (!hasRun && !options.force && (await pathKind(out)) === 'directory') {
    const entries = await readdir(out);
    if (entries.length > 0) {
      const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? ', …' : '');
      throw new UsageError(
        `--out ${out} is not empty (${shown}) and holds no complete run (no ${CONFIG}); pass a new or empty directory, or --force to train there (replacing any run files in it).`,
      );
    }
  }
  await makeOutputDirectory('--out', out);
  if (options.force) {
    for (const name of RUN_FILES) await rm(join(out, name), { recursive: true, force: true });
  }
  return undefined;
}

/** A write into the run directory; a full disk is the one-line error naming --out. */
async function write(out: string, name: string, text: string, append = false): Promise<void> {
  try {
    await (append ? appendFile(join(out, name), text) : writeFileAtomic(join(out, name), text));
  } catch (error) {
    if (isDiskFull(error)) {
      throw await diskFullError('--out', out, name, Buffer.byteLength(text), error);
    }
    throw error;
  }
}

export const writeConfig = (out: string, config: RunConfig): Promise<void> =>
  write(out, CONFIG, `${toJson(config, 2)}\n`);

export const writeSummary = (out: string, summary: TrainSummary): Promise<void> =>
  write(out, SUMMARY, `${toJson(summary, 2)}\n`);

/** Removes summary.json: the run is being extended, so it is not complete. */
export const removeSummary = (out: string): Promise<void> =>
  rm(join(out, SUMMARY), { force: true });

/** A JSON run file read and checked against its schema; undefined when it does not exist. */
async function readChecked<T>(dir: string, name: string, schema: object): Promise<T | undefined> {
  const path = join(dir, name);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT') return undefined;
    throw new UsageError(
      `${path} cannot be read (${code ?? String(error)}); check its permissions.`,
      {
        cause: error,
      },
    );
  }
  return validated<T>(schema, parseJson(text, path, FIX), path, FIX);
}

/** A run's `summary.json`, checked (undefined: the run has not completed). */
export async function readSummary(out: string): Promise<TrainSummary | undefined> {
  const summary = await readChecked<TrainSummary>(out, SUMMARY, summarySchema);
  return (
    summary && {
      ...summary,
      finalTestLoss: readNumber(summary.finalTestLoss),
      finalTrainLoss: readNumber(summary.finalTrainLoss),
    }
  );
}

/** A run's `diverged.json`, checked (undefined: it has not diverged). */
export async function readDivergence(out: string): Promise<Divergence | undefined> {
  const divergence = await readChecked<Divergence>(out, DIVERGED, divergenceSchema);
  return divergence && { ...divergence, loss: readNumber(divergence.loss) };
}

export const writeDivergence = (out: string, divergence: Divergence): Promise<void> =>
  write(out, DIVERGED, `${toJson(divergence, 2)}\n`);

/** Starts a run's metrics.jsonl, empty. */
export const createMetrics = (out: string): Promise<void> => write(out, METRICS, '');

/**
 * Appends one epoch's line. One `write` of a whole line: a crash leaves the
 * file as it was or with (part of) the line, which `resumeMetrics` handles.
 */
export const appendMetrics = (out: string, metrics: EpochMetrics): Promise<void> =>
  write(out, METRICS, `${toJson(metrics)}\n`, true);

/** metrics.jsonl read: every complete line checked, with the byte offset after it. */
interface MetricsFile {
  readonly path: string;
  readonly lines: { readonly metrics: EpochMetrics; readonly end: number }[];
  /** A last line without its newline (a crash mid-append): 1-based line number and bytes. */
  readonly partial?: { readonly line: number; readonly bytes: Uint8Array };
  readonly size: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** One line of metrics.jsonl, checked (UTF-8, JSON, schema, epoch = line number) and decoded. */
function parseMetricsLine(bytes: Uint8Array, path: string, line: number): EpochMetrics {
  const where = `${path} line ${line}`;
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (error) {
    throw new UsageError(`${where} is not valid UTF-8 text; ${FIX}`, { cause: error });
  }
  const value = validated<EpochMetrics>(
    epochMetricsSchema,
    parseJson(text, where, FIX),
    where,
    FIX,
  );
  if (value.epoch !== line) {
    throw new UsageError(
      `${where}: field 'epoch' is ${value.epoch}, expected ${line} (line n is epoch n); ${FIX}`,
    );
  }
  const hessian = value.hessian
    ? Object.fromEntries(
        Object.entries(value.hessian).map(([k, e]) => [
          k,
          { estimate: readNumber(e.estimate), standardError: readNumber(e.standardError) },
        ]),
      )
    : undefined;
  return {
    ...value,
    trainLoss: readNumber(value.trainLoss),
    testLoss: readNumber(value.testLoss),
    ...(hessian && { hessian }),
  };
}

async function readMetricsFile(out: string): Promise<MetricsFile> {
  const path = join(out, METRICS);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return { path, lines: [], size: 0 };
    throw error;
  }
  const lines: MetricsFile['lines'][number][] = [];
  let start = 0;
  while (start < bytes.length) {
    const newline = bytes.indexOf(10, start);
    if (newline === -1) {
      return {
        path,
        lines,
        partial: { line: lines.length + 1, bytes: bytes.subarray(start) },
        size: bytes.length,
      };
    }
    const metrics = parseMetricsLine(bytes.subarray(start, newline), path, lines.length + 1);
    lines.push({ metrics, end: newline + 1 });
    start = newline + 1;
  }
  return { path, lines, size: bytes.length };
}

/**
 * The complete lines of metrics.jsonl, each checked against its schema (a
 * trailing partial line, from a crash mid-append, is left out); a bad line is
 * a one-line error naming the file and line.
 */
export async function readMetrics(out: string): Promise<EpochMetrics[]> {
  return (await readMetricsFile(out)).lines.map((l) => l.metrics);
}

/**
 * On resume: the metrics of the `epochs` epochs the checkpoint has completed.
 * Lines after them (written after their epoch's checkpoint, and about to be
 * written again) are cut off the end of the file; nothing before is ever
 * rewritten. A line that does not parse is refused, naming it; a missing
 * epoch is refused, unless it is the last line written whole but for its
 * newline, which is then completed.
 */
export async function resumeMetrics(out: string, epochs: number): Promise<EpochMetrics[]> {
  const file = await readMetricsFile(out);
  if (file.lines.length >= epochs) {
    const end = epochs === 0 ? 0 : file.lines[epochs - 1]!.end;
    if (end < file.size) await truncate(file.path, end);
    return file.lines.slice(0, epochs).map((l) => l.metrics);
  }
  const { partial } = file;
  if (partial && partial.line === epochs && file.lines.length === epochs - 1) {
    let last: EpochMetrics | undefined;
    try {
      last = parseMetricsLine(partial.bytes, file.path, partial.line);
    } catch {
      last = undefined;
    }
    if (last) {
      await appendFile(file.path, '\n');
      return [...file.lines.map((l) => l.metrics), last];
    }
  }
  throw new UsageError(
    `${file.path}: ${partial ? `line ${partial.line} is cut short` : `has ${file.lines.length} epochs`}, but the checkpoint has completed ${epochs}; the missing epochs' metrics cannot be recomputed: ${FIX}`,
  );
}
