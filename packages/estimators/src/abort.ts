import { UsamError } from '@usam/measures';
import { describe, EstimatorError } from './errors';

/**
 * Thrown (as a rejection) when an estimator's `signal` is aborted. Its name is
 * `'AbortError'`, as the platform's own aborts are (fetch, streams), so code
 * that checks `error.name === 'AbortError'` treats it alike; it is also a
 * `UsamError`, one line naming the call and how far it got, with the signal's
 * reason as `cause` (docs/long-estimators.md).
 */
export class AbortError extends UsamError {
  override readonly name = 'AbortError';

  static override isInstance(error: unknown): error is AbortError {
    return UsamError.isNamed(error, 'AbortError');
  }
}

/**
 * The most HVPs (probes, samples, iterations) or grid points one estimator
 * call may ask for: a million products of even a tiny model take minutes, and
 * `probes: 1e12` would never end (docs/long-estimators.md).
 */
export const MAX_COUNT = 1_000_000;

/** `value` ≤ MAX_COUNT, or an `EstimatorError` naming the argument. */
export function requireAtMost(where: string, what: string, value: number, unit: string): number {
  if (value > MAX_COUNT) {
    throw new EstimatorError(
      `${where}: ${what} must be ≤ ${MAX_COUNT} (each costs ${unit}), got ${describe(value)}; pass ${what}: ${MAX_COUNT} or fewer, and a signal to stop a long call early.`,
    );
  }
  return value;
}

/** An `AbortSignal`, undefined, or an `EstimatorError` naming `signal`. */
export function requireSignal(where: string, signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  const s = signal as Partial<AbortSignal> | null;
  if (
    s === null ||
    typeof s !== 'object' ||
    typeof s.aborted !== 'boolean' ||
    typeof s.addEventListener !== 'function'
  ) {
    throw new EstimatorError(
      `${where}: signal must be an AbortSignal, got ${describe(signal)}; pass new AbortController().signal (or AbortSignal.timeout(ms)).`,
    );
  }
  return signal as AbortSignal;
}

/**
 * How long an estimator runs between yields to the event loop. On the cpu and
 * wasm backends `await tensor.data()` resolves in a microtask, so a loop of
 * HVPs never lets timers, I/O, a Ctrl-C handler or the abort itself run; a
 * macrotask every 10 ms does, at a cost far below one HVP per 10 ms.
 */
export const YIELD_MS = 10;

type Schedule = (resume: () => void) => void;

/** The cheapest macrotask there is: setImmediate (Node), a MessageChannel (browsers), else setTimeout. */
const macrotask: Schedule = (() => {
  const g = globalThis as { setImmediate?: (f: () => void) => unknown };
  if (typeof g.setImmediate === 'function') return (resume) => g.setImmediate!(resume);
  if (typeof MessageChannel === 'function') {
    return (resume) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        channel.port1.close();
        resume();
      };
      channel.port2.postMessage(null);
    };
  }
  return (resume) => setTimeout(resume, 0);
})();

const reasonText = (reason: unknown): string =>
  reason instanceof Error ? reason.message.split('\n')[0]! : describe(reason);

/**
 * A long estimator's pace keeper. `next()` is awaited before each unit of
 * work (one HVP): it rejects with an `AbortError` once `signal` is aborted,
 * and yields to the event loop every `YIELD_MS`. `done` counts the units begun.
 */
export function pacer(
  where: string,
  signal: AbortSignal | undefined,
  total: number,
  unit: string,
): { next(): Promise<void>; readonly done: number } {
  let done = 0;
  let last = performance.now();
  const check = () => {
    if (signal?.aborted) {
      throw new AbortError(
        `${where}: aborted after ${done} of ${total} ${unit} (${reasonText(signal.reason)}); it returns nothing and its tensors are disposed, so call it again to start over.`,
        { cause: signal.reason },
      );
    }
  };
  return {
    async next() {
      check();
      const now = performance.now();
      if (now - last >= YIELD_MS) {
        await new Promise<void>((resume) => macrotask(resume));
        last = performance.now();
        check();
      }
      done++;
    },
    get done() {
      return done;
    },
  };
}
