import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectResults } from '../report/collect';
import { writeRunDir } from '../report/test-fixtures';
import { writeDivergence } from '../train/run-dir';
import { createPlan } from './plan';
import { runShard, type Trainer, writePlan } from './runs';
import { WHOLE } from './shard';

const plan = createPlan('tiny');

describe('a run usam train stopped as diverged', () => {
  it('is reported as diverged by reproduce and report, and skipped on rerun', async () => {
    const out = await mkdtemp(join(tmpdir(), 'usam-run-files-'));
    const run = plan.runs[0]!;
    const single = { ...plan, runs: [run] };
    await writePlan(out, single);
    // What train() does when most of an epoch's steps are refused: every loss it
    // reports is within range (so reproduce's own check does not fire), and it
    // writes diverged.json and returns without summary.json.
    let calls = 0;
    const trainer: Trainer = async (options, hooks) => {
      calls++;
      hooks.onStep?.({ epoch: 2, step: 4, steps: 9, loss: 2.3, globalStep: 13 });
      await mkdir(options.out, { recursive: true });
      await writeDivergence(options.out, {
        epoch: 2,
        step: 4,
        loss: Number.NaN,
        reason: '9 steps in a row refused (non-finite loss or gradient)',
        checkpoint: { epoch: 1, step: 0 },
      });
    };
    const outcomes = await runShard({ out, plan: single, shard: WHOLE, trainer });
    expect(outcomes.get(run.id)).toBe('diverged');
    const { results } = await collectResults([out]);
    expect(results[0]).toMatchObject({ status: 'diverged', divergence: { epoch: 2, step: 4 } });
    expect(Number.isNaN(results[0]!.divergence!.loss)).toBe(true);
    const again = await runShard({ out, plan: single, shard: WHOLE, trainer });
    expect(again.get(run.id)).toBe('skipped');
    expect(calls).toBe(1);
  });
});

describe('report reads summary.json against its schema', () => {
  it('a summary.json without its fields names the run and the field', async () => {
    const out = await mkdtemp(join(tmpdir(), 'usam-run-files-'));
    await writePlan(out, plan);
    for (const run of plan.runs) await writeRunDir(out, run, [{ testAccuracy: 0.9 }]);
    const bad = plan.runs[2]!;
    await writeFile(join(out, 'runs', bad.id, 'summary.json'), '{"completed": true}');
    await expect(collectResults([out])).rejects.toThrow(
      new RegExp(`runs/${bad.id}/summary\\.json: field 'epochs' is missing`),
    );
  });

  it('a truncated summary.json names the file', async () => {
    const out = await mkdtemp(join(tmpdir(), 'usam-run-files-'));
    await writePlan(out, plan);
    const run = plan.runs[0]!;
    await writeRunDir(out, run, [{ testAccuracy: 0.9 }]);
    await writeFile(join(out, 'runs', run.id, 'summary.json'), '{"completed": tr');
    await expect(collectResults([out])).rejects.toThrow(
      new RegExp(`runs/${run.id}/summary\\.json is not valid JSON`),
    );
  });

  it('a diverged.json that is not one names the file', async () => {
    const out = await mkdtemp(join(tmpdir(), 'usam-run-files-'));
    await writePlan(out, plan);
    const run = plan.runs[0]!;
    await mkdir(join(out, 'runs', run.id), { recursive: true });
    await writeFile(
      join(out, 'runs', run.id, 'diverged.json'),
      '{"epoch": "x", "step": 1, "loss": 3}',
    );
    await expect(collectResults([out])).rejects.toThrow(/diverged\.json: field 'epoch' must be/);
  });
});
