#!/usr/bin/env node
import { CommanderError } from 'commander';
import { errorLine, exitCodeFor } from './cli/errors';
import { createProgram } from './program';

// One line for the user, never a stack trace (set USAM_DEBUG=1 for one). Exit 2 for
// bad input (options, names, combinations, files), 1 for anything else.
try {
  await createProgram().parseAsync(process.argv);
} catch (error) {
  const code = exitCodeFor(error);
  // Commander has already printed its own message (and help, version).
  if (!(error instanceof CommanderError)) {
    process.stderr.write(`${errorLine(error)}\n`);
  }
  if (process.env.USAM_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exit(code);
}
process.exit(process.exitCode ?? 0);
