import { BACKENDS, type BackendName } from '@usam/backend';
import { Command, Option } from 'commander';
import { integer } from './options';
import { reproduce } from './reproduce/index';

/** Where the program writes; tests capture it, the binary uses the process streams. */
export interface ProgramOutput {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const processOutput: ProgramOutput = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** The `usam` command line. Errors in options throw a `CommanderError` (exitOverride). */
export function createProgram(output: ProgramOutput = processOutput): Command {
  const program = new Command('usam')
    .description('Universal Sharpness-Aware Minimization for TensorFlow.js')
    .configureOutput({ writeOut: output.out, writeErr: output.err })
    .showHelpAfterError('(run with --help for usage)')
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

  return program;
}
