import { UsageError } from '../cli/errors';

/**
 * Splitting a run matrix over a cluster's own scheduler: `--shard k/N`, or the
 * index and count a Slurm job array or a Kubernetes Indexed Job gives each task.
 */

/** Shard `index` (0-based) of `count`. */
export interface Shard {
  readonly index: number;
  readonly count: number;
  /** Where it came from, for the log line. */
  readonly source: string;
}

export const WHOLE: Shard = { index: 0, count: 1, source: 'no shard: every run' };

const integerValue = (raw: string | undefined) =>
  raw !== undefined && /^\s*\d+\s*$/.test(raw) ? Number(raw) : undefined;

function checked(index: number, count: number, source: string): Shard {
  if (!(count >= 1 && index >= 0 && index < count)) {
    throw new UsageError(
      `${source}: shard ${index} of ${count} does not exist; shards are 0 ≤ k < N (0-based), N ≥ 1.`,
    );
  }
  return { index, count, source };
}

/** Parses `--shard k/N` (k is 0-based: `0/4` … `3/4`). */
export function parseShard(raw: string): Shard {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(raw);
  if (!match) {
    throw new UsageError(`--shard: expected k/N with 0 ≤ k < N (e.g. 0/4), got '${raw}'.`);
  }
  return checked(Number(match[1]), Number(match[2]), `--shard '${raw}'`);
}

/**
 * The shard a scheduler assigned through the environment, or `WHOLE`:
 * - Slurm job arrays: `SLURM_ARRAY_TASK_ID` with `SLURM_ARRAY_TASK_COUNT`, or with
 *   `SLURM_ARRAY_TASK_MIN`/`MAX` (an array `--array=1-8` gives shards 0..7);
 * - Kubernetes Indexed Jobs: `JOB_COMPLETION_INDEX` with the count in
 *   `USAM_SHARD_COUNT` (Kubernetes does not export `completions`; the manifest sets it).
 */
export function shardFromEnv(env: Readonly<Record<string, string | undefined>>): Shard {
  const slurmId = integerValue(env.SLURM_ARRAY_TASK_ID);
  if (env.SLURM_ARRAY_TASK_ID !== undefined && slurmId === undefined) {
    throw new UsageError(
      `SLURM_ARRAY_TASK_ID: expected an integer, got '${env.SLURM_ARRAY_TASK_ID}'.`,
    );
  }
  if (slurmId !== undefined) {
    const min = integerValue(env.SLURM_ARRAY_TASK_MIN);
    const max = integerValue(env.SLURM_ARRAY_TASK_MAX);
    const count = integerValue(env.SLURM_ARRAY_TASK_COUNT);
    const offset = min ?? 0;
    const total = count ?? (min !== undefined && max !== undefined ? max - min + 1 : undefined);
    if (total === undefined) {
      throw new UsageError(
        'SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MIN/MAX is; pass --shard k/N.',
      );
    }
    if (count !== undefined && min !== undefined && max !== undefined && max - min + 1 !== count) {
      // A stepped array (--array=0-15:2): its task ids are not consecutive shards.
      throw new UsageError(
        `Slurm array ${min}-${max} has ${count} tasks, not ${max - min + 1}: use a contiguous --array=0-${count - 1}, or pass --shard k/N.`,
      );
    }
    return checked(slurmId - offset, total, `Slurm array task ${slurmId}`);
  }
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    const index = integerValue(env.JOB_COMPLETION_INDEX);
    const count = integerValue(env.USAM_SHARD_COUNT);
    if (index === undefined || count === undefined) {
      throw new UsageError(
        `JOB_COMPLETION_INDEX = '${env.JOB_COMPLETION_INDEX}' needs USAM_SHARD_COUNT (the Job's completions) set to an integer, got '${env.USAM_SHARD_COUNT ?? ''}'.`,
      );
    }
    return checked(index, count, `Kubernetes completion index ${index}`);
  }
  return WHOLE;
}

/**
 * The runs of one shard. Longest-processing-time first: runs sorted by cost
 * (ties by id) go one by one to the least-loaded shard (ties to the lowest index),
 * so the N parts are disjoint, cover every run, and are balanced to within the
 * largest single run. Every shard computes the same assignment from the same plan.
 */
export function shardRuns<T extends { readonly id: string; readonly cost: number }>(
  runs: readonly T[],
  shard: Shard,
): T[] {
  const load = new Array<number>(shard.count).fill(0);
  const owner = new Map<string, number>();
  const byCost = [...runs].sort((a, b) => b.cost - a.cost || (a.id < b.id ? -1 : 1));
  for (const run of byCost) {
    const least = load.indexOf(Math.min(...load));
    owner.set(run.id, least);
    load[least]! += run.cost;
  }
  // Keep the plan's order within the shard (Figure 2 first, then the tables).
  return runs.filter((run) => owner.get(run.id) === shard.index);
}
