import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireFreshBuild, start, usam } from '../test-binary';
import { OPTIMIZERS } from '../train/options';
import { configSchema, epochMetricsSchema, progressSchema, summarySchema } from '../train/schema';

// A tiny run on the cpu backend (deterministic): 86 MNIST digits, batches of 10,
// so 9 steps an epoch and a few seconds a run.
const TINY = [
  '--dataset',
  'mnist-s',
  '--subsample',
  '0.01',
  '--batch-size',
  '10',
  '--lr',
  '0.05',
  '--lr-schedule',
  'constant',
  '--backend',
  'cpu',
  '--quiet',
];
const STEPS = 9;

const ajv = new Ajv({ allErrors: true });
const check = (schema: object, value: unknown, what: string) => {
  const validate = ajv.compile(schema);
  expect(validate(value), `${what}: ${ajv.errorsText(validate.errors)}`).toBe(true);
};

const readJson = async (path: string) => JSON.parse(await readFile(path, 'utf8'));
const metrics = async (run: string) =>
  (await readFile(join(run, 'metrics.jsonl'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
/** The metrics without wall-clock seconds, which no two runs share. */
const timeless = async (run: string) =>
  (await metrics(run)).map(({ seconds: _, ...rest }: { seconds: number }) => rest);

/** The final weights (bytes and content-named file) and optimizer state of a run. */
async function finalState(run: string) {
  const model = join(run, 'checkpoint', 'model');
  const weights = (await readdir(model)).find((f) => f.startsWith('weights-'))!;
  return {
    weights,
    bytes: await readFile(join(model, weights)),
    optimizer: await readFile(join(run, 'checkpoint', 'optimizer.bin')),
    metrics: await timeless(run),
  };
}

async function waitFor(path: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`${path} did not appear`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether this process may mount a tmpfs (root in a container, as in CI here). */
function canMountTmpfs(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const probe = join(tmpdir(), `usam-mount-probe-${process.pid}`);
  try {
    execFileSync('mkdir', ['-p', probe]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe]);
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

let dir: string;
beforeAll(async () => {
  requireFreshBuild();
  dir = await mkdtemp(join(tmpdir(), 'usam-train-'));
});

describe('usam train writes a valid run directory', () => {
  it.each(OPTIMIZERS)('%s', async (optimizer) => {
    const out = join(dir, `each-${optimizer}`);
    const extra =
      optimizer === 'universal'
        ? ['--measure', 'frobenius', '--samples', '2']
        : optimizer === 'frob-sam'
          ? // ρ 0.05 keeps lr·4λ/ρ² below the known-divergence warning (docs/reproduce-default.md).
            ['--rho', '0.05']
          : optimizer === 'sgd'
            ? // The Hessian measurements, on few examples and probes to stay quick.
              ['--measure-every', '1', '--hessian', 'trace,frobenius,top-eigenvalue']
            : [];
    const { code, stdout, stderr } = await usam([
      'train',
      ...TINY,
      '--batch-size',
      '43',
      '--epochs',
      '1',
      '--optimizer',
      optimizer,
      '--hessian-examples',
      '8',
      '--probes',
      '2',
      ...extra,
      '--out',
      out,
      '--json',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    // --json: one JSON document on stdout, nothing else.
    const summary = JSON.parse(stdout);
    check(summarySchema, summary, 'stdout');
    expect(await readJson(join(out, 'summary.json'))).toEqual(summary);
    const config = await readJson(join(out, 'config.json'));
    check(configSchema, config, 'config.json');
    expect(config.options.optimizer).toBe(optimizer);
    expect(config.backend).toBe('cpu');
    expect(config.versions['@usam/optimizer']).toMatch(/^\d+\.\d+\.\d+/);
    const lines = await metrics(out);
    expect(lines).toHaveLength(1);
    for (const line of lines) check(epochMetricsSchema, line, 'metrics.jsonl');
    check(progressSchema, await readJson(join(out, 'checkpoint', 'progress.json')), 'progress');
    // Gradient evaluations per step: 1 (sgd), 1 + n (frob-sam n = 2), 2 (the rest).
    const perStep = { sgd: 1, 'frob-sam': 3, universal: 3 }[optimizer as string] ?? 2;
    expect(lines[0].gradientEvaluations).toBe(2 * perStep);
    if (optimizer === 'sgd') {
      expect(Object.keys(lines[0].hessian).sort()).toEqual(['frobenius', 'topEigenvalue', 'trace']);
      // ‖H‖_F² ≥ λ_max² for any symmetric H; a probe estimate is noisy, so only its sign is sure.
      expect(lines[0].hessian.frobenius.estimate).toBeGreaterThan(0);
    }
  });
});

it('--config FILE gives the options as JSON; flags override it', async () => {
  const out = join(dir, 'from-config');
  const config = join(dir, 'config.json');
  // TINY as JSON (camelCase and kebab-case keys), with a learning rate the flag overrides.
  await writeFile(
    config,
    JSON.stringify({
      dataset: 'mnist-s',
      subsample: 0.01,
      'batch-size': 43,
      lr: 0.5,
      lrSchedule: 'constant',
      backend: 'cpu',
      optimizer: 'trace-sam',
      mu: 'sphere',
      epochs: 1,
    }),
  );
  const { code } = await usam([
    'train',
    '--config',
    config,
    '--lr',
    '0.05',
    '--out',
    out,
    '--quiet',
  ]);
  expect(code).toBe(0);
  const { options } = await readJson(join(out, 'config.json'));
  expect(options).toMatchObject({ batchSize: 43, lr: 0.05, optimizer: 'trace-sam', mu: 'sphere' });
});

describe('resume', () => {
  const run = (out: string, ...more: string[]) => [
    'train',
    ...TINY,
    '--epochs',
    '2',
    // Frob-SAM draws random perturbations: resuming must restore the RNG position too.
    '--optimizer',
    'frob-sam',
    // Below the known-divergence warning, so stderr stays empty (docs/reproduce-default.md).
    '--rho',
    '0.05',
    '--out',
    out,
    ...more,
  ];
  let reference: Awaited<ReturnType<typeof finalState>>;
  beforeAll(async () => {
    const out = join(dir, 'reference');
    expect((await usam(run(out))).code).toBe(0);
    reference = await finalState(out);
  });

  it('after SIGKILL at a random moment, ends identical to an uninterrupted run', async () => {
    const out = join(dir, 'killed');
    const { child, done } = start(run(out));
    await waitFor(join(out, 'checkpoint', 'progress.json'));
    const delay = Math.floor(Math.random() * 1500);
    await new Promise((r) => setTimeout(r, delay));
    child.kill('SIGKILL');
    await done;
    const resumed = await usam(['train', '--out', out, '--resume', '--quiet']);
    expect(resumed.stderr, `killed ${delay} ms after the first checkpoint`).toBe('');
    expect(resumed.code).toBe(0);
    expect(await finalState(out)).toEqual(reference);
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)(
    '%s finishes the step, checkpoints mid-epoch, exits %i; resuming continues exactly',
    async (signal, exit) => {
      const out = join(dir, signal);
      // A signal that lands between epoch 1's checkpoint and epoch 2's first step is
      // (rightly) checkpointed at step 0; wait a little longer each try until one lands
      // mid-epoch, which is what this test is about.
      let progress: { epoch: number; step: number } = { epoch: 0, step: 0 };
      for (const delay of [0, 40, 100, 200]) {
        rmSync(out, { recursive: true, force: true });
        const { child, done } = start(run(out));
        await waitFor(join(out, 'checkpoint', 'progress.json')); // epoch 1 is done
        await new Promise((r) => setTimeout(r, delay));
        child.kill(signal);
        const { code, stderr } = await done;
        expect(code).toBe(exit);
        expect(stderr).toContain(`usam train --out ${out} --resume`);
        progress = await readJson(join(out, 'checkpoint', 'progress.json'));
        if (progress.step > 0) break;
      }
      expect(progress.epoch).toBe(1);
      expect(progress.step).toBeGreaterThan(0);
      expect(progress.step).toBeLessThan(STEPS);
      expect(existsSync(join(out, 'summary.json'))).toBe(false);
      expect(await metrics(out)).toHaveLength(1);
      const resumed = await usam(['train', '--out', out, '--resume', '--quiet']);
      expect(resumed.code).toBe(0);
      expect(await finalState(out)).toEqual(reference);
      const config = await readJson(join(out, 'config.json'));
      expect(config.resumes).toMatchObject([{ epoch: 1, step: progress.step }]);
    },
  );

  // A real full disk: the first checkpoint (1.35 MB: weights and momentum) fits in 2 MB, the
  // second does not. Needs root to mount; the injected faults of checkpoint.test.ts run everywhere.
  it.runIf(canMountTmpfs())(
    'on a full disk (a 2 MB tmpfs): exit 1, one line naming --out and the space; the run resumes once space frees',
    async () => {
      const mount = await mkdtemp(join(tmpdir(), 'usam-tmpfs-'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mount]);
      try {
        const out = join(mount, 'run');
        const full = await usam(run(out, '--quiet'));
        expect(full.code).toBe(1);
        expect(full.stderr).toMatch(
          new RegExp(
            `^usam: --out '${out}': no space left on the device writing a checkpoint \\(needs 1\\.\\d MB, [\\d.]+ kB free\\); free space or pass another --out, then rerun\\. The previous checkpoint is intact\\.\n$`,
          ),
        );
        expect(await readJson(join(out, 'checkpoint', 'progress.json'))).toMatchObject({
          epoch: 1,
        });
        execFileSync('mount', ['-o', 'remount,size=8m', mount]);
        const resumed = await usam(['train', '--out', out, '--resume', '--quiet']);
        expect(resumed.stderr).toBe('');
        expect(resumed.code).toBe(0);
        expect(await finalState(out)).toEqual(reference);
      } finally {
        execFileSync('umount', [mount]);
        rmSync(mount, { recursive: true, force: true });
      }
    },
  );

  it('refuses an existing run without --resume or --force, and a changed option on resume', async () => {
    const out = join(dir, 'reference');
    const again = await usam(run(out));
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already holds a run; pass --resume .* --force/);
    const changed = await usam(['train', '--out', out, '--resume', '--lr', '0.1']);
    expect(changed.code).toBe(2);
    expect(changed.stderr).toContain('--lr: the run has 0.05, this command 0.1');
  });

  it('--resume with more epochs continues a finished run; --force starts over', async () => {
    const out = join(dir, 'reference');
    const longer = await usam(['train', '--out', out, '--resume', '--epochs', '3', '--quiet']);
    expect(longer.code).toBe(0);
    expect(await metrics(out)).toHaveLength(3);
    expect((await timeless(out)).slice(0, 2)).toEqual(reference.metrics);
    const forced = await usam(run(out, '--force', '--quiet'));
    expect(forced.code).toBe(0);
    expect(await finalState(out)).toEqual(reference);
  });
});
