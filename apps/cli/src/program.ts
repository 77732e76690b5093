import { Command } from 'commander';
import { version } from '../package.json';
import { type ProgramOutput, processOutput } from './cli/output';
import { measureCommand } from './commands/measure';
import { sharpnessCommand } from './commands/sharpness';
import { trainCommand } from './commands/train';
import { reportCommand } from './report/command';
import { reproduceCommand } from './reproduce/command';

export type { ProgramOutput } from './cli/output';

/** The `usam` command line. Errors in options throw a `CommanderError` (exitOverride). */
export function createProgram(output: ProgramOutput = processOutput): Command {
  const program = new Command('usam')
    .description('Universal Sharpness-Aware Minimization for TensorFlow.js')
    .version(version, '-V, --version', 'the usam version')
    .configureOutput({ writeOut: output.out, writeErr: output.err })
    .exitOverride();

  for (const command of [
    trainCommand(output),
    sharpnessCommand(output),
    measureCommand(output),
    reproduceCommand(output),
    reportCommand(output),
  ]) {
    program.addCommand(
      command.configureOutput({ writeOut: output.out, writeErr: output.err }).exitOverride(),
    );
  }
  return program;
}
