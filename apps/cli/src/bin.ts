#!/usr/bin/env node
import { CommanderError } from 'commander';
import { createProgram } from './program';

// One line for the user, never a stack trace (set USAM_DEBUG=1 for one).
try {
  await createProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`usam: ${message.split('\n')[0]}\n`);
  if (process.env.USAM_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exit(1);
}
