import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RunError } from '../cli/errors';
import { pathKind } from '../cli/files';
import { isCompleted, mergePlans, PLAN_FILE, RUNS_DIR, readPlan } from '../report/collect';
import { hasCheckpoint } from '../train/checkpoint';
import {
  type BACKEND_CHOICES,
  type EpochMetrics,
  resolveTrainOptions,
  type StepInfo,
  type TrainHooks,
  train,
} from '../train/index';
import {
  DIVERGED,
  type Divergence,
  readDivergence,
  readSummary,
  writeDivergence,
} from '../train/run-dir';
import { EtaModel } from './eta';
import { acquireLock, describeHolder } from './lock';
import type { Plan, PlannedRun, RunSettings } from './plan';
import { writeJson } from './results';
import type { RunHooks, RunOutcome, TrainedRun } from './run-types';
import { type Shard, shardRuns } from './shard';

/** What reproduce needs of `usam train`'s `train()`: one run into `out`, resumable. */
export type Trainer = (
  options: RunSettings & {
    out: string;
    resume?: boolean;
    force?: boolean;
    backend?: (typeof BACKEND_CHOICES)[number];
    dataDir?: string;
  },
  hooks: TrainHooks,
) => Promise<unknown>;

/** `usam train` itself: the options resolved and validated as the command does. */
export const usamTrain: Trainer = (options, hooks) => train(resolveTrainOptions(options), hooks);

export type { RunHooks, RunOutcome, TrainedRun };

/**
 * Written into a run directory when it diverged: by `usam train` (most of an
 * epoch's steps refused), or here when its training loss left every sane range
 * (see `DIVERGED_LOSS`). The run stopped there and is reported as diverged,
 * never averaged in. A rerun leaves it (the same seed diverges the same way).
 */
export const DIVERGED_FILE = DIVERGED;

/**
 * A minibatch cross-entropy above this (or not finite) counts as divergence:
 * 10 classes start at ln 10 ≈ 2.3, and a loss of 23 means the model puts
 * e⁻²³ on the true class on average: it has blown up, it is not learning.
 */
export const DIVERGED_LOSS = 10 * Math.log(10);

export { type Divergence, readDivergence };

const firstLine = (error: unknown) =>
  (error instanceof Error ? error.message : String(error)).split('\n')[0]!;

/** Progress of a shard, for the progress line and its ETA. */
export interface ShardProgress {
  readonly run: PlannedRun;
  /** 1-based position of `run` in the shard. */
  readonly position: number;
  readonly total: number;
  /** The epoch just finished. */
  readonly epoch?: EpochMetrics;
  readonly outcome?: RunOutcome;
  /** Why the run failed (its error's first line). */
  readonly error?: string;
  /** Seconds since the shard started. */
  readonly elapsed: number;
  /** Seconds left, from the modelled cost of the work left and the rate so far. */
  readonly eta?: number;
  /** Runs training at this moment (several with `jobs` > 1). */
  readonly active?: number;
  /** The worker slot (0-based) training `run`, with `jobs` > 1. */
  readonly slot?: number;
  /** The step just finished. */
  readonly step?: StepInfo;
  /** The process id of the worker training `run`, with `jobs` > 1. */
  readonly pid?: number;
}

export interface RunShardOptions {
  readonly out: string;
  readonly plan: Plan;
  readonly shard: Shard;
  readonly trainer: Trainer;
  readonly backend?: (typeof BACKEND_CHOICES)[number];
  /** Where the datasets' official files are (a machine's setting, not part of the plan). */
  readonly dataDir?: string;
  readonly signal?: AbortSignal;
  /**
   * Runs trained at once. 1 (the default): one after another in this process
   * with `trainer`. More: in that many worker processes (`usam train` each,
   * one wasm thread each), the same results (docs/reproduce-jobs.md).
   */
  readonly jobs?: number;
  /** Each run's training hooks, and the shard's progress (after each step, epoch and run). */
  readonly hooks?: Omit<TrainHooks, 'signal'> & {
    onProgress?(progress: ShardProgress): void;
  };
}

/**
 * Writes `plan.json` into `out`, merged with the plan already there (a second
 * invocation adding experiments); a different profile is refused.
 */
export async function writePlan(out: string, plan: Plan): Promise<Plan> {
  return withOutputLock(out, 'its plan', async () => {
    const merged =
      (await pathKind(join(out, PLAN_FILE))) === 'other'
        ? mergePlans([
            { dir: out, plan: await readPlan(out) },
            { dir: 'this invocation', plan },
          ])
        : plan;
    await writeJson(join(out, PLAN_FILE), merged);
    return merged;
  });
}

/**
 * Runs `f` holding the output directory's lock (`plan.json.lock`): two
 * invocations into one `--out` (`-e table2` and `-e table3` at once) merge
 * their plans one after the other, and write their reports one at a time,
 * each from the merged plan (docs/run-directory.md, "Locks").
 */
export async function withOutputLock<T>(
  out: string,
  what: string,
  f: () => Promise<T>,
): Promise<T> {
  await mkdir(out, { recursive: true });
  const lock = await acquireLock(join(out, PLAN_FILE), { wait: 600_000 });
  if (!lock.acquired) {
    throw new RunError(
      `--out '${out}': ${describeHolder(lock.holder)} has held its plan lock for 10 minutes, so ${what} cannot be written; wait for that usam reproduce to finish, then rerun.`,
    );
  }
  try {
    return await f();
  } finally {
    await lock.release();
  }
}

/**
 * Trains one run into `dir` (the caller holds its lock): resumes from the
 * checkpoint when there is one, starts over when train cannot resume it, and
 * stops at the first step whose loss is not finite or above `DIVERGED_LOSS`,
 * writing `diverged.json`. Throws when training fails or `signal` aborts.
 */
export async function trainRun(
  run: PlannedRun,
  dir: string,
  options: {
    readonly trainer: Trainer;
    readonly backend?: (typeof BACKEND_CHOICES)[number];
    readonly dataDir?: string;
    readonly signal?: AbortSignal;
  },
  hooks: RunHooks = {},
): Promise<TrainedRun> {
  // Resume from the checkpoint when there is one; otherwise (never started, or
  // died before its first checkpoint) start over.
  const resume = await hasCheckpoint(dir);
  let started = false;
  let divergence: Divergence | undefined;
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const train = (mode: { resume: true } | { force: true }) =>
    options.trainer(
      {
        ...run.settings,
        out: dir,
        ...mode,
        ...(options.backend ? { backend: options.backend } : {}),
        ...(options.dataDir ? { dataDir: options.dataDir } : {}),
      },
      {
        signal,
        onStart: (info) => {
          started = true;
          hooks.onStart?.(info);
        },
        onStep: (info) => {
          if (!divergence && !(Math.abs(info.loss) <= DIVERGED_LOSS)) {
            divergence = { epoch: info.epoch, step: info.step, loss: info.loss };
            stop.abort();
          }
          hooks.onStep?.(info);
        },
        onEpoch: (metrics) => hooks.onEpoch?.(metrics),
        onPhase: (phase) => hooks.onPhase?.(phase),
      },
    );
  let outcome: TrainedRun['outcome'] = resume ? 'resumed' : 'trained';
  try {
    await train(resume ? { resume: true } : { force: true });
  } catch (error) {
    // A checkpoint train cannot resume exactly (e.g. an optimizer without
    // savable state) is refused before the first step: the run starts over.
    if (!resume || started || signal.aborted) throw error;
    hooks.onNote?.(`cannot resume (${firstLine(error)}); starting over`);
    outcome = 'restarted';
    await train({ force: true });
  }
  options.signal?.throwIfAborted();
  if (divergence) {
    await mkdir(dir, { recursive: true });
    await writeDivergence(dir, divergence);
    return { outcome: 'diverged', divergence };
  }
  // usam train stopped it itself (most of an epoch's steps refused): it wrote diverged.json.
  const own = await readDivergence(dir);
  if (own) return { outcome: 'diverged', divergence: own };
  return { outcome };
}

/** Whether a run needs no more training: finished, or stopped on divergence. */
export async function isSettled(dir: string): Promise<boolean> {
  return (await isCompleted(dir)) || (await readDivergence(dir)) !== undefined;
}

/**
 * Runs this shard's part of the plan, one `usam train` run directory per run
 * under `out/runs/`: a finished run (summary.json completed, or diverged.json)
 * is skipped, an unfinished one resumed from its checkpoint. Each run is locked
 * by this process while it trains (`<run>.lock` and `<run>.lock.json`: pid,
 * host, heartbeat; a holder gone from this host is taken over at once, one
 * elsewhere after 2 min without a heartbeat: ./lock.ts), so shards that
 * overlap, or one shard started twice, never write into one run directory at
 * the same time. With `jobs` > 1 the runs train in worker processes (this
 * process holds their locks: a killed worker's run is free to resume at once).
 */
export async function runShard(options: RunShardOptions): Promise<Map<string, RunOutcome>> {
  const jobs = options.jobs ?? 1;
  // Several at once: the costliest first, so that the workers finish together.
  const planned = shardRuns(options.plan.runs, options.shard);
  const runs = jobs > 1 ? [...planned].sort((a, b) => b.cost - a.cost) : planned;
  const outcomes = new Map<string, RunOutcome>();
  const started = performance.now();
  const eta = new EtaModel();
  for (const r of runs) eta.plan(r.id, r.cost, r.settings.patience !== undefined);
  const active = new Set<string>();
  const report = (
    run: PlannedRun,
    position: number,
    slot: number,
    extra: Partial<ShardProgress>,
  ) => {
    const elapsed = (performance.now() - started) / 1000;
    options.hooks?.onProgress?.({
      run,
      position,
      total: runs.length,
      elapsed,
      eta: eta.eta(elapsed),
      active: active.size,
      ...(jobs > 1 && { slot }),
      ...extra,
    });
  };
  const runsDir = join(options.out, RUNS_DIR);
  await mkdir(runsDir, { recursive: true });
  const pool = jobs > 1 ? await import('./pool').then((m) => m.startPool(jobs)) : undefined;

  let next = 0;
  let finishedCount = 0;
  const worker = async (slot: number) => {
    while (next < runs.length) {
      options.signal?.throwIfAborted();
      const i = next++;
      const run = runs[i]!;
      const dir = join(runsDir, run.id);
      const finish = (outcome: RunOutcome, error?: string, stoppedEarly = false) => {
        outcomes.set(run.id, outcome);
        const trained = outcome !== 'skipped' && outcome !== 'busy' && outcome !== 'failed';
        eta.finish(run.id, !trained ? 'none' : stoppedEarly ? 'stopped-early' : 'trained');
        active.delete(run.id);
        finishedCount++;
        report(run, finishedCount, slot, { outcome, error });
      };
      if (await isSettled(dir)) {
        finish('skipped');
        continue;
      }
      // A live holder (another shard, the same command twice) keeps the run; a dead one
      // (its pid gone on this host, or no heartbeat for 2 min) is taken over at once.
      const lock = await acquireLock(dir);
      if (!lock.acquired) {
        finish('busy', describeHolder(lock.holder));
        continue;
      }
      const release = lock.release;
      if (lock.tookOver) {
        report(run, finishedCount + 1, slot, {
          error: `took over the lock of ${describeHolder(lock.tookOver)}, which is gone; resuming`,
        });
      }
      try {
        // Checked again under the lock: another process may have finished it meanwhile.
        if (await isSettled(dir)) {
          finish('skipped');
          continue;
        }
        active.add(run.id);
        let stepCost = 0;
        const position = finishedCount + 1;
        let pid: number | undefined;
        const at = (extra: Partial<ShardProgress>) =>
          report(run, position, slot, { ...(pid !== undefined && { pid }), ...extra });
        const hooks: RunHooks = {
          onWorker: (id) => {
            pid = id;
          },
          onStart: (info) => {
            stepCost = run.cost / (run.settings.epochs * info.stepsPerEpoch);
            eta.start(run.id, (info.epoch * info.stepsPerEpoch + info.step) * stepCost);
            if (!pool) options.hooks?.onStart?.(info);
            at({});
          },
          onStep: (info) => {
            eta.step(run.id, stepCost);
            if (!pool) options.hooks?.onStep?.(info);
            at({ step: info });
          },
          onEpoch: (metrics) => {
            if (!pool) options.hooks?.onEpoch?.(metrics);
            at({ epoch: metrics });
          },
          onPhase: (phase) => {
            if (!pool) options.hooks?.onPhase?.(phase);
          },
          onNote: (note) => at({ error: note }),
        };
        let result: TrainedRun;
        try {
          result = pool
            ? await pool.train(
                { run, dir, backend: options.backend, dataDir: options.dataDir },
                hooks,
                options.signal,
              )
            : await trainRun(run, dir, options, hooks);
        } catch (error) {
          // One run failing does not stop the sweep; it has no summary.json, so a
          // rerun tries it again (from its checkpoint).
          options.signal?.throwIfAborted();
          finish('failed', firstLine(error));
          continue;
        }
        options.signal?.throwIfAborted();
        const text = result.divergence
          ? `loss ${result.divergence.loss} at epoch ${result.divergence.epoch}, step ${result.divergence.step}`
          : undefined;
        // The stopping rule's verdict is in summary.json (a diverged run has none).
        const stoppedEarly = result.divergence
          ? undefined
          : (await readSummary(dir).catch(() => undefined))?.stoppedEarly;
        finish(result.outcome, text, stoppedEarly !== undefined);
      } finally {
        await release();
      }
    }
  };
  // allSettled: on an abort every slot still waits for its run's checkpoint and lock release.
  const slots = await Promise.allSettled(
    Array.from({ length: Math.min(jobs, runs.length) }, (_, k) => worker(k)),
  );
  await pool?.close();
  const failure = slots.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) throw failure.reason;
  return outcomes;
}
