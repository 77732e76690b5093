/**
 * Runs differential cases (differential.ts) in child processes, so that one
 * kernel corrupting wasm's heap cannot hide or cause the next failure: each
 * worker stops at its first failure and a fresh one goes on after it; every
 * failure is then rerun alone in a fresh process. Node only (tests and
 * scripts/fuzz.ts).
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { debugKernelsFile } from '../scripts/compile-kernels';
import { bundleForNode } from '../tfjs-core-registrations';

export interface Failure {
  readonly index: number;
  readonly reproduction: string;
  readonly failure: string;
  /** Whether it also fails alone, in a fresh process (false: only after the cases before it). */
  readonly alone: boolean;
}

export interface RunSummary {
  readonly seed: number;
  readonly cases: number;
  readonly failures: Failure[];
}

let worker: Promise<string> | undefined;

/** The worker, bundled as the build bundles src/node.ts (see tfjs-core-registrations.ts). */
function bundledWorker(): Promise<string> {
  worker ??= (async () => {
    const dir = fileURLToPath(new URL('../node_modules/.usam-test/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    const outfile = join(dir, `differential-worker-${process.pid}.mjs`);
    await bundleForNode(
      fileURLToPath(new URL('./differential-worker.ts', import.meta.url)),
      outfile,
    );
    return outfile;
  })();
  return worker;
}

/** The bundled worker, and the debug build of the SIMD module for it (release if undefined). */
interface Worker {
  file: string;
  debug?: string;
}

interface Line {
  index: number;
  failure?: string;
  reproduction?: string;
}

/** Runs cases from…to−1 in one worker: the last index it finished, and its failure if any. */
function runWorker(
  { file, debug }: Worker,
  seed: number,
  from: number,
  to: number,
  onCase: () => void,
): Promise<{ last: number; failed?: Line; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, String(seed), String(from), String(to)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, USAM_SIMD_DEBUG_MODULE: debug ?? '' },
    });
    let last = from - 1;
    let failed: Line | undefined;
    let buffered = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const text of lines) {
        if (!text.startsWith('{')) continue;
        const line = JSON.parse(text) as Line;
        last = line.index;
        onCase();
        if (line.failure !== undefined) failed = line;
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ last, failed, stderr, code }));
  });
}

const lastLine = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('at ') && !/^=+$|Hi, looks like/.test(l))
    .at(-1) ?? 'no output';

/** One slice of cases, restarted after each failure. */
async function runSlice(
  file: Worker,
  seed: number,
  from: number,
  to: number,
  onCase: () => void,
): Promise<Omit<Failure, 'alone'>[]> {
  const failures: Omit<Failure, 'alone'>[] = [];
  let next = from;
  while (next < to) {
    const { last, failed, stderr, code } = await runWorker(file, seed, next, to, onCase);
    if (failed !== undefined) {
      failures.push({
        index: failed.index,
        failure: failed.failure!,
        reproduction: failed.reproduction!,
      });
      next = failed.index + 1;
    } else if (code === 0 && last === to - 1) {
      next = to;
    } else {
      // The process died inside case last + 1 (an abort, or worse).
      onCase();
      failures.push({
        index: last + 1,
        failure: `kills the process (exit ${code}): ${lastLine(stderr)}`,
        reproduction: `case ${last + 1} of seed ${seed} — pnpm --filter @usam/backend fuzz --seed ${seed} --from ${last + 1} --cases 1`,
      });
      next = last + 2;
    }
  }
  return failures;
}

/**
 * Runs `cases` cases of `seed` from index `from`, in `parallel` worker
 * processes at a time; `onProgress` hears the number of cases done.
 */
export async function runDifferential({
  seed,
  cases,
  from = 0,
  parallel = 2,
  release = false,
  onProgress,
}: {
  seed: number;
  cases: number;
  from?: number;
  parallel?: number;
  /** Against the release build of the SIMD module, not the bounds-checked debug build. */
  release?: boolean;
  onProgress?: (done: number) => void;
}): Promise<RunSummary> {
  const file: Worker = {
    file: await bundledWorker(),
    debug: release ? undefined : await debugKernelsFile(),
  };
  let done = 0;
  const onCase = () => onProgress?.(++done);
  const slices = Math.max(1, Math.min(parallel, cases));
  const bounds = Array.from(
    { length: slices + 1 },
    (_, i) => from + Math.round((cases * i) / slices),
  );
  const found = (
    await Promise.all(
      bounds.slice(0, -1).map((start, i) => runSlice(file, seed, start, bounds[i + 1]!, onCase)),
    )
  ).flat();
  const failures: Failure[] = [];
  for (const f of found) {
    const alone = await runSlice(file, seed, f.index, f.index + 1, () => {});
    failures.push({ ...f, alone: alone.length > 0 });
  }
  return { seed, cases, failures };
}
