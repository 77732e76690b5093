import { access, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { isCompleted, mergePlans, PLAN_FILE, RUNS_DIR, readPlan } from '../report/collect';
import type { Plan, PlannedRun, RunSettings } from './plan';
import { writeJson } from './results';
import { type Shard, shardRuns } from './shard';

/** What reproduce needs of `usam train`'s `train()`: one run into `out`, resumable. */
export type Trainer = (
  options: RunSettings & { out: string; resume?: boolean; force?: boolean; backend?: string },
  hooks: {
    signal?: AbortSignal;
    onEpoch?: (metrics: { epoch: number; testAccuracy: number }) => void;
  },
) => Promise<unknown>;

export type RunOutcome = 'trained' | 'resumed' | 'skipped' | 'busy';

/** Progress of a shard, for the progress line and its ETA. */
export interface ShardProgress {
  readonly run: PlannedRun;
  /** 1-based position of `run` in the shard. */
  readonly position: number;
  readonly total: number;
  readonly epoch?: number;
  readonly testAccuracy?: number;
  readonly outcome?: RunOutcome;
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
  readonly backend?: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ShardProgress) => void;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * Writes `plan.json` into `out`, merged with the plan already there (a second
 * invocation adding experiments); a different profile is refused.
 */
export async function writePlan(out: string, plan: Plan): Promise<Plan> {
  const merged = (await exists(join(out, PLAN_FILE)))
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
    options.onProgress?.({ run, position, total: runs.length, elapsed, eta, ...extra });
  };
  const runsDir = join(options.out, RUNS_DIR);
  await mkdir(runsDir, { recursive: true });
  for (const [i, run] of runs.entries()) {
    options.signal?.throwIfAborted();
    const dir = join(runsDir, run.id);
    costLeft = after[i]! + run.cost;
    let counted = 0; // of this run's cost, what the epochs trained now have booked
    const finish = (outcome: RunOutcome) => {
      outcomes.set(run.id, outcome);
      costLeft = after[i]!;
      report(run, i + 1, { outcome });
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
      const started = await exists(join(dir, 'config.json'));
      const leftover = !started && (await exists(dir)) && (await readdir(dir)).length > 0;
      await options.trainer(
        {
          ...run.settings,
          out: dir,
          ...(started ? { resume: true } : {}),
          // A directory without config.json is a run that died before its first write.
          ...(leftover ? { force: true } : {}),
          ...(options.backend ? { backend: options.backend } : {}),
        },
        {
          signal: options.signal,
          onEpoch: (m) => {
            const epochCost = Math.min(run.cost / run.settings.epochs, run.cost - counted);
            counted += epochCost;
            costDone += epochCost;
            costLeft = after[i]! + run.cost - counted;
            report(run, i + 1, { epoch: m.epoch, testAccuracy: m.testAccuracy });
          },
        },
      );
      finish(started ? 'resumed' : 'trained');
    } finally {
      await release();
    }
  }
  return outcomes;
}
