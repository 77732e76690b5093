import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { pathKind } from '../cli/files';
import { isCompleted, mergePlans, PLAN_FILE, RUNS_DIR, readPlan } from '../report/collect';
import { hasCheckpoint } from '../train/checkpoint';
import {
  type BACKEND_CHOICES,
  type EpochMetrics,
  resolveTrainOptions,
  type TrainHooks,
  train,
} from '../train/index';
import type { Plan, PlannedRun, RunSettings } from './plan';
import { writeJson } from './results';
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

export type RunOutcome = 'trained' | 'resumed' | 'restarted' | 'skipped' | 'busy' | 'failed';

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
  /** Each run's training hooks, and the shard's progress (after each step, epoch and run). */
  readonly hooks?: Omit<TrainHooks, 'signal'> & { onProgress?(progress: ShardProgress): void };
}

/**
 * Writes `plan.json` into `out`, merged with the plan already there (a second
 * invocation adding experiments); a different profile is refused.
 */
export async function writePlan(out: string, plan: Plan): Promise<Plan> {
  const merged =
    (await pathKind(join(out, PLAN_FILE))) === 'other'
      ? mergePlans([
          { dir: out, plan: await readPlan(out) },
          { dir: 'this invocation', plan },
        ])
      : plan;
  await writeJson(join(out, PLAN_FILE), merged);
  return merged;
}

/**
 * Runs this shard's part of the plan, one `usam train` run directory per run
 * under `out/runs/`: a finished run (summary.json completed) is skipped, an
 * unfinished one resumed from its checkpoint. Each run is locked while it trains
 * (`<run>.lock`, refreshed every 10 s and stale after 2 min, so a crashed
 * process's lock is taken over), so shards that overlap, or one shard started
 * twice, never write into one run directory at the same time.
 */
export async function runShard(options: RunShardOptions): Promise<Map<string, RunOutcome>> {
  const runs = shardRuns(options.plan.runs, options.shard);
  const outcomes = new Map<string, RunOutcome>();
  const started = performance.now();
  // Cost of the runs after each position (so the ETA is exactly 0 after the last).
  const after = runs.map((_, i) => runs.slice(i + 1).reduce((a, r) => a + r.cost, 0));
  let costDone = 0; // work done by this invocation (skipped runs count as neither)
  let costLeft = 0;
  const report = (run: PlannedRun, position: number, extra: Partial<ShardProgress>) => {
    const elapsed = (performance.now() - started) / 1000;
    const eta = costDone > 0 ? (elapsed / costDone) * costLeft : undefined;
    options.hooks?.onProgress?.({ run, position, total: runs.length, elapsed, eta, ...extra });
  };
  const runsDir = join(options.out, RUNS_DIR);
  await mkdir(runsDir, { recursive: true });
  for (const [i, run] of runs.entries()) {
    options.signal?.throwIfAborted();
    const dir = join(runsDir, run.id);
    costLeft = after[i]! + run.cost;
    let counted = 0; // of this run's cost, what the epochs trained now have booked
    const finish = (outcome: RunOutcome, error?: string) => {
      outcomes.set(run.id, outcome);
      costLeft = after[i]!;
      report(run, i + 1, { outcome, error });
    };
    if (await isCompleted(dir)) {
      finish('skipped');
      continue;
    }
    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(dir, {
        lockfilePath: `${dir}.lock`,
        realpath: false,
        stale: 120_000,
        update: 10_000,
      });
    } catch (error) {
      if ((error as { code?: string }).code !== 'ELOCKED') throw error;
      finish('busy');
      continue;
    }
    try {
      // Checked again under the lock: another process may have finished it meanwhile.
      if (await isCompleted(dir)) {
        finish('skipped');
        continue;
      }
      // Resume from the checkpoint when there is one; otherwise (never started, or
      // died before its first checkpoint) start over.
      const resume = await hasCheckpoint(dir);
      const hooks = options.hooks;
      let stepCost = 0;
      const book = (cost: number) => {
        const booked = Math.min(cost, run.cost - counted);
        counted += booked;
        costDone += booked;
        costLeft = after[i]! + run.cost - counted;
      };
      let started = false;
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
            signal: options.signal,
            onStart: (info) => {
              started = true;
              stepCost = run.cost / (run.settings.epochs * info.stepsPerEpoch);
              hooks?.onStart?.(info);
            },
            onStep: (info) => {
              book(stepCost);
              hooks?.onStep?.(info);
              report(run, i + 1, {});
            },
            onEpoch: (metrics) => {
              hooks?.onEpoch?.(metrics);
              report(run, i + 1, { epoch: metrics });
            },
            onPhase: (phase) => hooks?.onPhase?.(phase),
          },
        );
      let outcome: RunOutcome = resume ? 'resumed' : 'trained';
      try {
        try {
          await train(resume ? { resume: true } : { force: true });
        } catch (error) {
          // A checkpoint train cannot resume exactly (e.g. an optimizer without
          // savable state) is refused before the first step: the run starts over.
          if (!resume || started || options.signal?.aborted) throw error;
          report(run, i + 1, { error: `cannot resume (${firstLine(error)}); starting over` });
          outcome = 'restarted';
          await train({ force: true });
        }
      } catch (error) {
        // One run failing (e.g. diverging) does not stop the sweep; it has no
        // summary.json, so a rerun tries it again.
        options.signal?.throwIfAborted();
        finish('failed', firstLine(error));
        continue;
      }
      options.signal?.throwIfAborted();
      finish(outcome);
    } finally {
      await release();
    }
  }
  return outcomes;
}
