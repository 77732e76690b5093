import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rename as renameDir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { initBackend } from '@usam/backend';
import { createModel, forward } from '@usam/models';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { exitCodeFor, RunError } from '../cli/errors';
import {
  checkpointDir,
  emptySums,
  loadCheckpoint,
  type Progress,
  readProgress,
  saveCheckpoint,
} from './checkpoint';
import { createOptimizer } from './optimizer';
import { encodeState } from './optimizer-state';
import { resolveTrainOptions } from './options';

/**
 * Faults injected into node:fs/promises: the `at`-th mutating call (open for
 * writing, a write, rename, rm, mkdir…) "kills the process": it and every
 * later one throws, a write first writing half its data. `shortWrite` makes
 * every write to a matching path write half and report success (what
 * write-file-atomic 8 did on a full disk); `noSpace` makes it write half and
 * throw ENOSPC.
 */
const fault = vi.hoisted(() => ({
  at: Number.POSITIVE_INFINITY,
  calls: 0,
  shortWrite: '',
  noSpace: '',
}));
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const crash = () => {
    fault.calls++;
    if (fault.calls >= fault.at) throw new Error('simulated crash');
  };
  const half = (data: string | Uint8Array) =>
    typeof data === 'string' ? data.slice(0, data.length >> 1) : data.subarray(0, data.length >> 1);
  const mutating =
    <A extends unknown[], R>(f: (...args: A) => Promise<R>) =>
    async (...args: A) => {
      crash();
      return f(...args);
    };
  return {
    ...actual,
    rename: mutating(actual.rename),
    rm: mutating(actual.rm),
    mkdir: mutating(actual.mkdir),
    truncate: mutating(actual.truncate),
    appendFile: mutating(actual.appendFile),
    writeFile: mutating(actual.writeFile),
    open: async (path: string, flags?: string, mode?: number) => {
      const handle = await actual.open(path, flags, mode);
      if (flags !== 'w' && flags !== 'a') return handle;
      const writeFile = handle.writeFile.bind(handle);
      handle.writeFile = async (data: string | Uint8Array) => {
        fault.calls++;
        if (fault.calls >= fault.at) {
          await writeFile(half(data));
          throw new Error('simulated crash');
        }
        if (fault.noSpace !== '' && path.endsWith(fault.noSpace)) {
          await writeFile(half(data));
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), {
            code: 'ENOSPC',
          });
        }
        return writeFile(
          fault.shortWrite !== '' && path.endsWith(fault.shortWrite) ? half(data) : data,
        );
      };
      return handle;
    },
  };
});

const options = resolveTrainOptions({
  dataset: 'mnist',
  optimizer: 'frob-sam', // random perturbations: the RNG position is part of the state
  out: 'unused',
});

/** A small model and its optimizer, as train() builds them. */
function build(): { model: LayersModel; optimizer: ReturnType<typeof createOptimizer> } {
  const model = createModel('mlp', { inputShape: [4], numClasses: 3, width: 0.05, seed: 1 });
  const optimizer = createOptimizer(options, model, () => []);
  return { model, optimizer };
}

const xs = () => tf.tensor2d([0.1, -0.2, 0.3, 0.5, 1, 0, -1, 0.25], [2, 4]);
const ys = () => tf.oneHot(tf.tensor1d([0, 2], 'int32'), 3);

async function step(built: ReturnType<typeof build>): Promise<void> {
  const [x, y] = [xs(), ys()];
  await built.optimizer.step(
    () =>
      tf.tidy(
        () =>
          tf.losses.softmaxCrossEntropy(
            y,
            forward(built.model, x, { training: true }),
          ) as tf.Scalar,
      ),
    { epoch: 0 },
  );
  tf.dispose([x, y]);
}

const progressAt = (epoch: number): Progress => ({
  epoch,
  step: 0,
  globalStep: 10 * epoch,
  dataOrder: { seed: 0, epoch, batch: 0 },
  partial: emptySums(),
  seconds: epoch,
});

/** What a checkpoint must give back: the weights and the optimizer's encoded state. */
async function snapshot(built: ReturnType<typeof build>) {
  const state = await encodeState(built.optimizer);
  return {
    weights: built.model.weights.map((w) => Array.from(w.read().dataSync())),
    json: state.json,
    data: Buffer.from(state.data).toString('base64'),
  };
}

/** Resumes the run in `run` into a fresh model: its progress epoch and state. */
async function resume(run: string) {
  const fresh = build();
  try {
    const progress = await loadCheckpoint(run, fresh.model, fresh.optimizer);
    return { epoch: progress.epoch, state: await snapshot(fresh) };
  } finally {
    fresh.optimizer.dispose();
    fresh.model.dispose();
  }
}

beforeAll(async () => {
  await initBackend('cpu');
});

afterEach(() => {
  Object.assign(fault, { at: Number.POSITIVE_INFINITY, calls: 0, shortWrite: '', noSpace: '' });
});

/** Saves with the `at`-th mutating call crashing; whether it crashed. */
async function saveCrashingAt(
  at: number,
  run: string,
  built: ReturnType<typeof build>,
  progress: Progress,
): Promise<boolean> {
  Object.assign(fault, { at, calls: 0 });
  try {
    await saveCheckpoint(run, built.model, built.optimizer, progress);
    return false;
  } catch (error) {
    expect((error as Error).message).toBe('simulated crash');
    return true;
  } finally {
    fault.at = Number.POSITIVE_INFINITY;
  }
}

describe('saveCheckpoint survives a crash at any point, twice in a row', () => {
  it('every crash point of a save, then every crash point of the resumed run’s first save', async () => {
    const root = await mkdtemp(join(tmpdir(), 'usam-ckpt-crash-'));
    const built = build();
    const states: Awaited<ReturnType<typeof snapshot>>[] = [];
    // The states at epochs 1, 2, 3, saved once without faults to know them.
    const prepare = async () => {
      for (let epoch = 1; epoch <= 3; epoch++) {
        await step(built);
        states[epoch] = await snapshot(built);
      }
    };
    await prepare();
    const setState = async (epoch: number, into: ReturnType<typeof build>) => {
      const scratch = join(root, `state-${epoch}`);
      if (!existsSync(scratch)) {
        const b = build();
        for (let e = 1; e <= epoch; e++) await step(b);
        expect(await snapshot(b)).toEqual(states[epoch]);
        await saveCheckpoint(scratch, b.model, b.optimizer, progressAt(epoch));
        b.optimizer.dispose();
        b.model.dispose();
      }
      await loadCheckpoint(scratch, into.model, into.optimizer);
    };
    let cases = 0;
    for (let first = 1; ; first++) {
      const run = join(root, `run-${first}`);
      const a = build();
      await setState(1, a);
      await saveCheckpoint(run, a.model, a.optimizer, progressAt(1));
      await setState(2, a);
      const crashed = await saveCrashingAt(first, run, a, progressAt(2));
      a.optimizer.dispose();
      a.model.dispose();
      const afterFirst = await resume(run);
      expect([1, 2]).toContain(afterFirst.epoch);
      expect(afterFirst.state).toEqual(states[afterFirst.epoch]);
      if (!crashed) {
        expect(afterFirst.epoch).toBe(2);
        break;
      }
      for (let second = 1; ; second++) {
        // Copy the crashed run, resume it, and crash its first save at `second`.
        const copy = join(root, `run-${first}-${second}`);
        await copyDir(run, copy);
        const b = build();
        const resumed = await loadCheckpoint(copy, b.model, b.optimizer);
        expect(resumed.epoch).toBe(afterFirst.epoch);
        await setState(resumed.epoch + 1, b);
        const again = await saveCrashingAt(second, copy, b, progressAt(resumed.epoch + 1));
        b.optimizer.dispose();
        b.model.dispose();
        const afterSecond = await resume(copy);
        cases++;
        expect(
          [resumed.epoch, resumed.epoch + 1],
          `crash at mutation ${first}, then at ${second}`,
        ).toContain(afterSecond.epoch);
        expect(afterSecond.state).toEqual(states[afterSecond.epoch]);
        await rm(copy, { recursive: true, force: true });
        if (!again) {
          expect(afterSecond.epoch).toBe(resumed.epoch + 1);
          break;
        }
      }
    }
    expect(cases).toBeGreaterThan(100);
    built.optimizer.dispose();
    built.model.dispose();
  }, 300_000);
});

async function copyDir(from: string, to: string): Promise<void> {
  const { cp } = await vi.importActual<typeof import('node:fs/promises')>('node:fs/promises');
  await cp(from, to, { recursive: true });
}

describe('a full disk', () => {
  it.each([
    ['throws ENOSPC mid-write', 'noSpace'],
    ['writes short and reports success', 'shortWrite'],
  ] as const)(
    'that %s: one line naming --out and the space needed; the previous checkpoint stays live',
    async (_, kind) => {
      const run = await mkdtemp(join(tmpdir(), 'usam-ckpt-full-'));
      const built = build();
      await step(built);
      const first = await snapshot(built);
      await saveCheckpoint(run, built.model, built.optimizer, progressAt(1));
      await step(built);
      fault[kind] = 'optimizer.bin';
      const error = await saveCheckpoint(run, built.model, built.optimizer, progressAt(2)).catch(
        (e: Error) => e,
      );
      fault[kind] = '';
      expect(error).toBeInstanceOf(Error);
      expect(RunError.isInstance(error)).toBe(true);
      expect(exitCodeFor(error)).toBe(1); // not a usage error
      expect((error as Error).message).toMatch(
        new RegExp(
          `^--out '${run}': no space left on the device writing a checkpoint \\(needs [\\d.]+ kB.*\\); free space or pass another --out, then rerun\\. The previous checkpoint is intact\\.$`,
        ),
      );
      expect((await readdir(run)).sort()).toEqual(['checkpoint']);
      const resumed = await resume(run);
      expect(resumed.epoch).toBe(1);
      expect(resumed.state).toEqual(first);
      built.optimizer.dispose();
      built.model.dispose();
    },
  );
});

describe('a checkpoint is read only when its manifest verifies', () => {
  const corruptions = [
    [
      'a flipped byte in optimizer.bin',
      'optimizer.bin',
      (b: Buffer) => {
        b[b.length >> 1]! ^= 0x10;
        return b;
      },
    ],
    [
      'an edited RNG in optimizer.json',
      'optimizer.json',
      (b: Buffer) =>
        Buffer.from(
          b
            .toString('utf8')
            .replace(
              /"rng":\s*\{[^}]*?(\d)/,
              (m, d: string) => m.slice(0, -1) + String((Number(d) + 1) % 10),
            ),
        ),
    ],
    [
      'progress.json at another step',
      'progress.json',
      (b: Buffer) => Buffer.from(b.toString('utf8').replace('"step": 0', '"step": 3')),
    ],
    ['a truncated model weights file', 'model/weights', (b: Buffer) => b.subarray(0, 100)],
  ] as const;
  it.each(corruptions)('%s is refused, naming the file', async (_, file, corrupt) => {
    const run = await mkdtemp(join(tmpdir(), 'usam-ckpt-bad-'));
    const built = build();
    await step(built);
    await saveCheckpoint(run, built.model, built.optimizer, progressAt(1));
    const dir = join(run, 'checkpoint');
    const path = file.startsWith('model/')
      ? join(
          dir,
          'model',
          (await readdir(join(dir, 'model'))).find((f) => f.startsWith('weights-'))!,
        )
      : join(dir, file);
    const before = readFileSync(path);
    const after = corrupt(Buffer.from(before));
    expect(after.equals(before)).toBe(false);
    writeFileSync(path, after);
    const fresh = build();
    await expect(loadCheckpoint(run, fresh.model, fresh.optimizer)).rejects.toThrow(
      /has no complete checkpoint to resume from \(checkpoint\/: .* (does not match its checksum \(the file was changed\)|has \d+ bytes, the manifest says \d+)\); start the run over with --force\.$/,
    );
    expect(await checkpointDir(run)).toBeUndefined();
    await expect(readProgress(dir)).rejects.toThrow(/is not a complete checkpoint/);
    // Nothing was deleted on the way.
    expect(readFileSync(path).equals(after)).toBe(true);
    for (const b of [built, fresh]) {
      b.optimizer.dispose();
      b.model.dispose();
    }
  });

  it('a checkpoint from before manifests (none there) is refused, not trusted', async () => {
    const run = await mkdtemp(join(tmpdir(), 'usam-ckpt-legacy-'));
    const built = build();
    await saveCheckpoint(run, built.model, built.optimizer, progressAt(1));
    await rm(join(run, 'checkpoint', 'manifest.json'));
    await expect(loadCheckpoint(run, built.model, built.optimizer)).rejects.toThrow(
      'checkpoint/: it has no manifest.json',
    );
    built.optimizer.dispose();
    built.model.dispose();
  });

  it('prefers a complete checkpoint.new over checkpoint/ (a save that died before its renames)', async () => {
    const run = await mkdtemp(join(tmpdir(), 'usam-ckpt-new-'));
    const built = build();
    await saveCheckpoint(run, built.model, built.optimizer, progressAt(1));
    const older = join(run, 'older');
    await renameDir(join(run, 'checkpoint'), older);
    await step(built);
    await saveCheckpoint(run, built.model, built.optimizer, progressAt(2));
    await renameDir(join(run, 'checkpoint'), join(run, 'checkpoint.new'));
    await renameDir(older, join(run, 'checkpoint'));
    expect(await checkpointDir(run)).toBe(join(run, 'checkpoint.new'));
    expect((await resume(run)).epoch).toBe(2);
    expect((await readdir(run)).sort()).toEqual(['checkpoint']);
    built.optimizer.dispose();
    built.model.dispose();
  });
});
