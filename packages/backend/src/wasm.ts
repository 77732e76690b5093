import * as tf from '@tensorflow/tfjs-core';
import { type BackendCandidate, BackendError, type InitBackendOptions } from './init';
import { instantiateSimdKernels, type WasmHeap } from './simd-kernels';
import { registerWasmTrainingKernels, useWasmKernels } from './wasm-training-kernels';

/** The wasm backend plus the training kernels it lacks (docs/backends.md). */
export const wasmCandidate: BackendCandidate = {
  name: 'wasm',
  tfName: 'wasm',
  howToGet: 'It ships with @usam/backend; reinstall if @tensorflow/tfjs-backend-wasm is missing.',
  async load() {
    await import('@tensorflow/tfjs-backend-wasm');
    registerWasmTrainingKernels();
  },
  async started() {
    await instantiateSimdKernels(tf.backend() as unknown as WasmHeap);
  },
};

/**
 * Applies `wasmPaths` and `threads` before wasm starts. `allowThreads` does
 * what a platform needs for threads beyond tfjs's own check (Node: see
 * wasm-threads.ts) and returns what to do once wasm has started.
 */
export async function prepareWasm(
  options: InitBackendOptions,
  allowThreads?: (threads: number) => () => void,
): Promise<undefined | (() => void)> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const { kernels = 'usam' } = options;
  if (kernels !== 'usam' && kernels !== 'tfjs') {
    const got = typeof kernels === 'string' ? `'${kernels}'` : String(kernels);
    throw new BackendError(`initBackend: kernels must be 'usam' or 'tfjs', got ${got}.`);
  }
  useWasmKernels(kernels);
  if (options.wasmPaths !== undefined) wasm.setWasmPaths(options.wasmPaths);
  const { threads } = options;
  if (threads === undefined) return undefined;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new BackendError(
      `initBackend: threads must be an integer ≥ 1, got ${typeof threads === 'string' ? `'${threads}'` : String(threads)}; pass e.g. { threads: 2 }.`,
    );
  }
  let started: number | undefined;
  try {
    started = wasm.getThreadsCount();
  } catch {
    // wasm has not started yet: the count applies when it does.
  }
  if (started !== undefined && started !== threads) {
    throw new BackendError(
      `initBackend: the wasm backend already runs with ${started} thread(s); pass { threads: ${threads} } to the first initBackend call.`,
    );
  }
  wasm.setThreadsCount(threads);
  return started === undefined && threads > 1 ? allowThreads?.(threads) : undefined;
}

export const cpuCandidate: BackendCandidate = {
  name: 'cpu',
  tfName: 'cpu',
  howToGet: 'It ships with @usam/backend; reinstall if @tensorflow/tfjs-backend-cpu is missing.',
  async load() {
    await import('@tensorflow/tfjs-backend-cpu');
  },
  async started() {
    // tfjs-backend-cpu warns once, on its first tensor under Node, "looks like you are running
    // TensorFlow.js in Node.js… install our node backend". Here cpu was asked for, or `auto`
    // already tried tfjs-node and reports why it was skipped, so that banner only adds noise.
    const cpu = tf.findBackend('cpu') as { firstUse?: boolean } | null;
    if (cpu !== null && cpu.firstUse === true) cpu.firstUse = false;
  },
};
