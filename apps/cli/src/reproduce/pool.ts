import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BACKEND_CHOICES } from '../train/index';
import type { PlannedRun } from './plan';
import type { RunHooks, TrainedRun } from './run-types';

/**
 * Worker processes for `usam reproduce --jobs N` (docs/reproduce-jobs.md):
 * each trains one run at a time with `trainRun`, on its own single-threaded
 * backend, and reports its steps, epochs and outcome over IPC. The parent
 * (`runShard`) schedules runs and holds their locks.
 */

/** One run for a worker. */
export interface PoolTask {
  readonly run: PlannedRun;
  readonly dir: string;
  readonly backend?: (typeof BACKEND_CHOICES)[number];
  readonly dataDir?: string;
}

export type ToWorker =
  | { readonly type: 'train'; readonly task: PoolTask }
  | { readonly type: 'stop' };

export type FromWorker =
  | { readonly type: 'start'; readonly info: Parameters<NonNullable<RunHooks['onStart']>>[0] }
  | { readonly type: 'step'; readonly info: Parameters<NonNullable<RunHooks['onStep']>>[0] }
  | { readonly type: 'epoch'; readonly metrics: Parameters<NonNullable<RunHooks['onEpoch']>>[0] }
  | { readonly type: 'phase'; readonly phase: Parameters<NonNullable<RunHooks['onPhase']>>[0] }
  | { readonly type: 'note'; readonly note: string }
  | { readonly type: 'done'; readonly result: TrainedRun }
  | { readonly type: 'failed'; readonly error: string };

/** The worker's entry: the built `reproduce-worker.js`, or under tsx/vitest the source. */
function workerEntry(): { module: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    const tsx = createRequire(import.meta.url).resolve('tsx');
    return {
      module: join(dirname(here), 'worker.ts'),
      execArgv: ['--import', pathToFileURL(tsx).href],
    };
  }
  return { module: join(dirname(here), 'reproduce-worker.js'), execArgv: [] };
}

interface Worker {
  readonly child: ChildProcess;
  /** Why it exited, once it has. */
  exit?: string;
  busy: boolean;
}

export interface Pool {
  /** Trains one run in an idle worker (started when none is). */
  train(task: PoolTask, hooks: RunHooks, signal?: AbortSignal): Promise<TrainedRun>;
  /** Ends the workers (after their current runs). */
  close(): Promise<void>;
}

/** Starts a pool of at most `size` worker processes (started as runs need them). */
export async function startPool(size: number): Promise<Pool> {
  const entry = workerEntry();
  const workers: Worker[] = [];
  // One wasm thread per worker: N workers on N cores, not N × threads.
  const env = { ...process.env };
  delete env.USAM_WASM_THREADS;
  const spawnWorker = (): Worker => {
    const child = fork(entry.module, [], {
      execArgv: entry.execArgv,
      env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const worker: Worker = { child, busy: false };
    child.once('exit', (code, signal) => {
      worker.exit = signal ? `killed by ${signal}` : `exited with code ${code}`;
      workers.splice(workers.indexOf(worker), 1);
    });
    workers.push(worker);
    return worker;
  };
  return {
    train(task, hooks, signal) {
      const worker =
        workers.find((w) => !w.busy && w.exit === undefined) ??
        (workers.length < size ? spawnWorker() : undefined);
      if (!worker) return Promise.reject(new Error('internal: no idle worker'));
      worker.busy = true;
      const { child } = worker;
      return new Promise<TrainedRun>((resolve, reject) => {
        const onAbort = () => child.connected && child.send({ type: 'stop' } satisfies ToWorker);
        const settle = () => {
          worker.busy = false;
          child.off('message', onMessage);
          child.off('exit', onExit);
          signal?.removeEventListener('abort', onAbort);
        };
        const onMessage = (message: FromWorker) => {
          switch (message.type) {
            case 'start':
              return hooks.onStart?.(message.info);
            case 'step':
              return hooks.onStep?.(message.info);
            case 'epoch':
              return hooks.onEpoch?.(message.metrics);
            case 'phase':
              return hooks.onPhase?.(message.phase);
            case 'note':
              return hooks.onNote?.(message.note);
            case 'done':
              settle();
              return resolve(message.result);
            case 'failed':
              settle();
              return reject(new Error(message.error));
          }
        };
        const onExit = () => {
          settle();
          reject(
            new Error(
              `its worker process (pid ${child.pid}) ${worker.exit ?? 'exited'}; rerun to resume it from its checkpoint`,
            ),
          );
        };
        if (child.pid !== undefined) hooks.onWorker?.(child.pid);
        child.on('message', onMessage);
        child.once('exit', onExit);
        signal?.addEventListener('abort', onAbort, { once: true });
        child.send({ type: 'train', task } satisfies ToWorker);
        if (signal?.aborted) onAbort();
      });
    },
    async close() {
      await Promise.all(
        [...workers].map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.exit !== undefined) return resolve();
              w.child.once('exit', () => resolve());
              w.child.disconnect();
            }),
        ),
      );
    },
  };
}
