import * as tf from '@tensorflow/tfjs-core';
import { installLeanBackward } from './lean-backward';
import { registerSecondOrderGradients } from './second-order-gradients';

/**
 * usam's backend names. Node knows `tensorflow-gpu`, `tensorflow`, `wasm`,
 * `cpu`; browsers `webgl`, `wasm`, `cpu` (`BACKENDS` lists the platform's).
 */
export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'webgl' | 'wasm' | 'cpu';

/** A backend usam knows how to load, in the order `auto` tries them. */
export interface BackendCandidate {
  /** usam's name for it (what `initBackend` takes and returns). */
  readonly name: BackendName;
  /** The name tfjs registers it under (tfjs-node and tfjs-node-gpu both say "tensorflow"). */
  readonly tfName: string;
  /** Loads and registers the backend; rejects when it is not installed or cannot load. */
  load(): Promise<void>;
  /** One line telling a user how to get this backend. */
  readonly howToGet: string;
  /** Runs once the backend has started (and before `initBackend` resolves). */
  started?(): Promise<void>;
}

/** The `.wasm` file names tfjs-backend-wasm picks from (SIMD, threads, neither). */
export type WasmFileName =
  | 'tfjs-backend-wasm.wasm'
  | 'tfjs-backend-wasm-simd.wasm'
  | 'tfjs-backend-wasm-threaded-simd.wasm';

export interface InitBackendOptions {
  /**
   * Where the wasm backend finds its `.wasm` files: a folder URL ending in `/`,
   * or a URL for each file. Browsers default to the copies inside
   * @usam/backend (`packagedWasmPaths()`); Node reads them from the installed
   * package. Passed to tfjs's `setWasmPaths`.
   */
  readonly wasmPaths?: string | Readonly<Record<WasmFileName, string>>;
  /**
   * Threads for wasm's XNNPACK kernels (matrix products, convolutions),
   * default 1; under Node also read from `USAM_WASM_THREADS`. Applies when
   * wasm starts, so pass it to the first `initBackend('wasm')` call.
   */
  readonly threads?: number;
  /**
   * Which kernels run on wasm: 'usam' (default), this package's faster and
   * corrected replacements of tfjs-backend-wasm's kernels and its SIMD module;
   * or 'tfjs', tfjs-backend-wasm's own kernel wherever it has one (what
   * tfjs-backend-wasm 4.22 gets wrong then stays wrong: docs/kernels.md). For
   * bisecting a suspect result in one line. Under Node also `USAM_KERNELS`.
   */
  readonly kernels?: 'usam' | 'tfjs';
}

/** What `initBackend` started, and what `auto` tried before it and why that failed. */
export interface InitBackendResult {
  readonly name: BackendName;
  readonly skipped: readonly { readonly name: BackendName; readonly reason: string }[];
}

/** `initBackend`'s signature, the same on every platform. */
export type InitBackend = (
  name?: 'auto' | BackendName,
  options?: InitBackendOptions,
) => Promise<InitBackendResult>;

/** Thrown for unknown or unavailable backends; the message names the fix. */
export class BackendError extends Error {
  override readonly name = 'BackendError';

  constructor(message: string, options?: { readonly cause?: unknown }) {
    super(message, options);
    // The marker of every usam error (`UsamError.isInstance` in @usam/measures,
    // docs/errors-and-vocabulary.md): this package depends on no other usam
    // package, so its error carries the marker instead of extending the base.
    Object.defineProperty(this, Symbol.for('usam.error'), { value: true });
  }
}

/** A thrown value's first line, for one-line messages. */
export const firstLine = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).split('\n')[0]!;

/**
 * Builds `initBackend` over a platform's candidates (Node and browsers differ in
 * what can exist). `registerGradients` runs once, before any backend is set:
 * tfjs-core registers no gradients on its own (docs/backends.md). The second-order
 * gradients go on top of them, so they replace tfjs's versions. The engine's
 * backward pass is made lean (lean-backward.ts) at the same time.
 */
export function makeInitBackend(
  candidates: readonly BackendCandidate[],
  registerGradients: () => Promise<void>,
  /** Runs before the backend starts; what it returns runs once it has. */
  prepare: (
    candidate: BackendCandidate,
    options: InitBackendOptions,
  ) => Promise<undefined | (() => void)>,
): InitBackend {
  const valid = ['auto', ...candidates.map((c) => c.name)];
  let gradients: Promise<void> | undefined;

  return async function initBackend(
    name: 'auto' | BackendName = 'auto',
    options: InitBackendOptions = {},
  ): Promise<InitBackendResult> {
    if (!valid.includes(name)) {
      const got = typeof name === 'string' ? `'${name}'` : String(name);
      throw new BackendError(`Unknown backend ${got}. Valid backends: ${valid.join(', ')}.`);
    }
    gradients ??= registerGradients().then(() => {
      registerSecondOrderGradients();
      installLeanBackward();
    });
    await gradients;
    const tried = name === 'auto' ? candidates : candidates.filter((c) => c.name === name);
    const skipped: { name: BackendName; reason: string }[] = [];
    for (const candidate of tried) {
      try {
        await candidate.load();
        const started = await prepare(candidate, options);
        if (!(await tf.setBackend(candidate.tfName))) {
          throw new Error(`tfjs could not initialise '${candidate.tfName}'`);
        }
        await tf.ready();
        if (typeof started === 'function') started();
        await candidate.started?.();
        return { name: candidate.name, skipped };
      } catch (error) {
        const reason = firstLine(error);
        skipped.push({ name: candidate.name, reason });
        if (name !== 'auto') {
          throw new BackendError(
            `Backend '${name}' is not available (${reason}). ${candidate.howToGet}`,
            { cause: error },
          );
        }
      }
    }
    throw new BackendError(
      `No TensorFlow.js backend could start (${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}).`,
    );
  };
}
