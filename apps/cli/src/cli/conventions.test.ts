import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { version } from '../../package.json';
import { requireFreshBuild, usam } from '../test-binary';

let dir: string;
let file: string;
let badJson: string;
beforeAll(async () => {
  requireFreshBuild();
  dir = await mkdtemp(join(tmpdir(), 'usam-conventions-'));
  file = join(dir, 'a-file');
  await writeFile(file, 'not a directory');
  badJson = join(dir, 'bad.json');
  await writeFile(badJson, '{ "lr": ');
});

/** The escape that starts every ANSI colour code. */
const ANSI = '\u001b[';

// Each bad input: exit 2, one line on stderr naming the problem and the fix, nothing on stdout.
const BAD: [string, () => string[], RegExp][] = [
  ['unknown command', () => ['tarin'], /unknown command 'tarin'/],
  ['unknown option', () => ['train', '--learning-rate', '0.1'], /unknown option '--learning-rate'/],
  ['unknown optimizer', () => ['train', '--optimizer', 'adam'], /'adam' is invalid.*sgd, sam/],
  [
    'unknown dataset',
    () => ['train', '--dataset', 'imagenet'],
    /--dataset: expected one of 'mnist'.*got 'imagenet'/,
  ],
  ['not a number', () => ['train', '--lr', 'fast'], /--lr <lr>.*expected a number, got 'fast'/],
  [
    'non-integer epochs',
    () => ['train', '--epochs', '2.5'],
    /--epochs: expected an integer ≥ 1 and ≤ 100000, got 2\.5/,
  ],
  [
    'negative rho',
    () => ['train', '--optimizer', 'sam', '--rho', '-1'],
    /--rho: expected a number ≥ 0, got -1/,
  ],
  [
    'zero rho for the family',
    () => ['train', '--optimizer', 'trace-sam', '--rho', '0'],
    /--rho: expected a number > 0 .*got 0/,
  ],
  [
    'frob-sam with one sample',
    () => ['train', '--optimizer', 'frob-sam', '--samples', '1'],
    /--samples: expected an integer ≥ 2 .*got 1/,
  ],
  [
    'option of another optimizer',
    () => ['train', '--optimizer', 'sam', '--eta', '0.1'],
    /--eta does not apply to --optimizer sam; it is an option of 'asam'/,
  ],
  [
    'universal without a measure',
    () => ['train', '--optimizer', 'universal'],
    /--optimizer universal needs --measure NAME; valid names are 'trace'/,
  ],
  [
    'unknown measure',
    () => ['train', '--optimizer', 'universal', '--measure', 'curvature'],
    /unknown measure 'curvature'; valid names/,
  ],
  [
    'subsample without -s',
    () => ['train', '--dataset', 'mnist', '--subsample', '0.5'],
    /--subsample applies to '-s' datasets only; use --dataset mnist-s/,
  ],
  [
    'milestones without multistep',
    () => ['train', '--lr-schedule', 'cosine', '--milestones', '10'],
    /--milestones applies to --lr-schedule multistep only/,
  ],
  [
    'm-sharpness not dividing the batch',
    () => ['train', '--optimizer', 'sam', '--m-sharpness', '3'],
    /--m-sharpness 3 does not divide --batch-size 128/,
  ],
  [
    'resume and force',
    () => ['train', '--resume', '--force', '--out', join(dir, 'x')],
    /--resume and --force contradict/,
  ],
  [
    'resume of nothing',
    () => ['train', '--resume', '--out', join(dir, 'nothing')],
    /--resume: .*holds no run/,
  ],
  [
    '--out is a file',
    () => ['train', '--out', file],
    /--out '.*a-file' is a file, not a directory/,
  ],
  [
    'missing --config',
    () => ['train', '--config', join(dir, 'none.json')],
    /--config '.*none\.json' does not exist/,
  ],
  [
    'invalid --config',
    () => ['train', '--config', badJson],
    /--config '.*bad\.json' is not valid JSON/,
  ],
  [
    'unknown key in --config',
    () => ['train', '--config', join(dir, 'typo.json')],
    /unknown train option 'learningRate'; valid names are dataset/,
  ],
  ['missing run dir', () => ['sharpness', join(dir, 'no-run')], /is not a usam run directory/],
  [
    'missing matrix file',
    () => ['measure', join(dir, 'h.json')],
    /neither a file nor a toy example/,
  ],
  [
    'non-square matrix',
    () => ['measure', join(dir, 'ragged.json')],
    /does not hold a square matrix/,
  ],
  [
    '--k without example2',
    () => ['measure', 'example1', '--k', '2'],
    /--k applies to example2 only/,
  ],
  [
    'too few samples',
    () => ['measure', 'example1', '--samples', '1'],
    /--samples.*expected an integer in \[2,/,
  ],
  // The estimators' cap (docs/long-estimators.md): a range error, not a call that never ends.
  [
    'measure: absurd samples',
    () => ['measure', 'example1', '--samples', '1e9'],
    /--samples.*expected an integer in \[2, 1000000\], got '1e9'/,
  ],
  [
    'sharpness: absurd probes',
    () => ['sharpness', dir, '--probes', '1e12'],
    /--probes.*expected an integer in \[2, 1000000\], got '1e12'/,
  ],
];

describe('bad input: exit 2, one line naming the fix, no stack trace', () => {
  beforeAll(async () => {
    await writeFile(join(dir, 'typo.json'), JSON.stringify({ learningRate: 0.1 }));
    await writeFile(join(dir, 'ragged.json'), '[[1, 2], [3]]');
  });

  it.each(BAD)('%s', async (_, args, message) => {
    const { code, stdout, stderr } = await usam(args());
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it('USAM_DEBUG=1 adds the stack trace', async () => {
    const { code, stderr } = await usam(['train', '--epochs', '0'], { USAM_DEBUG: '1' });
    expect(code).toBe(2);
    expect(stderr).toMatch(/^\s+at /m);
  });
});

describe('conventions', () => {
  it('usam --version prints the version', async () => {
    const { code, stdout } = await usam(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(version);
  });

  it.each(['train', 'sharpness', 'measure', 'reproduce'])(
    '`usam %s --help` lists every option with its default',
    async (command) => {
      const { code, stdout } = await usam([command, '--help']);
      expect(code).toBe(0);
      const options = stdout
        .split('Options:')[1]!
        .split(/\n(?=\s+-)/)
        .filter((o) => o.includes('--'));
      expect(options.length).toBeGreaterThan(3);
      for (const option of options) {
        // Flags without a value are off unless given; every option with a value names its default.
        if (/^\s+(-\w, )?--[\w-]+ </.test(option) && !/--help/.test(option)) {
          expect(option.replace(/\s+/g, ' '), command).toMatch(/default/);
        }
      }
    },
  );

  it('`usam --help` lists the commands', async () => {
    const { stdout } = await usam(['--help']);
    for (const command of ['train', 'sharpness', 'measure', 'reproduce']) {
      expect(stdout).toContain(command);
    }
  });

  it('piped output and NO_COLOR carry no ANSI codes', async () => {
    for (const env of [{}, { NO_COLOR: '1', FORCE_COLOR: '1' }] as Record<string, string>[]) {
      const { stdout, stderr } = await usam(['measure', 'example1', '--samples', '10'], env);
      expect(stdout).toContain('│');
      expect(stdout).not.toContain(ANSI);
      expect(stderr).not.toContain(ANSI);
    }
  });
});
