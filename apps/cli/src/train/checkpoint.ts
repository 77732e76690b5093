import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { loadWeights, saveModel } from '@usam/models/node';
import type { SharpnessAwareOptimizer } from '@usam/optimizer';
import { UsageError } from '../cli/errors';
import { pathKind, writeFileAtomic, writeJsonAtomic } from '../cli/files';
import { encodeState, restoreState } from './optimizer-state';

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

const CHECKPOINT = 'checkpoint';
const MODEL = 'model';
const PROGRESS = 'progress.json';
const OPTIMIZER_JSON = 'optimizer.json';
const OPTIMIZER_DATA = 'optimizer.bin';

/**
 * Writes `<run>/checkpoint/` atomically: everything goes to a new directory
 * first, which then replaces the old one by two renames; a crash at any point
 * leaves a complete checkpoint (`checkpoint/`, or `checkpoint.old/` between the renames).
 */
export async function saveCheckpoint(
  run: string,
  model: LayersModel,
  optimizer: SharpnessAwareOptimizer,
  progress: Progress,
): Promise<void> {
  const final = join(run, CHECKPOINT);
  const next = `${final}.new`;
  const old = `${final}.old`;
  await rm(next, { recursive: true, force: true });
  await mkdir(next, { recursive: true });
  await saveModel(model, join(next, MODEL));
  const state = await encodeState(optimizer);
  await writeFileAtomic(join(next, OPTIMIZER_DATA), state.data);
  await writeFileAtomic(join(next, OPTIMIZER_JSON), state.json);
  await writeJsonAtomic(join(next, PROGRESS), progress);
  await rm(old, { recursive: true, force: true });
  if ((await pathKind(final)) === 'directory') await rename(final, old);
  await rename(next, final);
  await rm(old, { recursive: true, force: true });
}

/** The checkpoint directory to read: `checkpoint/`, or `checkpoint.old/` if a save died between its renames. */
export async function checkpointDir(run: string): Promise<string | undefined> {
  for (const dir of [CHECKPOINT, `${CHECKPOINT}.old`]) {
    if ((await pathKind(join(run, dir, PROGRESS))) === 'other') return join(run, dir);
  }
  return undefined;
}

/** The model directory inside a checkpoint (a `@usam/models/node` save). */
export const checkpointModelDir = (checkpoint: string): string => join(checkpoint, MODEL);

/** Reads a checkpoint's progress. */
export async function readProgress(checkpoint: string): Promise<Progress> {
  return JSON.parse(await readFile(join(checkpoint, PROGRESS), 'utf8')) as Progress;
}

/** Loads the run's checkpoint into a freshly built model and optimizer; returns its progress. */
export async function loadCheckpoint(
  run: string,
  model: LayersModel,
  optimizer: SharpnessAwareOptimizer,
): Promise<Progress> {
  const dir = await checkpointDir(run);
  if (dir === undefined) {
    throw new UsageError(
      `${run} has no checkpoint to resume from; start the run over with --force.`,
    );
  }
  await loadWeights(model, checkpointModelDir(dir));
  await restoreState(optimizer, {
    json: await readFile(join(dir, OPTIMIZER_JSON), 'utf8'),
    data: new Uint8Array(await readFile(join(dir, OPTIMIZER_DATA))),
  });
  return readProgress(dir);
}
