import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { RunError } from '../cli/errors';
import { readPlan } from '../report/collect';
import { writeRunDir } from '../report/test-fixtures';
import { reproduce } from './index';
import { acquireLock, ownerFile } from './lock';
import { createPlan, type PlannedRun } from './plan';
import { runShard, type Trainer, writePlan } from './runs';
import { WHOLE } from './shard';

const ids = (runs: readonly PlannedRun[]) => [...new Set(runs.map((r) => r.id))].sort();

/** A trainer that writes a finished run directory for whichever planned run it is given. */
const finishing =
  (out: string, runs: readonly PlannedRun[], calls: string[] = []): Trainer =>
  async (options) => {
    const run = runs.find((r) => join(out, 'runs', r.id) === options.out)!;
    calls.push(run.id);
    await writeRunDir(out, run, [{ testAccuracy: 0.9 }]);
  };

describe('two usam reproduce into one --out', () => {
  it('-e table2 and -e table3 at once: both plans are merged, none lost', async () => {
    const out = await mkdtemp(join(tmpdir(), 'usam-concurrent-'));
    const table2 = createPlan('tiny', ['table2']);
    const table3 = createPlan('tiny', ['table3']);
    // At once: without the lock both read "no plan.json" and the second write wins.
    await Promise.all([writePlan(out, table2), writePlan(out, table3)]);
    const merged = await readPlan(out);
    expect([...merged.experiments].sort()).toEqual(['table2', 'table3']);
    expect(ids(merged.runs)).toEqual(ids([...table2.runs, ...table3.runs]));
  });

  it('whole invocations at once: every run of both trained once, and the last report covers both', async () => {
    const out = await mkdtemp(join(tmpdir(), 'usam-concurrent-'));
    const all = createPlan('tiny', ['table2', 'table3']).runs;
    const calls: string[] = [];
    const common = { profile: 'tiny', backend: 'cpu', seed: 0, samples: 2, out, log: () => {} };
    const results = await Promise.all(
      (['table2', 'table3'] as const).map((e) =>
        reproduce({ ...common, experiments: [e], trainer: finishing(out, all, calls) } as never),
      ),
    );
    expect(calls.sort()).toEqual(ids(all));
    const plan = await readPlan(out);
    expect(ids(plan.runs)).toEqual(ids(all));
    // Each report is written, under the lock, from the plan merged so far; the last one
    // written (what is on disk) covers both invocations' runs, every one done.
    expect(results.every((r) => r.report!.runs <= all.length)).toBe(true);
    const rows = parseCsv(await readFile(join(out, 'results.csv'), 'utf8'), {
      columns: true,
    }) as Record<string, string>[];
    expect(rows.map((r) => r.id).sort()).toEqual(ids(all));
    expect(rows.every((r) => r.status === 'done')).toBe(true);
  });

  it('a run held by a live process is skipped, and the command fails saying so (never exit 0)', async () => {
    const out = await mkdtemp(join(tmpdir(), 'usam-concurrent-'));
    const plan = createPlan('tiny', ['table2']);
    const held = plan.runs[0]!;
    await mkdir(join(out, 'runs'), { recursive: true });
    const lock = await acquireLock(join(out, 'runs', held.id)); // this process: alive
    expect(lock.acquired).toBe(true);
    const calls: string[] = [];
    const args = {
      profile: 'tiny',
      experiments: ['table2'],
      backend: 'cpu',
      seed: 0,
      samples: 2,
      out,
      log: () => {},
      trainer: finishing(out, plan.runs, calls),
    } as never;
    const error = await reproduce(args).catch((e: unknown) => e);
    expect(RunError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(
      new RegExp(
        `^1 run\\(s\\) skipped because another live process is training them \\(${held.id};`,
      ),
    );
    expect(calls).not.toContain(held.id);
    if (lock.acquired) await lock.release();
    // Once it is free, the same command trains it and succeeds.
    await expect(reproduce(args)).resolves.toBeDefined();
    expect(calls).toContain(held.id);
  });

  it("a crashed holder's lock is taken over at once by the rerun, saying whose it was", async () => {
    const out = await mkdtemp(join(tmpdir(), 'usam-concurrent-'));
    const plan = createPlan('tiny', ['table2']);
    const run = plan.runs[0]!;
    const dir = join(out, 'runs', run.id);
    // What a SIGKILLed shard leaves: its lock, with a fresh heartbeat, naming a pid now gone.
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    await mkdir(`${dir}.lock`, { recursive: true });
    await writeFile(
      ownerFile(dir),
      JSON.stringify({ pid: dead, hostname: hostname(), started: 'x' }),
    );
    const notes: string[] = [];
    const outcomes = await runShard({
      out,
      plan: { ...plan, runs: [run] },
      shard: WHOLE,
      trainer: finishing(out, plan.runs),
      hooks: { onProgress: (p) => p.error && notes.push(p.error) },
    });
    expect(outcomes.get(run.id)).toBe('trained');
    expect(notes[0]).toMatch(
      new RegExp(
        `^took over the lock of pid ${dead} on host ${hostname()} \\(heartbeat \\d+ s ago\\), which is gone`,
      ),
    );
  });
});
