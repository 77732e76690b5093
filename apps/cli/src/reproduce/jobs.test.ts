/**
 * `--jobs N`: runs trained in worker processes (real `usam train` runs of the
 * tiny profile, on the default backend) give the same files as one after
 * another in this process; a worker killed mid-run costs that run only, and a
 * rerun resumes it from its checkpoint.
 */
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readMetrics } from '../train/index';
import { createPlan, type Plan } from './plan';
import { runShard, type ShardProgress, usamTrain } from './runs';
import { WHOLE } from './shard';

// Figure 2's four tiny runs (MNIST-S, 2 epochs) and two table runs: six independent runs.
const tiny = createPlan('tiny');
const plan: Plan = {
  ...tiny,
  runs: [
    ...tiny.runs.filter((r) => r.experiment === 'figure2'),
    ...tiny.runs.filter((r) => r.id.includes('table2-mnist-s-sam-')),
  ],
};

/** Every file of a run directory that training writes, minus wall-clock times. */
async function runFiles(out: string, id: string): Promise<Record<string, string>> {
  const dir = join(out, 'runs', id);
  const files: Record<string, string> = {};
  const metrics = await readMetrics(dir);
  files['metrics.jsonl'] = JSON.stringify(metrics.map(({ seconds: _s, ...m }) => m));
  for (const name of await readdir(join(dir, 'checkpoint', 'model'))) {
    if (name.endsWith('.bin')) {
      files[`model/${name}`] = (await readFile(join(dir, 'checkpoint', 'model', name))).toString(
        'base64',
      );
    }
  }
  files['optimizer.bin'] = (await readFile(join(dir, 'checkpoint', 'optimizer.bin'))).toString(
    'base64',
  );
  return files;
}

describe('runShard with jobs', () => {
  it('gives bit-identical runs with --jobs 2 and --jobs 1', async () => {
    const one = await mkdtemp(join(tmpdir(), 'usam-jobs1-'));
    const two = await mkdtemp(join(tmpdir(), 'usam-jobs2-'));
    const pids = new Set<number>();
    const [a, b] = [
      await runShard({ out: one, plan, shard: WHOLE, trainer: usamTrain, jobs: 1 }),
      await runShard({
        out: two,
        plan,
        shard: WHOLE,
        trainer: usamTrain,
        jobs: 2,
        hooks: { onProgress: (p) => p.pid !== undefined && pids.add(p.pid) },
      }),
    ];
    expect([...a.values()].every((o) => o === 'trained')).toBe(true);
    expect([...b.values()].every((o) => o === 'trained')).toBe(true);
    expect(pids.size).toBe(2); // two worker processes, neither of them this one
    expect(pids.has(process.pid)).toBe(false);
    for (const run of plan.runs) {
      expect(await runFiles(two, run.id), run.id).toEqual(await runFiles(one, run.id));
    }
  }, 300_000);

  it('loses only the run of a worker killed with SIGKILL; a rerun resumes it from its checkpoint', async () => {
    const out = await mkdtemp(join(tmpdir(), 'usam-kill-'));
    // Two runs of 6 epochs, so that the kill lands mid-run.
    const long: Plan = {
      ...plan,
      runs: plan.runs.slice(0, 2).map((r) => ({ ...r, settings: { ...r.settings, epochs: 6 } })),
    };
    const [victim, other] = long.runs;
    let killed = false;
    const progress: ShardProgress[] = [];
    const outcomes = await runShard({
      out,
      plan: long,
      shard: WHOLE,
      trainer: usamTrain,
      jobs: 2,
      hooks: {
        onProgress: (p) => {
          progress.push(p);
          if (!killed && p.run.id === victim!.id && p.epoch?.epoch === 2 && p.pid) {
            killed = true;
            process.kill(p.pid, 'SIGKILL');
          }
        },
      },
    });
    expect(killed).toBe(true);
    expect(outcomes.get(victim!.id)).toBe('failed');
    expect(outcomes.get(other!.id)).toBe('trained');
    const failure = progress.find((p) => p.run.id === victim!.id && p.outcome === 'failed');
    expect(failure?.error).toMatch(/worker process \(pid \d+\) killed by SIGKILL; rerun to resume/);
    const epochsBefore = (await readMetrics(join(out, 'runs', victim!.id))).length;
    expect(epochsBefore).toBeGreaterThanOrEqual(2);
    expect(epochsBefore).toBeLessThan(6);
    // The lock was this process's: the rerun takes the run at once and resumes it.
    const again = await runShard({ out, plan: long, shard: WHOLE, trainer: usamTrain, jobs: 2 });
    expect(again.get(victim!.id)).toBe('resumed');
    expect(again.get(other!.id)).toBe('skipped');
    const metrics = await readMetrics(join(out, 'runs', victim!.id));
    expect(metrics.map((m) => m.epoch)).toEqual([1, 2, 3, 4, 5, 6]);
  }, 300_000);
});
