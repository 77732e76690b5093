import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { collectResults } from '../report/collect';
import { writeRunDir } from '../report/test-fixtures';
import { createPlan } from './plan';
import { runShard, type Trainer, writePlan } from './runs';
import { WHOLE } from './shard';

const plan = createPlan('tiny');
const byDir = (out: string, dir: string) => plan.runs.find((r) => join(out, 'runs', r.id) === dir)!;

/** A trainer that records its calls and writes a finished run directory. */
function recordingTrainer(out: string) {
  const calls: { id: string; resume?: boolean; force?: boolean }[] = [];
  const trainer: Trainer = async (options, hooks) => {
    const run = byDir(out, options.out);
    calls.push({ id: run.id, resume: options.resume, force: options.force });
    hooks.onStart?.({
      backend: 'cpu',
      epochs: 1,
      stepsPerEpoch: 2,
      epoch: 0,
      step: 0,
      resumed: false,
      parameters: 1,
      trainExamples: 1,
    });
    for (const step of [1, 2])
      hooks.onStep?.({ epoch: 1, step, steps: 2, loss: 1, globalStep: step });
    await writeRunDir(out, run, [{ testAccuracy: 0.9 }]);
  };
  return { calls, trainer };
}

describe('runShard', () => {
  it('trains each run once, skips finished runs on rerun and resumes unfinished ones', async () => {
    const out = await mkdtemp(join(tmpdir(), 'usam-runs-'));
    await writePlan(out, plan);
    const [finished, unfinished, stillborn] = plan.runs;
    await writeRunDir(out, finished!, [{ testAccuracy: 0.9 }]);
    await writeRunDir(out, unfinished!, [{ testAccuracy: 0.5 }], false);
    await mkdir(join(out, 'runs', unfinished!.id, 'checkpoint'));
    await writeFile(join(out, 'runs', unfinished!.id, 'checkpoint', 'manifest.json'), '{}');
    // A run that died before its first checkpoint cannot resume: it starts over.
    await mkdir(join(out, 'runs', stillborn!.id, 'checkpoint.new'), { recursive: true });

    const first = recordingTrainer(out);
    const progress: number[] = [];
    const outcomes = await runShard({
      out,
      plan,
      shard: WHOLE,
      trainer: first.trainer,
      hooks: { onProgress: (p) => p.eta !== undefined && progress.push(p.eta) },
    });
    expect(outcomes.get(finished!.id)).toBe('skipped');
    expect(outcomes.get(unfinished!.id)).toBe('resumed');
    expect(first.calls.find((c) => c.id === unfinished!.id)).toEqual({
      id: unfinished!.id,
      resume: true,
      force: undefined,
    });
    expect(first.calls.find((c) => c.id === stillborn!.id)).toEqual({
      id: stillborn!.id,
      resume: undefined,
      force: true,
    });
    expect(first.calls.map((c) => c.id).sort()).toEqual(
      plan.runs
        .slice(1)
        .map((r) => r.id)
        .sort(),
    );
    expect(progress.at(-1)).toBe(0); // the ETA reaches 0 with the last run

    const second = recordingTrainer(out);
    const again = await runShard({ out, plan, shard: WHOLE, trainer: second.trainer });
    expect(second.calls).toEqual([]);
    expect([...again.values()].every((o) => o === 'skipped')).toBe(true);
  });

  it('records a failing run and goes on with the others (a rerun retries it)', async () => {
    const out = await mkdtemp(join(tmpdir(), 'usam-runs-'));
    const { calls, trainer } = recordingTrainer(out);
    const bad = plan.runs[1]!;
    const errors: string[] = [];
    const failing: Trainer = async (options, hooks) => {
      if (options.out.endsWith(bad.id)) throw new Error('the loss is NaN on batch 0\nstack');
      await trainer(options, hooks);
    };
    const outcomes = await runShard({
      out,
      plan,
      shard: WHOLE,
      trainer: failing,
      hooks: { onProgress: (p) => p.error && errors.push(p.error) },
    });
    expect(outcomes.get(bad.id)).toBe('failed');
    expect(errors).toEqual(['the loss is NaN on batch 0']);
    expect(calls).toHaveLength(plan.runs.length - 1);
    const retry = await runShard({ out, plan, shard: WHOLE, trainer });
    expect(retry.get(bad.id)).toBe('trained');
  });

  it('stops a run whose loss blows up, records where (diverged.json) and leaves it on rerun', async () => {
    const out = await mkdtemp(join(tmpdir(), 'usam-runs-'));
    const run = plan.runs[0]!;
    let aborted = false;
    const blowing: Trainer = async (_options, hooks) => {
      for (const [step, loss] of [
        [1, 2.3],
        [2, 5],
        [3, 1e4],
        [4, Number.NaN],
      ] as const) {
        if (hooks.signal?.aborted) {
          aborted = true;
          return; // train checkpoints and returns, as on a signal
        }
        hooks.onStep?.({ epoch: 2, step, steps: 9, loss, globalStep: 9 + step });
      }
    };
    const single = { ...plan, runs: [run] };
    await writePlan(out, single);
    const errors: string[] = [];
    const outcomes = await runShard({
      out,
      plan: single,
      shard: WHOLE,
      trainer: blowing,
      hooks: { onProgress: (p) => p.error && errors.push(p.error) },
    });
    expect(outcomes.get(run.id)).toBe('diverged');
    expect(aborted).toBe(true); // stopped at the first loss above 10·ln 10, not trained on
    expect(errors).toEqual(['loss 10000 at epoch 2, step 3']);
    const record = JSON.parse(await readFile(join(out, 'runs', run.id, 'diverged.json'), 'utf8'));
    expect(record).toEqual({ epoch: 2, step: 3, loss: 10000 });
    const { results } = await collectResults([out]);
    expect(results[0]).toMatchObject({ status: 'diverged', divergence: record });
    const { calls, trainer } = recordingTrainer(out);
    expect((await runShard({ out, plan: single, shard: WHOLE, trainer })).get(run.id)).toBe(
      'skipped',
    );
    expect(calls).toEqual([]);
  });

  it('starts a run over when train refuses to resume its checkpoint', async () => {
    const out = await mkdtemp(join(tmpdir(), 'usam-runs-'));
    const run = plan.runs[0]!;
    await writeRunDir(out, run, [{ testAccuracy: 0.5 }], false);
    await mkdir(join(out, 'runs', run.id, 'checkpoint'));
    await writeFile(join(out, 'runs', run.id, 'checkpoint', 'manifest.json'), '{}');
    const { calls, trainer } = recordingTrainer(out);
    const refusing: Trainer = async (options, hooks) => {
      if (options.resume) throw new Error('cannot resume frobSam exactly');
      await trainer(options, hooks);
    };
    const outcomes = await runShard({
      out,
      plan: { ...plan, runs: [run] },
      shard: WHOLE,
      trainer: refusing,
    });
    expect(outcomes.get(run.id)).toBe('restarted');
    expect(calls).toEqual([{ id: run.id, resume: undefined, force: true }]);
  });

  it('leaves a run locked by another live process alone', async () => {
    const out = await mkdtemp(join(tmpdir(), 'usam-runs-'));
    const run = plan.runs[0]!;
    const { calls, trainer } = recordingTrainer(out);
    const slow: Trainer = async (options, hooks) => {
      if (options.out.endsWith(run.id)) await new Promise((r) => setTimeout(r, 300));
      await trainer(options, hooks);
    };
    const single = { ...plan, runs: [run] };
    const [a, b] = await Promise.all([
      runShard({ out, plan: single, shard: WHOLE, trainer: slow }),
      new Promise((r) => setTimeout(r, 100)).then(() =>
        runShard({ out, plan: single, shard: WHOLE, trainer: slow }),
      ),
    ]);
    expect([a.get(run.id), b.get(run.id)]).toEqual(['trained', 'busy']);
    expect(calls).toHaveLength(1);
  });

  it('lets concurrent processes share one output directory: every run trained exactly once', async () => {
    const out = await mkdtemp(join(tmpdir(), 'usam-runs-'));
    await writePlan(out, plan);
    const tsx = createRequire(import.meta.url).resolve('tsx/cli');
    const worker = join(import.meta.dirname, 'test-worker.ts');
    // Two disjoint shards, and the whole plan twice (overlapping every run), at once.
    const shards = ['0/2', '1/2', '0/1', '0/1'];
    await Promise.all(
      shards.map((shard) => promisify(execFile)(process.execPath, [tsx, worker, out, shard])),
    );
    const log = (await readFile(join(out, 'trained.log'), 'utf8')).trim().split('\n');
    const ids = log.map((line) => line.split(' ')[0]);
    // Each run trained once (a run finished by one process is skipped by the others,
    // a run in progress is left to its owner); none twice, none torn.
    expect(ids.sort()).toEqual(plan.runs.map((r) => r.id).sort());
    const { results } = await collectResults([out]);
    expect(results.every((r) => r.status === 'done')).toBe(true);
    await writeFile(join(out, 'ok'), '');
  });
});
