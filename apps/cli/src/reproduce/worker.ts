/**
 * A `usam reproduce --jobs N` worker process (started by pool.ts over IPC):
 * trains the runs it is sent, one at a time, and reports back. SIGINT and
 * SIGTERM (a Ctrl+C reaches the whole process group) and a `stop` message
 * checkpoint the current run at its step, as `usam train` does.
 */
import type { FromWorker, ToWorker } from './pool';
import { trainRun, usamTrain } from './runs';

const send = (message: FromWorker) => {
  if (process.connected) process.send!(message);
};
let current: AbortController | undefined;
let exitWhenIdle = false;
const stop = () => current?.abort();
process.on('SIGINT', stop).on('SIGTERM', stop);
process.on('disconnect', () => {
  if (current) {
    exitWhenIdle = true;
    stop();
  } else process.exit(0);
});
process.on('message', async (message: ToWorker) => {
  if (message.type === 'stop') return stop();
  const { run, dir, backend, dataDir } = message.task;
  current = new AbortController();
  try {
    const result = await trainRun(
      run,
      dir,
      { trainer: usamTrain, backend, dataDir, signal: current.signal },
      {
        onStart: (info) => send({ type: 'start', info }),
        onStep: (info) => send({ type: 'step', info }),
        onEpoch: (metrics) => send({ type: 'epoch', metrics }),
        onPhase: (phase) => send({ type: 'phase', phase }),
        onNote: (note) => send({ type: 'note', note }),
      },
    );
    send({ type: 'done', result });
  } catch (error) {
    const text = (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
    send({ type: 'failed', error: text });
  } finally {
    current = undefined;
    if (exitWhenIdle) process.exit(0);
  }
});
