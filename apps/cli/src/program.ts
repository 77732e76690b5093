import { Command } from 'commander';
import { addReportCommand } from './report/command';
import { addReproduceCommand } from './reproduce/command';
import type { Trainer } from './reproduce/runs';

/** Where the program writes; tests capture it, the binary uses the process streams. */
export interface ProgramOutput {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const processOutput: ProgramOutput = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

// Loaded on first use: training pulls in the models and datasets.
const loadTrainer = async (): Promise<Trainer> => {
  throw new Error(
    'usam reproduce: training needs `usam train` (not built yet); run --experiments checks.',
  );
};

/** The `usam` command line. Errors in options throw a `CommanderError` (exitOverride). */
export function createProgram(output: ProgramOutput = processOutput): Command {
  const program = new Command('usam')
    .description('Universal Sharpness-Aware Minimization for TensorFlow.js')
    .configureOutput({ writeOut: output.out, writeErr: output.err })
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  addReproduceCommand(program, output, loadTrainer);
  addReportCommand(program, output);

  return program;
}
