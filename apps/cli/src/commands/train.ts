import { VARIANTS, type Variant } from '@usam/optimizer';
import { Command, Option } from 'commander';
import { knownDivergence } from '../cli/divergence';
import { UsageError } from '../cli/errors';
import { readJsonFile } from '../cli/files';
import { type ProgramOutput, printJson } from '../cli/output';
import { progressMode, trainProgress } from '../cli/progress';
import { MEASURE_NAMES } from '../measures';
import { listArg, numberArg } from '../options';
import {
  BACKEND_CHOICES,
  flag,
  LR_SCHEDULES,
  type PartialTrainOptions,
  resolveTrainOptions,
  resumeOptions,
  TRAIN_DEFAULTS,
  TRAIN_OPTION_NAMES,
  train,
  variantOptions,
} from '../train/index';

const d = (value: unknown) =>
  ` (default: ${Array.isArray(value) ? value.join(',') : String(value)})`;
const D = TRAIN_DEFAULTS;

/** Exit codes of a run stopped by a signal (128 + signal number, the shell's convention). */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/** `--config FILE`: the same options as JSON, camelCase (or the flags' kebab-case) keys. */
async function readConfig(path: string): Promise<PartialTrainOptions> {
  const json = await readJsonFile('--config', path);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new UsageError(`--config '${path}' must hold a JSON object of train options.`);
  }
  return Object.fromEntries(
    Object.entries(json).map(([k, v]) => [
      k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()),
      v,
    ]),
  ) as PartialTrainOptions;
}

/**
 * The flags of the variants' options, from @usam/optimizer's table: each with
 * its range and its default per optimizer that takes it.
 */
function variantFlags(variants: readonly Variant[]): Option[] {
  return [...variantOptions(variants)].flatMap(([key, users]) => {
    if (users.length === 0) return [];
    const { option } = users[0]!;
    const shown = (o: (typeof users)[number]['option']) =>
      o.default === undefined ? (o.defaultNote ?? 'none') : String(o.default);
    const defaults =
      users.length === 1
        ? shown(option)
        : users.map((u) => `${u.variant.name} ${shown(u.option)}`).join(', ');
    const who = users.length === 1 ? `${users[0]!.variant.name}: ` : '';
    const argument =
      option.type === 'choice' ? 'name' : option.symbol.length === 1 ? option.symbol : key[0];
    const flagged = new Option(
      `${flag(key)} <${argument}>`,
      `${who}${option.description} (default: the paper's for --dataset; else ${defaults})`,
    );
    return [
      option.type === 'choice'
        ? flagged.choices(option.choices ?? [])
        : flagged.argParser(numberArg),
    ];
  });
}

/** `usam train`: one training run with a run directory. `variants`: the optimizers it offers. */
export function trainCommand(
  output: ProgramOutput,
  variants: readonly Variant[] = VARIANTS,
): Command {
  const command = new Command('train')
    .description('train a model with a sharpness-aware optimizer, writing a run directory')
    .addOption(new Option('--dataset <name>', `dataset, with -s/-c variants${d(D.dataset)}`))
    .option(
      '--data-dir <dir>',
      'directory holding the official dataset files (default: the cache, downloading what is missing)',
    )
    .option(
      '--subsample <f>',
      `-s datasets: fraction of the training set kept${d(D.subsample)}`,
      numberArg,
    )
    .option(
      '--corrupt <f>',
      `-c datasets: fraction of training labels flipped${d(D.corrupt)}`,
      numberArg,
    )
    .option('--augment', 'random crop and flip (default: on for CIFAR, off otherwise)')
    .option('--no-augment', 'no augmentation')
    .addOption(
      new Option('--model <name>', 'model (default: mlp for MNIST, resnet18 otherwise)').choices([
        'mlp',
        'cnn',
        'resnet18',
      ]),
    )
    .option('--width <w>', `width multiplier of the model${d(D.width)}`, numberArg)
    .addOption(
      new Option(
        '--optimizer <name>',
        `optimizer: ${variants.map((v) => `${v.name} (${v.summary})`).join(', ')}${d(D.optimizer)}`,
      ).choices(variants.map((v) => v.name)),
    )
    .option(
      '--measure <name>',
      `${variants
        .filter((v) => v.needs.includes('measure'))
        .map((v) => v.name)
        .join(
          ', ',
        )}: the catalogue measure, one of ${MEASURE_NAMES.join(', ')} (default: none, required there)`,
    );
  for (const option of variantFlags(variants)) command.addOption(option);
  return command
    .option(
      '--m-sharpness <m>',
      `m-sharpness: perturb m parts of each batch separately; a last batch smaller than m is dropped${d(D.mSharpness)}`,
      numberArg,
    )
    .option(
      '--epochs <n>',
      `epochs (default: ${D.epochs}; on MNIST 20, on its -s subsets 100)`,
      numberArg,
    )
    .option(
      '--patience <epochs>',
      'stop early once test accuracy has not improved by more than --min-delta for this many epochs (docs/early-stopping.md; default: train every epoch)',
      numberArg,
    )
    .option(
      '--min-delta <fraction>',
      'with --patience: the test-accuracy gain that counts as improving (default: 0.001, i.e. 0.1 points)',
      numberArg,
    )
    .option('--batch-size <n>', `examples per step${d(D.batchSize)}`, numberArg)
    .option(
      '--lr <lr>',
      `initial learning rate (default: ${D.lr}; on MNIST 0.01, on mnist-full 0.001 as in Figure 2)`,
      numberArg,
    )
    .addOption(
      new Option(
        '--lr-schedule <name>',
        `learning-rate schedule (default: ${D.lrSchedule}; constant on MNIST)`,
      ).choices(LR_SCHEDULES),
    )
    .option(
      '--milestones <list>',
      `multistep: epochs where the rate is multiplied by gamma${d(D.milestones)}`,
      listArg(numberArg),
    )
    .option('--gamma <γ>', `multistep: factor at each milestone${d(D.gamma)}`, numberArg)
    .option('--momentum <μ>', `SGD momentum${d(D.momentum)}`, numberArg)
    .option(
      '--weight-decay <wd>',
      'L2 weight decay (default: 5e-4; 1e-3 for CIFAR-100, 0 on MNIST)',
      numberArg,
    )
    .option(
      '--seed <n>',
      `seed of the model, data order, corruption and perturbations${d(D.seed)}`,
      numberArg,
    )
    .addOption(
      new Option('--backend <name>', `TensorFlow.js backend${d(D.backend)}`).choices(
        BACKEND_CHOICES,
      ),
    )
    .option(
      '--measure-every <epochs>',
      `measure the Hessian every this many epochs, 0 for never${d(D.measureEvery)}`,
      numberArg,
    )
    .addOption(
      new Option(
        '--hessian <list>',
        `Hessian quantities to measure (trace, frobenius, top-eigenvalue)${d(D.hessian)}`,
      ).argParser(listArg((s) => (s === 'top-eigenvalue' ? 'topEigenvalue' : s))),
    )
    .option(
      '--hessian-examples <n>',
      `training examples the Hessian is measured on${d(D.hessianExamples)}`,
      numberArg,
    )
    .option('--probes <n>', `probe vectors per Hessian estimate${d(D.probes)}`, numberArg)
    .option('--out <dir>', 'run directory (default: runs/<dataset>-<optimizer>-seed<seed>)')
    .option('--resume', 'continue the run in --out from its checkpoint (only --epochs may change)')
    .option('--force', 'start over, replacing the run in --out')
    .option(
      '--config <file>',
      'JSON file of these options (camelCase keys); flags override it (default: none)',
    )
    .option('--json', 'print the summary as one JSON document on stdout, nothing else there')
    .option('--quiet', 'no progress output')
    .action(async (flags: Record<string, unknown>) => {
      const fromFlags = Object.fromEntries(
        Object.entries(flags).filter(
          ([k, v]) => v !== undefined && (TRAIN_OPTION_NAMES as readonly string[]).includes(k),
        ),
      ) as PartialTrainOptions;
      let partial: PartialTrainOptions = {
        ...(typeof flags.config === 'string' ? await readConfig(flags.config) : {}),
        ...fromFlags,
      };
      if (partial.resume) partial = await resumeOptions(partial, variants);
      const options = resolveTrainOptions(partial, variants);
      const unstable = knownDivergence(options);
      if (unstable)
        output.err(`usam train: warning: ${unstable}.
`);
      const progress = trainProgress(progressMode(flags.quiet === true));
      const controller = new AbortController();
      let stoppedBy: keyof typeof SIGNAL_EXIT | undefined;
      const stop = (signal: keyof typeof SIGNAL_EXIT) => {
        if (stoppedBy) process.exit(SIGNAL_EXIT[signal]); // a second signal: now
        stoppedBy = signal;
        controller.abort();
      };
      const onInt = () => stop('SIGINT');
      const onTerm = () => stop('SIGTERM');
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
      try {
        const summary = await train(options, { signal: controller.signal, variants, ...progress });
        progress.stop();
        const { diverged } = summary;
        if (flags.json) {
          printJson(output, summary);
        } else if (diverged) {
          const kept = diverged.checkpoint
            ? `the checkpoint of the last finite state (epoch ${diverged.checkpoint.epoch}${diverged.checkpoint.step ? `, step ${diverged.checkpoint.step}` : ''}) is kept`
            : 'no epoch finished, so there is no checkpoint';
          output.err(
            `usam train: diverged at epoch ${diverged.epoch}, step ${diverged.step} (loss ${diverged.loss}; ${diverged.reason}); stopped, ${kept}, and ${options.out}/diverged.json records it. Lower --lr (or λ), then start over with --force.\n`,
          );
        } else if (!summary.completed) {
          output.err(
            `usam train: stopped at epoch ${summary.interrupted!.epoch + 1}, step ${summary.interrupted!.step}; checkpoint written. Continue with: usam train --out ${options.out} --resume\n`,
          );
        } else {
          output.out(
            `usam train: done, ${summary.epochs} epochs in ${summary.seconds.toFixed(1)} s; test accuracy ${(100 * summary.finalTestAccuracy).toFixed(2)}%, test loss ${summary.finalTestLoss.toFixed(4)}; run directory ${options.out}\n`,
          );
        }
        if (diverged) process.exitCode = 1;
        else if (!summary.completed) process.exitCode = SIGNAL_EXIT[stoppedBy ?? 'SIGINT'];
      } finally {
        progress.stop();
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
      }
    });
}
