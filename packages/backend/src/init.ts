import * as tf from '@tensorflow/tfjs-core';
import { registerSecondOrderGradients } from './second-order-gradients';

/** A backend usam knows how to load, in the order `auto` tries them. */
export interface BackendCandidate {
  /** usam's name for it (what `initBackend` takes and returns). */
  readonly name: string;
  /** The name tfjs registers it under (tfjs-node and tfjs-node-gpu both say "tensorflow"). */
  readonly tfName: string;
  /** Loads and registers the backend; rejects when it is not installed or cannot load. */
  load(): Promise<void>;
  /** One line telling a user how to get this backend. */
  readonly howToGet: string;
}

export interface InitBackendOptions {
  /**
   * Where the wasm backend finds its `.wasm` files (browsers only; Node reads
   * them from the installed package). Passed to tfjs's `setWasmPaths`.
   */
  readonly wasmPaths?: string;
  /**
   * Threads for wasm's XNNPACK kernels (matrix products, convolutions),
   * default 1; under Node also read from `USAM_WASM_THREADS`. Applies when
   * wasm starts, so pass it to the first `initBackend('wasm')` call.
   */
  readonly threads?: number;
}

/** Thrown for unknown or unavailable backends; the message names the fix. */
export class BackendError extends Error {
  override readonly name = 'BackendError';
}

/**
 * Builds `initBackend` over a platform's candidates (Node and browsers differ in
 * what can exist). `registerGradients` runs once, before any backend is set:
 * tfjs-core registers no gradients on its own (SPEC §8). The second-order
 * gradients go on top of them, so they replace tfjs's versions.
 */
export function makeInitBackend(
  candidates: readonly BackendCandidate[],
  registerGradients: () => Promise<void>,
  /** Runs before the backend starts; what it returns runs once it has. */
  prepare: (
    candidate: BackendCandidate,
    options: InitBackendOptions,
  ) => Promise<undefined | (() => void)>,
) {
  const valid = ['auto', ...candidates.map((c) => c.name)];
  let gradients: Promise<void> | undefined;

  return async function initBackend(
    name = 'auto',
    options: InitBackendOptions = {},
  ): Promise<string> {
    if (!valid.includes(name)) {
      throw new BackendError(`Unknown backend '${name}'. Valid backends: ${valid.join(', ')}.`);
    }
    gradients ??= registerGradients().then(registerSecondOrderGradients);
    await gradients;
    const tried = name === 'auto' ? candidates : candidates.filter((c) => c.name === name);
    const failures: string[] = [];
    for (const candidate of tried) {
      try {
        await candidate.load();
        const started = await prepare(candidate, options);
        if (!(await tf.setBackend(candidate.tfName))) {
          throw new Error(`tfjs could not initialise '${candidate.tfName}'`);
        }
        await tf.ready();
        if (typeof started === 'function') started();
        return candidate.name;
      } catch (error) {
        const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
        failures.push(`${candidate.name}: ${reason}`);
        if (name !== 'auto') {
          throw new BackendError(
            `Backend '${name}' is not available (${reason}). ${candidate.howToGet}`,
          );
        }
      }
    }
    throw new BackendError(`No TensorFlow.js backend could start (${failures.join('; ')}).`);
  };
}
