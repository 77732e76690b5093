import { BACKENDS, type BackendName } from '@usam/backend';
import { Command, Option } from 'commander';
import { version } from '../package.json';
import { type ProgramOutput, processOutput } from './cli/output';
import { measureCommand } from './commands/measure';
import { sharpnessCommand } from './commands/sharpness';
import { trainCommand } from './commands/train';
import { integer } from './options';
import { reproduce } from './reproduce/index';

export type { ProgramOutput } from './cli/output';

/** Commander's output through `output`, each error on one line (its hint joined to it). */
const configured = (output: ProgramOutput) => ({
  writeOut: output.out,
  writeErr: output.err,
  outputError: (text: string, write: (text: string) => void) =>
    write(`${text.trimEnd().replace(/\n+/g, ' ')}\n`),
});

/** The `usam` command line. Errors in options throw a `CommanderError` (exitOverride). */
export function createProgram(output: ProgramOutput = processOutput): Command {
  const program = new Command('usam')
    .description('Universal Sharpness-Aware Minimization for TensorFlow.js')
    .version(version, '-V, --version', 'the usam version')
    .configureOutput(configured(output))
    .exitOverride();

  program
    .command('reproduce')
    .description("reproduce the paper's results that the installed packages cover")
    .addOption(
      new Option('-b, --backend <name>', 'TensorFlow.js backend')
        .choices(['auto', ...BACKENDS])
        .default('auto'),
    )
    .option('-s, --seed <n>', 'random seed', integer(0), 0)
    .option('-o, --out <dir>', 'where results (JSON) are written', 'results')
    .option('-n, --samples <n>', 'draws per Monte Carlo / zeroth-order estimate', integer(2), 2000)
    .action(
      async (opts: {
        backend: 'auto' | BackendName;
        seed: number;
        out: string;
        samples: number;
      }) => {
        await reproduce({ ...opts, log: (line) => output.out(`${line}\n`) });
      },
    );

  for (const command of [trainCommand(output), sharpnessCommand(output), measureCommand(output)]) {
    program.addCommand(command.copyInheritedSettings(program));
  }
  return program;
}
