/**
 * wasm threads under Node (Node entry only).
 *
 * tfjs-backend-wasm 4.22 switches threads off when it runs in Node
 * (WASM_HAS_MULTITHREAD_SUPPORT is false there), because its pthread workers
 * are created from blob: URLs, which Node's worker_threads cannot load. With
 * the flag forced on, this supplies what is missing: the worker script, written
 * to a file once, and the threaded module loaded in each worker with `require`
 * instead of from the blob tfjs posts to it.
 */
import { renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pid } from 'node:process';
import * as tf from '@tensorflow/tfjs-core';

const require = createRequire(import.meta.url);
const WASM_OUT = '@tensorflow/tfjs-backend-wasm/wasm-out';
/** Stands for the main script the worker would otherwise read from a blob. */
const MAIN_SCRIPT = 'usam:tfjs-backend-wasm-threaded-simd';

/**
 * tfjs's worker script as tfjs puts it in a blob: newlines escaped, since the
 * text has some inside string literals.
 */
function workerScript(): string {
  const { wasmWorkerContents } = require(
    `${WASM_OUT}/tfjs-backend-wasm-threaded-simd.worker.js`,
  ) as {
    wasmWorkerContents: string;
  };
  return wasmWorkerContents.replace(/\n/g, '\\n');
}

/** Writes the pthread worker (once per process) and returns its path. */
function writeWorker(script: string): string {
  const mainScript = require.resolve(`${WASM_OUT}/tfjs-backend-wasm-threaded-simd.js`);
  const source = [
    "// Written by @usam/backend: tfjs-backend-wasm's pthread worker, runnable from a file in Node.",
    `globalThis.WasmBackendModuleThreadedSimd = require(${JSON.stringify(mainScript)});`,
    script,
    // After tfjs's worker code has defined importScripts: the main script is loaded above.
    `URL.createObjectURL = () => ${JSON.stringify(MAIN_SCRIPT)};`,
    'URL.revokeObjectURL = () => {};',
    'const usamImportScripts = importScripts;',
    `globalThis.importScripts = (f) => { if (f !== ${JSON.stringify(MAIN_SCRIPT)}) usamImportScripts(f); };`,
  ].join('\n');
  const file = join(tmpdir(), `usam-tfjs-wasm-worker-${pid}.cjs`);
  // Written whole, then renamed: a worker never reads a half-written file.
  writeFileSync(`${file}.tmp`, source);
  renameSync(`${file}.tmp`, file);
  return file;
}

let installed = false;

/**
 * Lets the wasm backend start with `threads` threads under Node when tfjs next
 * initialises it (after `setThreadsCount(threads)`). Call right before
 * `tf.setBackend('wasm')`; call what it returns once wasm has started.
 */
export function allowWasmThreadsInNode(threads: number): () => void {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  // tfjs caps its thread pool at half the logical cores (assuming two hardware
  // threads per core), read once from os.cpus() as the module starts; that
  // read sees enough cores for the count asked for.
  const cpus = os.cpus;
  os.cpus = () => {
    os.cpus = cpus;
    const real = cpus();
    return real.length >= 2 * threads
      ? real
      : Array.from({ length: 2 * threads }, (_, i) => real[i % real.length]!);
  };
  if (!installed) {
    installed = true;
    installWorkerFile();
  }
  return releaseThreads;
}

/**
 * Emscripten keeps the workers of running pthreads referenced, and XNNPACK's
 * pool threads run for the life of the module: without this, a Node process
 * that used threaded wasm would never exit on its own.
 */
function releaseThreads(): void {
  const module = (
    tf.backend() as unknown as { wasm?: { PThread?: { runningWorkers?: { unref?(): void }[] } } }
  ).wasm;
  for (const worker of module?.PThread?.runningWorkers ?? []) worker.unref?.();
}

function installWorkerFile(): void {
  const script = workerScript();
  const file = writeWorker(script);
  // tfjs hands Emscripten a blob: URL of the same script; a blob of exactly
  // its size and type gets the file.
  const size = Buffer.byteLength(script);
  const createObjectURL = URL.createObjectURL;
  URL.createObjectURL = (object: Blob) =>
    object instanceof Blob && object.type === 'application/javascript' && object.size === size
      ? file
      : createObjectURL(object);
}
