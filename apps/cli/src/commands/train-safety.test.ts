import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireFreshBuild, start, usam } from '../test-binary';

// Issue 26's "silently wrong", "divergence" and "unclear errors" findings, each as a
// user meets them through the binary. A tiny cpu run: 86 digits, batches of 10, 9 steps an epoch.
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

const readJson = async (path: string) => JSON.parse(await readFile(path, 'utf8'));
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Rewrites checkpoint/progress.json and its manifest entry, as a consistent-looking edit would. */
async function editProgress(run: string, edit: (p: Record<string, unknown>) => void) {
  const checkpoint = join(run, 'checkpoint');
  const progress = await readJson(join(checkpoint, 'progress.json'));
  edit(progress);
  const bytes = Buffer.from(JSON.stringify(progress));
  await writeFile(join(checkpoint, 'progress.json'), bytes);
  const manifest = await readJson(join(checkpoint, 'manifest.json'));
  manifest.files['progress.json'] = { bytes: bytes.length, sha256: sha256(bytes) };
  await writeFile(join(checkpoint, 'manifest.json'), JSON.stringify(manifest));
}

async function waitFor(test: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > until) throw new Error('the condition did not come true');
    await new Promise((r) => setTimeout(r, 20));
  }
}

let dir: string;
/** A finished 2-epoch run, copied for each test that changes it. */
let finished: string;
beforeAll(async () => {
  requireFreshBuild();
  dir = await mkdtemp(join(tmpdir(), 'usam-safety-'));
  finished = join(dir, 'finished');
  const { code, stderr } = await usam(['train', ...TINY, '--epochs', '2', '--out', finished]);
  expect(stderr).toBe('');
  expect(code).toBe(0);
});

const copyOf = async (name: string) => {
  const out = join(dir, name);
  await cp(finished, out, { recursive: true });
  return out;
};

describe('resuming refuses what would make the run silently wrong', () => {
  it('shrinking a finished run (--resume --epochs 1 of 2) is an error; nothing changes', async () => {
    const out = await copyOf('shrink');
    const before = await readFile(join(out, 'summary.json'), 'utf8');
    const { code, stderr } = await usam(['train', '--out', out, '--resume', '--epochs', '1']);
    expect(code).toBe(2);
    expect(stderr).toContain('has already completed 2 epochs, and a run cannot shrink');
    expect(await readFile(join(out, 'summary.json'), 'utf8')).toBe(before);
    expect((await readJson(join(out, 'config.json'))).options.epochs).toBe(2);
  });

  it('--resume --force is the documented error, as flags and through --config', async () => {
    const out = await copyOf('resume-force');
    const message = '--resume and --force contradict each other';
    const flags = await usam(['train', '--out', out, '--resume', '--force']);
    expect(flags.code).toBe(2);
    expect(flags.stderr).toContain(message);
    const config = join(dir, 'resume-force.json');
    await writeFile(config, JSON.stringify({ out, resume: true, force: true }));
    const viaConfig = await usam(['train', '--config', config]);
    expect(viaConfig.code).toBe(2);
    expect(viaConfig.stderr).toContain(message);
  });

  it('SIGKILL while extending a run leaves it not complete (no summary.json)', async () => {
    const out = await copyOf('extend');
    const { child, done } = start(['train', '--out', out, '--resume', '--epochs', '6', '--quiet']);
    // config.json says 6 once the resume has begun (it is written after summary.json goes).
    await waitFor(async () => (await readJson(join(out, 'config.json'))).options.epochs === 6);
    child.kill('SIGKILL');
    await done;
    expect(existsSync(join(out, 'summary.json'))).toBe(false);
  });

  it.each([
    // Already refused on main (no examples counted for 4 steps); kept as a guard.
    ['another step', (p: Record<string, unknown>) => Object.assign(p, { step: 4 }), 'step 4'],
    [
      'an epoch past --epochs',
      (p: Record<string, unknown>) =>
        Object.assign(p, { epoch: 3, globalStep: 27, dataOrder: { seed: 0, epoch: 3, batch: 0 } }),
      "'epoch' is 3, past the run's 2 epochs",
    ],
    [
      'a global step that does not add up',
      (p: Record<string, unknown>) => Object.assign(p, { globalStep: 5 }),
      "'globalStep' is 5",
    ],
  ])(
    'progress.json edited to %s (manifest rewritten to match) is refused',
    async (name, edit, why) => {
      const out = await copyOf(`progress-${name.replaceAll(' ', '-')}`);
      await editProgress(out, edit);
      const { code, stderr } = await usam(['train', '--out', out, '--resume', '--epochs', '4']);
      expect(code).toBe(2);
      expect(stderr).toMatch(/^usam: \S+checkpoint\/progress\.json: /);
      expect(stderr).toContain(why);
    },
  );

  it('a finished run whose last test loss is NaN, killed before summary.json, resumes to its end', async () => {
    const out = await copyOf('nan-loss');
    const path = join(out, 'metrics.jsonl');
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    lines[1] = JSON.stringify({ ...JSON.parse(lines[1]!), testLoss: 'NaN' });
    await writeFile(path, `${lines.join('\n')}\n`);
    await rm(join(out, 'summary.json'));
    const { code, stdout, stderr } = await usam(['train', '--out', out, '--resume']);
    expect(stderr).not.toContain('toFixed');
    expect(code).toBe(0);
    expect(stdout).toContain('test loss NaN');
    expect((await readJson(join(out, 'summary.json'))).finalTestLoss).toBe('NaN');
  });
});

describe('divergence is loud', () => {
  it('a run whose steps are refused for an epoch stops: exit 1, diverged.json, the last finite checkpoint', async () => {
    const out = join(dir, 'diverged');
    // lr 10 blows the MLP up within epoch 1 (steps 6–9 refused, NaN); epoch 2 stays NaN.
    const { code, stderr } = await usam([
      'train',
      ...TINY,
      '--lr',
      '10',
      '--epochs',
      '3',
      '--out',
      out,
    ]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^usam train: diverged at epoch 1, step \d+ \(loss NaN;/);
    expect(existsSync(join(out, 'summary.json'))).toBe(false);
    const record = await readJson(join(out, 'diverged.json'));
    expect(record).toMatchObject({ epoch: 1, loss: 'NaN', checkpoint: { epoch: 1, step: 0 } });
    // No checkpoint was written past epoch 1's end, and nothing of the diverged epoch 2.
    expect(await readJson(join(out, 'checkpoint', 'progress.json'))).toMatchObject({
      epoch: 1,
      step: 0,
    });
    expect((await readFile(join(out, 'metrics.jsonl'), 'utf8')).trimEnd().split('\n')).toHaveLength(
      1,
    );
    const resumed = await usam(['train', '--out', out, '--resume']);
    expect(resumed.code).toBe(2);
    expect(resumed.stderr).toContain('diverged at epoch 1');
  });
});

describe('errors name the option or the file, and bad input exits 2', () => {
  it.each([
    ['--width', '1e9'],
    ['--epochs', '1e12'],
    ['--batch-size', '1e9'],
    ['--hessian-examples', '1e9'],
    ['--subsample', '1e-9'],
    ['--lr', '1e308'],
    ['--probes', '1e9'],
  ])('%s %s is a range error up front', async (flag, value) => {
    const out = join(dir, `range${flag}`);
    const { code, stderr } = await usam(['train', ...TINY, flag, value, '--out', out]);
    expect(code).toBe(2);
    expect(stderr).toMatch(new RegExp(`^usam: ${flag}: expected .* ≤ `));
    expect(existsSync(out)).toBe(false);
  });

  it('--samples 1e9 is a range error up front', async () => {
    const out = join(dir, 'range-samples');
    const args = ['train', ...TINY, '--optimizer', 'frob-sam', '--samples', '1e9', '--out', out];
    const { code, stderr } = await usam(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^usam: --samples: expected an integer ≥ 2 and ≤ \d+/);
  });

  it('--out below a file (ENOTDIR) or too long (ENAMETOOLONG) names --out, exit 2', async () => {
    const file = join(dir, 'a-file');
    await writeFile(file, '');
    const below = await usam(['train', ...TINY, '--out', join(file, 'run')]);
    expect(below.code).toBe(2);
    expect(below.stderr).toMatch(/^usam: --out '.*a-file\/run': a part of it is a file.*ENOTDIR/);
    const long = await usam(['train', ...TINY, '--out', join(dir, 'x'.repeat(300))]);
    expect(long.code).toBe(2);
    expect(long.stderr).toMatch(/^usam: --out '.*': .*too long.*ENAMETOOLONG/);
  });

  it.skipIf(process.getuid?.() === 0)(
    'an --out without write permission (EACCES) names --out, exit 2',
    async () => {
      const locked = join(dir, 'locked');
      await mkdir(locked, { mode: 0o555 });
      const { code, stderr } = await usam(['train', ...TINY, '--out', join(locked, 'run')]);
      expect(code).toBe(2);
      expect(stderr).toMatch(/^usam: --out .*permission denied \(EACCES\)/);
    },
  );

  it('usam report FILE says it is not an output directory, exit 2', async () => {
    const file = join(dir, 'report-file');
    await writeFile(file, '');
    const { code, stderr } = await usam(['report', file]);
    expect(code).toBe(2);
    expect(stderr).toContain('is not a `usam reproduce` output directory');
  });

  it('usam sharpness RUN --out NEWDIR creates it before any work and writes there', async () => {
    const out = join(dir, 'sharpness-new', 'nested');
    const { code, stderr } = await usam([
      'sharpness',
      finished,
      '--out',
      out,
      '--examples',
      '4',
      '--probes',
      '2',
      '--top-k',
      '1',
      '--lanczos-steps',
      '0',
      '--backend',
      'cpu',
      '--quiet',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(existsSync(join(out, 'sharpness.json'))).toBe(true);
  });

  // A hand-edited config.json: without the field, --resume used to report
  // "--subsample applies to '-s' datasets only" (the default 'mnist' had come in).
  it.each([
    ['train', 'missing', ['--resume', '--epochs', '3', '--quiet']],
    ['sharpness', 'missing', ['--quiet']],
    ['train', 'imagenet', ['--resume', '--quiet']],
    ['sharpness', 'imagenet', ['--quiet']],
  ] as const)(
    'usam %s on a config.json whose options.dataset is %s names the file and the field, exit 2',
    async (command, dataset, more) => {
      const out = await copyOf(`config-${command}-${dataset}`);
      const file = join(out, 'config.json');
      const config = await readJson(file);
      if (dataset === 'missing') delete config.options.dataset;
      else config.options.dataset = dataset;
      await writeFile(file, JSON.stringify(config));
      const args =
        command === 'train' ? ['train', '--out', out, ...more] : ['sharpness', out, ...more];
      const { code, stdout, stderr } = await usam(args);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      const field =
        dataset === 'missing'
          ? `${file}: field 'options.dataset' is missing;`
          : `${file}: field 'options.dataset' is not valid (--dataset: expected one of 'mnist'`;
      expect(stderr).toContain(field);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).not.toMatch(/--subsample applies|Unknown dataset/);
    },
  );

  it('usam sharpness on a truncated config.json names the file, not "no config.json"', async () => {
    const out = await copyOf('truncated-config');
    const text = await readFile(join(out, 'config.json'), 'utf8');
    await writeFile(join(out, 'config.json'), text.slice(0, 40));
    const { code, stderr } = await usam(['sharpness', out, '--quiet']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/config\.json is not valid JSON/);
    expect(stderr).not.toContain('no config.json');
  });
});
