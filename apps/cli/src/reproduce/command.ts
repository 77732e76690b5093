import { BACKENDS } from '@usam/backend';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { integer } from '../options';
import type { ProgramOutput } from '../program';
import { defaultOut, reproduce, type Step } from './index';
import { EXPERIMENTS, PROFILES, type Profile } from './plan';
import { formatProgress } from './progress';
import type { Trainer } from './runs';
import { parseShard, type Shard, ShardError, shardFromEnv } from './shard';

const STEPS: readonly Step[] = ['checks', ...EXPERIMENTS];

function stepList(raw: string): Step[] {
  const steps = raw.split(',').map((s) => s.trim());
  const unknown = steps.filter((s) => !STEPS.includes(s as Step));
  if (unknown.length > 0) {
    throw new InvalidArgumentError(
      `unknown ${unknown.map((s) => `'${s}'`).join(', ')}; expected a comma-separated list of ${STEPS.join(', ')}.`,
    );
  }
  return steps as Step[];
}

function shardOption(raw: string): Shard {
  try {
    return parseShard(raw);
  } catch (error) {
    if (error instanceof ShardError) throw new InvalidArgumentError(error.message);
    throw error;
  }
}

/** `usam reproduce`, added to `program`. */
export function addReproduceCommand(
  program: Command,
  output: ProgramOutput,
  trainer: () => Promise<Trainer>,
): void {
  program
    .command('reproduce')
    .description(
      "reproduce the paper's Figure 2 and Tables 2–3 (and the checks needing no training)",
    )
    .addOption(
      new Option(
        '-p, --profile <name>',
        'quick (MNIST, ~15 min on 2 cores), full (MNIST at the paper scale), paper (CIFAR/SVHN, ResNet-18), tiny (a test)',
      )
        .choices(PROFILES)
        .default('quick'),
    )
    .option(
      '-e, --experiments <list>',
      `what to run, of ${STEPS.join(', ')} (default: checks and the profile's experiments)`,
      stepList,
    )
    .addOption(
      new Option('-b, --backend <name>', 'TensorFlow.js backend')
        .choices(['auto', ...BACKENDS])
        .default('auto'),
    )
    .option('-s, --seed <n>', 'seed of the checks and first seed of the runs', integer(0), 0)
    .option('-o, --out <dir>', 'output directory (default: results/<profile>)')
    .option(
      '-n, --samples <n>',
      'draws per Monte Carlo / zeroth-order estimate in the checks',
      integer(2),
      2000,
    )
    .option(
      '--shard <k/N>',
      'run the k-th (0-based) of N disjoint balanced parts (default: from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX, else all)',
      shardOption,
    )
    .option('--dry-run', 'print the run matrix (every run as its usam train command) and stop')
    .action(
      async (opts: {
        profile: Profile;
        experiments?: Step[];
        backend: string;
        seed: number;
        out?: string;
        samples: number;
        shard?: Shard;
        dryRun?: boolean;
      }) => {
        const experiments = opts.experiments ?? undefined;
        const needsTraining = (experiments ?? EXPERIMENTS).some((s) => s !== 'checks');
        await reproduce({
          ...opts,
          out: opts.out ?? defaultOut(opts.profile),
          shard: opts.shard ?? shardFromEnv(process.env),
          trainer: needsTraining && !opts.dryRun ? await trainer() : undefined,
          log: (line) => output.out(`${line}\n`),
          onProgress: (p) => output.err(`${formatProgress(p)}\n`),
        });
      },
    );
}
