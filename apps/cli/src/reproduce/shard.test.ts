import { describe, expect, it } from 'vitest';
import { UsageError } from '../cli/errors';
import { createPlan } from './plan';
import { parseShard, shardFromEnv, shardRuns } from './shard';

describe('shards', () => {
  it('split a plan into disjoint parts that cover it, balanced to within the largest run', () => {
    for (const profile of ['paper', 'quick'] as const) {
      const { runs } = createPlan(profile);
      const largest = Math.max(...runs.map((r) => r.cost));
      for (const count of [1, 2, 3, 7, 16, 300]) {
        const parts = Array.from({ length: count }, (_, index) =>
          shardRuns(runs, { index, count, source: 'test' }),
        );
        const ids = parts.flat().map((r) => r.id);
        expect(ids).toHaveLength(runs.length);
        expect(new Set(ids)).toEqual(new Set(runs.map((r) => r.id)));
        const loads = parts.map((p) => p.reduce((a, r) => a + r.cost, 0));
        // Greedy least-loaded assignment: max − min load never exceeds one run.
        expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(largest);
      }
    }
  });

  it('parses --shard k/N and rejects what is not a shard', () => {
    expect(parseShard('2/4')).toMatchObject({ index: 2, count: 4 });
    for (const bad of ['4/4', '1/0', '-1/3', 'a/b', '1', '1/2/3']) {
      expect(() => parseShard(bad), bad).toThrow(UsageError);
    }
    expect(() => parseShard('4/4')).toThrow("--shard '4/4': shard 4 of 4 does not exist");
  });

  it('reads Slurm arrays (COUNT, or MIN/MAX) and Kubernetes Indexed Jobs', () => {
    expect(shardFromEnv({})).toMatchObject({ index: 0, count: 1 });
    expect(
      shardFromEnv({
        SLURM_ARRAY_TASK_ID: '3',
        SLURM_ARRAY_TASK_COUNT: '8',
        SLURM_ARRAY_TASK_MIN: '0',
        SLURM_ARRAY_TASK_MAX: '7',
      }),
    ).toMatchObject({ index: 3, count: 8 });
    expect(shardFromEnv({ SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '8' })).toMatchObject({
      index: 3,
      count: 8,
    });
    // --array=1-8: task ids 1..8 are shards 0..7.
    expect(
      shardFromEnv({
        SLURM_ARRAY_TASK_ID: '1',
        SLURM_ARRAY_TASK_MIN: '1',
        SLURM_ARRAY_TASK_MAX: '8',
      }),
    ).toMatchObject({ index: 0, count: 8 });
    expect(() =>
      shardFromEnv({
        SLURM_ARRAY_TASK_ID: '2',
        SLURM_ARRAY_TASK_COUNT: '4',
        SLURM_ARRAY_TASK_MIN: '0',
        SLURM_ARRAY_TASK_MAX: '6',
      }),
    ).toThrow(/contiguous --array=0-3/);
    expect(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: '2' })).toThrow(/pass --shard k\/N/);
    expect(shardFromEnv({ JOB_COMPLETION_INDEX: '5', USAM_SHARD_COUNT: '16' })).toMatchObject({
      index: 5,
      count: 16,
    });
    expect(() => shardFromEnv({ JOB_COMPLETION_INDEX: '5' })).toThrow(/USAM_SHARD_COUNT/);
    expect(() => shardFromEnv({ JOB_COMPLETION_INDEX: '16', USAM_SHARD_COUNT: '16' })).toThrow(
      /does not exist/,
    );
  });
});
