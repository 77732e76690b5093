/**
 * @usam/backend, browser entry: webgl, wasm, cpu. Node gets `node.ts` through
 * the `node` export condition, which adds the native tfjs-node backends.
 */
import { type BackendCandidate, type InitBackendOptions, makeInitBackend } from './init';
import { cpuCandidate, prepareWasm, wasmCandidate } from './wasm';

const webglCandidate: BackendCandidate = {
  name: 'webgl',
  tfName: 'webgl',
  howToGet: 'webgl needs a browser with WebGL; use wasm or cpu elsewhere.',
  async load() {
    await import('@tensorflow/tfjs-backend-webgl');
  },
};

/** Backends `auto` tries in a browser, in order. */
export const BACKENDS = [webglCandidate, wasmCandidate, cpuCandidate].map((c) => c.name);

/**
 * Sets up TensorFlow.js and returns the active backend's name. `auto` tries
 * webgl, wasm, cpu in turn; a named backend that cannot start throws a
 * `BackendError` saying how to get it. Gradients are registered first.
 */
export const initBackend: (name?: string, options?: InitBackendOptions) => Promise<string> =
  makeInitBackend(
    [webglCandidate, wasmCandidate, cpuCandidate],
    async () => {
      await import('@tensorflow/tfjs-core/dist/register_all_gradients');
    },
    (candidate, options) =>
      candidate === wasmCandidate ? prepareWasm(options) : Promise.resolve(undefined),
  );

export { BackendError, type InitBackendOptions } from './init';
export { registerSecondOrderGradients } from './second-order-gradients';
export { registerWasmTrainingKernels } from './wasm-training-kernels';
