import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { loadWeights, saveModel } from '@usam/models/node';
import type { SharpnessAwareOptimizer } from '@usam/optimizer';
import { UsageError } from '../cli/errors';
import {
  diskFullError,
  freeBytes,
  isDiskFull,
  pathKind,
  syncDirectory,
  writeFileSynced,
} from '../cli/files';
import { encodeState, restoreState } from './optimizer-state';
import { progressSchema } from './schema';
import { readNumber, toJson, validated } from './validate';

/** Where training stands: enough, with the weights and optimizer state, to continue exactly. */
export interface Progress {
  /** The epoch in progress, 0-based (= epochs completed when `step` is 0). */
  readonly epoch: number;
  /** Steps (batches) of that epoch already taken. */
  readonly step: number;
  /** Steps taken since the start of the run. */
  readonly globalStep: number;
  /**
   * The data order: batches are drawn from (seed, epoch) alone (@usam/datasets),
   * so the position in the epoch's order is this state.
   */
  readonly dataOrder: { readonly seed: number; readonly epoch: number; readonly batch: number };
  /** Sums over the epoch's steps so far, so its metrics come out as without interruption. */
  readonly partial: EpochSums;
  /** Seconds spent in the run so far (all sessions). */
  readonly seconds: number;
}

/** Running sums over one epoch's training steps. */
export interface EpochSums {
  lossSum: number;
  correct: number;
  examples: number;
  gradientEvaluations: number;
  refusedSteps: number;
  seconds: number;
}

/** The sums before an epoch's first step. */
export const emptySums = (): EpochSums => ({
  lossSum: 0,
  correct: 0,
  examples: 0,
  gradientEvaluations: 0,
  refusedSteps: 0,
  seconds: 0,
});

const CHECKPOINT = 'checkpoint';
/** Being written; complete (and newer than `checkpoint/`) once its manifest verifies. */
const NEW = 'checkpoint.new';
/** The previous `checkpoint/`, between the two renames of a save. */
const OLD = 'checkpoint.old';
const MODEL = 'model';
const PROGRESS = 'progress.json';
const OPTIMIZER_JSON = 'optimizer.json';
const OPTIMIZER_DATA = 'optimizer.bin';
const MANIFEST = 'manifest.json';
const FORMAT = 'usam-checkpoint/1';

/** `manifest.json`: every other file of the checkpoint, with its length and SHA-256. */
interface Manifest {
  readonly format: typeof FORMAT;
  readonly files: Record<string, { readonly bytes: number; readonly sha256: string }>;
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** A checkpoint directory verified against its manifest, with its files' bytes as read. */
interface Verified {
  readonly dir: string;
  readonly files: ReadonlyMap<string, Buffer>;
}

/**
 * Reads `dir` and checks every file its manifest lists (length, then SHA-256).
 * Returns the files, or why the checkpoint is not complete (one phrase).
 */
async function verify(dir: string): Promise<Verified | { dir: string; reason: string }> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as Manifest;
  } catch (error) {
    const code = (error as { code?: string }).code;
    return {
      dir,
      reason: code === 'ENOENT' ? `it has no ${MANIFEST}` : `its ${MANIFEST} does not parse`,
    };
  }
  if (manifest?.format !== FORMAT || typeof manifest.files !== 'object' || !manifest.files) {
    return { dir, reason: `its ${MANIFEST} is not a ${FORMAT} manifest` };
  }
  const files = new Map<string, Buffer>();
  for (const [name, expected] of Object.entries(manifest.files)) {
    let bytes: Buffer;
    try {
      bytes = await readFile(join(dir, name));
    } catch {
      return { dir, reason: `${name} is missing` };
    }
    if (bytes.length !== expected.bytes) {
      return {
        dir,
        reason: `${name} has ${bytes.length} bytes, the manifest says ${expected.bytes}`,
      };
    }
    if (sha256(bytes) !== expected.sha256) {
      return { dir, reason: `${name} does not match its checksum (the file was changed)` };
    }
    files.set(name, bytes);
  }
  for (const required of [PROGRESS, OPTIMIZER_JSON, OPTIMIZER_DATA]) {
    if (!files.has(required)) return { dir, reason: `its manifest lists no ${required}` };
  }
  return { dir, files };
}

const isVerified = (v: Verified | { reason: string }): v is Verified => 'files' in v;

/** Every file under `dir`, as paths relative to it. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/**
 * The candidates in the order a save makes them newest: a verified
 * `checkpoint.new/` was written after `checkpoint/`, which was written after
 * `checkpoint.old/` (docs/run-directory.md).
 */
const CANDIDATES = [NEW, CHECKPOINT, OLD] as const;

/** The newest complete checkpoint of a run (read-only), and why the others were passed over. */
async function newest(run: string): Promise<{ best?: Verified; refused: string[] }> {
  const refused: string[] = [];
  for (const name of CANDIDATES) {
    if ((await pathKind(join(run, name))) !== 'directory') continue;
    const result = await verify(join(run, name));
    if (isVerified(result)) return { best: result, refused };
    refused.push(`${name}/: ${result.reason}`);
  }
  return { refused };
}

/**
 * Brings a run's checkpoints back to one, `checkpoint/`, after a save died at
 * any point: the newest complete one becomes `checkpoint/`, and only then is
 * anything else removed. Nothing is removed when none verifies. Each step is
 * itself safe to die in (the next call finishes the job).
 */
async function recover(run: string): Promise<{ best?: Verified; refused: string[] }> {
  const present = new Set<string>();
  for (const name of CANDIDATES) {
    if ((await pathKind(join(run, name))) === 'directory') present.add(name);
  }
  const { best, refused } = await newest(run);
  if (!best) return { refused };
  const final = join(run, CHECKPOINT);
  const old = join(run, OLD);
  const next = join(run, NEW);
  if (best.dir === next) {
    await rm(old, { recursive: true, force: true });
    if (present.has(CHECKPOINT)) await rename(final, old);
    await rename(next, final);
    await syncDirectory(run);
  } else if (best.dir === old) {
    await rm(next, { recursive: true, force: true });
    await rm(final, { recursive: true, force: true });
    await rename(old, final);
    await syncDirectory(run);
  } else {
    await rm(next, { recursive: true, force: true });
  }
  await rm(old, { recursive: true, force: true });
  return { best: { dir: final, files: best.files }, refused };
}

/** Bytes a save of this model and state takes on disk, for the disk-full check (model.json: a bound). */
const checkpointBytes = (model: LayersModel, state: { json: string; data: Uint8Array }) =>
  model.weights.reduce((n, w) => n + 4 * w.read().size, 0) +
  state.data.length +
  state.json.length +
  256 * 1024;

/**
 * Writes `<run>/checkpoint/` so that a crash (or a full disk) at any point
 * leaves the previous checkpoint or the new one complete and found
 * (docs/run-directory.md): everything goes to `checkpoint.new/`, the
 * manifest of lengths and checksums last; it is read back and verified, and
 * only then replaces `checkpoint/` by two renames. A full disk fails in one
 * line naming `--out` and the space needed, with the previous checkpoint intact.
 */
export async function saveCheckpoint(
  run: string,
  model: LayersModel,
  optimizer: SharpnessAwareOptimizer,
  progress: Progress,
): Promise<void> {
  await recover(run);
  const final = join(run, CHECKPOINT);
  const next = join(run, NEW);
  const old = join(run, OLD);
  const state = await encodeState(optimizer);
  const needed = checkpointBytes(model, state);
  const previous =
    (await pathKind(final)) === 'directory' ? ' The previous checkpoint is intact.' : '';
  const diskFull = async (cause: unknown) => {
    await rm(next, { recursive: true, force: true }).catch(() => undefined);
    const error = await diskFullError('--out', run, 'a checkpoint', needed, cause);
    error.message += previous;
    return error;
  };
  await rm(next, { recursive: true, force: true });
  const free = await freeBytes(run);
  if (free !== undefined && free < needed) throw await diskFull(undefined);
  try {
    await mkdir(next, { recursive: true });
    await saveModel(model, join(next, MODEL));
    const written = new Map<string, Uint8Array>([
      [OPTIMIZER_DATA, state.data],
      [OPTIMIZER_JSON, new TextEncoder().encode(state.json)],
      [PROGRESS, new TextEncoder().encode(`${toJson(progress, 2)}\n`)],
    ]);
    for (const [name, data] of written) await writeFileSynced(join(next, name), data);
    // The model's files are written by @usam/models: their manifest entries come
    // from reading them back (its weights file is named by its own checksum, which verify() then checks).
    const files: Manifest['files'] = {};
    for (const name of await listFiles(next)) {
      const data = written.get(name) ?? (await readFile(join(next, name)));
      files[name] = { bytes: data.length, sha256: sha256(data) };
    }
    const manifest: Manifest = { format: FORMAT, files };
    await writeFileSynced(join(next, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    await syncDirectory(next);
    const check = await verify(next);
    if (!isVerified(check)) {
      // A write that reported success but left less on disk: the disk is full.
      throw Object.assign(new Error(`checkpoint.new/ reads back wrong: ${check.reason}`), {
        code: 'ENOSPC',
      });
    }
    await loadWeightsCheck(next);
  } catch (error) {
    if (isDiskFull(error)) throw await diskFull(error);
    throw error;
  }
  if ((await pathKind(final)) === 'directory') await rename(final, old);
  await rename(next, final);
  await syncDirectory(run);
  await rm(old, { recursive: true, force: true });
}

/** The model's weights file must be named by its checksum (a short write of it shows here). */
async function loadWeightsCheck(checkpoint: string): Promise<void> {
  const dir = join(checkpoint, MODEL);
  for (const name of await readdir(dir)) {
    const hash = /^weights-([0-9a-f]{16})\.bin$/.exec(name)?.[1];
    if (hash !== undefined && sha256(await readFile(join(dir, name))).slice(0, 16) !== hash) {
      throw Object.assign(new Error(`${name} reads back wrong`), { code: 'ENOSPC' });
    }
  }
}

/**
 * The newest complete checkpoint of a run, verified against its manifest
 * (read-only: a run being trained is not touched); undefined if none.
 */
export async function checkpointDir(run: string): Promise<string | undefined> {
  return (await newest(run)).best?.dir;
}

/**
 * Whether a run has a checkpoint to resume, complete or not: one whose
 * manifest was written (a save that died before it left nothing to resume).
 * Resuming then verifies it, and refuses it if it does not verify.
 */
export async function hasCheckpoint(run: string): Promise<boolean> {
  for (const name of CANDIDATES) {
    if ((await pathKind(join(run, name, MANIFEST))) === 'other') return true;
  }
  return false;
}

/** The model directory inside a checkpoint (a `@usam/models/node` save). */
export const checkpointModelDir = (checkpoint: string): string => join(checkpoint, MODEL);

const PROGRESS_FIX = 'the checkpoint cannot be resumed: start the run over with --force.';

function parseProgress(bytes: Uint8Array, path: string): Progress {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new UsageError(`${path} is not valid JSON; ${PROGRESS_FIX}`, { cause: error });
  }
  const progress = validated<Progress>(progressSchema, value, path, PROGRESS_FIX);
  const { partial } = progress;
  if (progress.step > 0 && partial.examples === 0) {
    throw new UsageError(
      `${path}: step ${progress.step} with no examples counted; ${PROGRESS_FIX}`,
    );
  }
  return { ...progress, partial: { ...partial, lossSum: readNumber(partial.lossSum) } };
}

/** Reads a checkpoint's progress (after verifying the checkpoint). */
export async function readProgress(checkpoint: string): Promise<Progress> {
  const result = await verify(checkpoint);
  if (!isVerified(result)) {
    throw new UsageError(`${checkpoint} is not a complete checkpoint (${result.reason}).`);
  }
  return parseProgress(result.files.get(PROGRESS)!, join(checkpoint, PROGRESS));
}

/**
 * Loads the run's newest complete checkpoint (after recovering from a save
 * that died) into a freshly built model and optimizer; returns its progress.
 * Every byte read is checked against the manifest first.
 */
export async function loadCheckpoint(
  run: string,
  model: LayersModel,
  optimizer: SharpnessAwareOptimizer,
): Promise<Progress> {
  const { best, refused } = await recover(run);
  if (best === undefined) {
    const why = refused.length > 0 ? ` (${refused.join('; ')})` : '';
    throw new UsageError(
      `${run} has no complete checkpoint to resume from${why}; start the run over with --force.`,
    );
  }
  const progress = parseProgress(best.files.get(PROGRESS)!, join(best.dir, PROGRESS));
  await loadWeights(model, checkpointModelDir(best.dir));
  await restoreState(optimizer, {
    json: best.files.get(OPTIMIZER_JSON)!.toString('utf8'),
    data: new Uint8Array(best.files.get(OPTIMIZER_DATA)!),
  });
  return progress;
}
