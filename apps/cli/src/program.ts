import { VARIANTS, type Variant } from '@usam/optimizer';
import { Command } from 'commander';
import { version } from '../package.json';
import { type ProgramOutput, processOutput } from './cli/output';
import { measureCommand } from './commands/measure';
import { sharpnessCommand } from './commands/sharpness';
import { trainCommand } from './commands/train';
import { reportCommand } from './report/command';
import { reproduceCommand } from './reproduce/command';

export type { ProgramOutput } from './cli/output';

/** Commander's output through `output`, each error on one line (its hint joined to it). */
const configured = (output: ProgramOutput) => ({
  writeOut: output.out,
  writeErr: output.err,
  outputError: (text: string, write: (text: string) => void) =>
    write(`${text.trimEnd().replace(/\n+/g, ' ')}\n`),
});

/** The `usam` command line. Errors in options throw a `CommanderError` (exitOverride). */
export function createProgram(
  output: ProgramOutput = processOutput,
  { variants = VARIANTS }: { readonly variants?: readonly Variant[] } = {},
): Command {
  const program = new Command('usam')
    .description('Universal Sharpness-Aware Minimization for TensorFlow.js')
    .version(version, '-V, --version', 'the usam version')
    .configureOutput(configured(output))
    .exitOverride();

  for (const command of [
    trainCommand(output, variants),
    sharpnessCommand(output),
    measureCommand(output),
    reproduceCommand(output),
    reportCommand(output),
  ]) {
    program.addCommand(command.copyInheritedSettings(program));
  }
  return program;
}
