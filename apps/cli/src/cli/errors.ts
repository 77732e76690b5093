import { UsamError } from '@usam/measures';
import { CommanderError } from 'commander';

/**
 * A mistake in what the user asked for (bad option, unknown name, impossible
 * combination, missing file): exit code 2, one line naming the problem and the fix.
 */
export class UsageError extends UsamError {
  override readonly name = 'UsageError';

  static override isInstance(error: unknown): error is UsageError {
    return UsamError.isNamed(error, 'UsageError');
  }
}

/**
 * A run that could not finish through no fault of the input (a full disk, runs
 * of a sweep that failed): exit code 1, one line naming what to do, the
 * original as `cause`. On the shared base (docs/errors-and-vocabulary.md), so
 * callers can tell a usam failure from a crash by `UsamError.isInstance`.
 */
export class RunError extends UsamError {
  override readonly name = 'RunError';

  static override isInstance(error: unknown): error is RunError {
    return UsamError.isNamed(error, 'RunError');
  }
}

/**
 * Exit code of a failure: 2 for bad input (ours, commander's, the packages'),
 * 1 for a `RunError` and anything else.
 */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) {
    // Help and --version exit 0; every parse error is a usage error.
    return error.exitCode === 0 ? 0 : 2;
  }
  if (RunError.isInstance(error)) return 1;
  // The packages' own errors are input errors too: their messages name the fix.
  if (UsamError.isInstance(error)) return 2;
  if (isMissingFile(error)) return 2;
  return 1;
}

/** Node's ENOENT/EISDIR/ENOTDIR from reading a file the user named. */
function isMissingFile(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR';
}

/** The one line the user sees (the stack only with USAM_DEBUG=1). */
export function errorLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `usam: ${message.split('\n')[0]}`;
}
