import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
/** The built binary the tests run, as users do. */
export const BIN = join(root, 'dist', 'bin.js');

const newest = (dir: string): number =>
  Math.max(
    ...readdirSync(dir, { withFileTypes: true }).map((e) =>
      e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs,
    ),
  );

/** Fails at once, with the fix, when dist/ is missing or older than src/. */
export function requireFreshBuild(): void {
  let built: number;
  try {
    built = statSync(BIN).mtimeMs;
  } catch {
    throw new Error(`${BIN} is missing; build first: pnpm --filter @usam/cli build`);
  }
  const sources = Math.max(newest(join(root, 'src')), statSync(join(root, 'package.json')).mtimeMs);
  if (sources > built) {
    throw new Error(`${BIN} is older than src/; rebuild: pnpm --filter @usam/cli build`);
  }
}

export interface Result {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts `usam ARGS` (stdin closed, stdout and stderr piped: not a TTY). */
export function start(args: readonly string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, USAM_DEBUG: '', NO_COLOR: '', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const done = new Promise<Result>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child: child as ChildProcess, done };
}

/** Runs `usam ARGS` to the end. */
export const usam = (args: readonly string[], env: Record<string, string> = {}): Promise<Result> =>
  start(args, env).done;
