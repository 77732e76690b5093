/**
 * A process for the concurrency test: runs `runShard` over the tiny plan in
 * `argv[2]` (shard `argv[3]`), with a trainer that takes a while per run, writes
 * the `usam train` run-directory files, and appends the run id to `trained.log`
 * (O_APPEND: one line per write, whole). Run with tsx.
 */
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeRunDir } from '../report/test-fixtures';
import { createPlan } from './plan';
import { runShard } from './runs';
import { parseShard } from './shard';

const [out, shard] = process.argv.slice(2);
const plan = createPlan('tiny');
await runShard({
  out: out!,
  plan,
  shard: parseShard(shard!),
  trainer: async (options) => {
    const run = plan.runs.find((r) => join(out!, 'runs', r.id) === options.out)!;
    await new Promise((resolve) => setTimeout(resolve, 30));
    await writeRunDir(out!, run, [{ testAccuracy: 0.9, frobenius: 1 }]);
    await appendFile(join(out!, 'trained.log'), `${run.id} ${process.pid}\n`);
  },
});
