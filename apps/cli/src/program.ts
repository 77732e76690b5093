import { BACKENDS } from '@usam/backend';
import { Command, Option } from 'commander';
import { integer } from './options';
import { reproduce } from './reproduce';

const backendOption = () =>
  new Option('-b, --backend <name>', 'TensorFlow.js backend')
    .choices(['auto', ...BACKENDS])
    .default('auto');

/** The `usam` command line. */
export function createProgram(): Command {
  const program = new Command('usam')
    .description('Universal Sharpness-Aware Minimization for TensorFlow.js')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('reproduce')
    .description("reproduce the paper's results that the installed packages cover")
    .addOption(backendOption())
    .option('-s, --seed <n>', 'random seed', integer(0), 0)
    .option('-o, --out <dir>', 'where results (JSON) are written', 'results')
    .action(async (opts: { backend: string; seed: number; out: string }) => {
      await reproduce(opts);
    });

  return program;
}
