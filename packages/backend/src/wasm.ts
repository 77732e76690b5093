import type { BackendCandidate, InitBackendOptions } from './init';
import { registerWasmTrainingKernels } from './wasm-training-kernels';

/** The wasm backend plus the training kernels it lacks (SPEC §8). */
export const wasmCandidate: BackendCandidate = {
  name: 'wasm',
  tfName: 'wasm',
  howToGet: 'It ships with @usam/backend; reinstall if @tensorflow/tfjs-backend-wasm is missing.',
  async load() {
    await import('@tensorflow/tfjs-backend-wasm');
    registerWasmTrainingKernels();
  },
};

export async function prepareWasm(options: InitBackendOptions): Promise<void> {
  if (options.wasmPaths !== undefined) {
    const { setWasmPaths } = await import('@tensorflow/tfjs-backend-wasm');
    setWasmPaths(options.wasmPaths);
  }
}

export const cpuCandidate: BackendCandidate = {
  name: 'cpu',
  tfName: 'cpu',
  howToGet: 'It ships with @usam/backend; reinstall if @tensorflow/tfjs-backend-cpu is missing.',
  async load() {
    await import('@tensorflow/tfjs-backend-cpu');
  },
};
