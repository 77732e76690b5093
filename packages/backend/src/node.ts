/**
 * @usam/backend, Node entry: adds the native backends from the optional peers
 * @tensorflow/tfjs-node-gpu and @tensorflow/tfjs-node, tried before wasm and cpu.
 */
import { env } from 'node:process';
import {
  type BackendCandidate,
  BackendError,
  type BackendName,
  firstLine,
  type InitBackend,
  makeInitBackend,
} from './init';
import { cpuCandidate, prepareWasm, wasmCandidate } from './wasm';
import { allowWasmThreadsInNode } from './wasm-threads';

/** `USAM_WASM_THREADS` as a number, or undefined when unset. */
const threadsFromEnv = () => {
  const value = env.USAM_WASM_THREADS;
  if (value === undefined || value === '') return undefined;
  if (!/^[1-9][0-9]*$/.test(value)) {
    throw new BackendError(
      `USAM_WASM_THREADS must be an integer ≥ 1, got '${value}'; set e.g. USAM_WASM_THREADS=2, or unset it.`,
    );
  }
  return Number(value);
};

/** `USAM_KERNELS` ('usam' or 'tfjs'), or undefined when unset. */
const kernelsFromEnv = () => {
  const value = env.USAM_KERNELS;
  if (value === undefined || value === '') return undefined;
  if (value !== 'usam' && value !== 'tfjs') {
    throw new BackendError(
      `USAM_KERNELS must be 'usam' or 'tfjs', got '${value}'; set USAM_KERNELS=tfjs to run tfjs-backend-wasm's own kernels, or unset it.`,
    );
  }
  return value;
};

/** Imports a package by a computed name, so bundlers and tsc leave optional peers alone. */
const importOptional = (specifier: string): Promise<unknown> =>
  import(/* @vite-ignore */ specifier);

const nativeCandidate = (name: BackendName, pkg: string, extra: string): BackendCandidate => ({
  name,
  tfName: 'tensorflow',
  howToGet: `Install it with \`npm install ${pkg}\` (its install downloads libtensorflow${extra}), or use 'wasm'.`,
  async load() {
    try {
      await importOptional(pkg);
    } catch (error) {
      const missing = (error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND';
      if (missing && firstLine(error).includes(`'${pkg}'`)) {
        throw new Error(`${pkg} is not installed`, { cause: error });
      }
      throw error;
    }
  },
});

const CANDIDATES = [
  nativeCandidate('tensorflow-gpu', '@tensorflow/tfjs-node-gpu', ' and needs CUDA'),
  nativeCandidate('tensorflow', '@tensorflow/tfjs-node', ''),
  wasmCandidate,
  cpuCandidate,
];

/** Backends `auto` tries under Node, in order. */
export const BACKENDS: readonly BackendName[] = CANDIDATES.map((c) => c.name);

/**
 * Sets up TensorFlow.js and returns the active backend's name (usam's name:
 * 'tensorflow-gpu', 'tensorflow', 'wasm' or 'cpu') and the backends `auto`
 * skipped, with why. `auto` tries them in that order; a named backend that
 * cannot start throws a `BackendError` saying how to get it. Gradients are
 * registered first (tfjs-core's Node bundle has none, docs/backends.md).
 */
export const initBackend: InitBackend = makeInitBackend(
  CANDIDATES,
  async () => {
    await import('./node-registrations');
  },
  (candidate, options) =>
    candidate === wasmCandidate
      ? prepareWasm(
          {
            ...options,
            threads: options.threads ?? threadsFromEnv(),
            kernels: options.kernels ?? kernelsFromEnv(),
          },
          allowWasmThreadsInNode,
        )
      : Promise.resolve(undefined),
);

export * from './shared-exports';
