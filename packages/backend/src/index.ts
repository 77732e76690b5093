/**
 * @usam/backend, browser entry: webgl (when the app imports it), wasm, cpu.
 * Node gets `node.ts` through the `node` export condition, which adds the
 * native tfjs-node backends.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendCandidate, type BackendName, type InitBackend, makeInitBackend } from './init';
import { cpuCandidate, prepareWasm, wasmCandidate } from './wasm';
import { explainWasmFailure, packagedWasmPaths } from './wasm-paths';

/**
 * webgl is an optional peer: importing it here would make every bundle fail
 * to build without it, so the app imports it and `auto` uses it when registered.
 */
const webglCandidate: BackendCandidate = {
  name: 'webgl',
  tfName: 'webgl',
  howToGet:
    "Install @tensorflow/tfjs-backend-webgl and add `import '@tensorflow/tfjs-backend-webgl';` to your app (it needs WebGL), or use 'wasm'.",
  async load() {
    if (tf.findBackendFactory('webgl') == null) {
      throw new Error('@tensorflow/tfjs-backend-webgl is not imported by the app');
    }
  },
};

const browserWasmCandidate: BackendCandidate = {
  ...wasmCandidate,
  howToGet: "See @usam/backend's README, 'Browsers'.",
};

const CANDIDATES = [webglCandidate, browserWasmCandidate, cpuCandidate];

/** Backends `auto` tries in a browser, in order. */
export const BACKENDS: readonly BackendName[] = CANDIDATES.map((c) => c.name);

/**
 * Sets up TensorFlow.js and returns the active backend's name and the backends
 * `auto` skipped, with why. `auto` tries webgl (when the app imported
 * @tensorflow/tfjs-backend-webgl), wasm, cpu in turn; a named backend that
 * cannot start throws a `BackendError` saying how to get it. Gradients are
 * registered first. wasm loads its `.wasm` files from `options.wasmPaths`,
 * by default from inside this package (`packagedWasmPaths()`).
 */
export const initBackend: InitBackend = makeInitBackend(
  CANDIDATES,
  async () => {
    // Gradients and chained ops (some gradients call `x.reshape(…)`), as @tensorflow/tfjs does.
    await import('@tensorflow/tfjs-core/dist/register_all_gradients');
    await import('@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops');
  },
  async (candidate, options) => {
    if (candidate !== browserWasmCandidate) return undefined;
    const wasmPaths = options.wasmPaths ?? packagedWasmPaths();
    const started = await prepareWasm({ ...options, wasmPaths });
    try {
      if (!(await tf.setBackend('wasm'))) throw new Error("tfjs could not initialise 'wasm'");
    } catch (error) {
      throw new Error(await explainWasmFailure(wasmPaths, error), { cause: error });
    }
    return started;
  },
);

export * from './shared-exports';
