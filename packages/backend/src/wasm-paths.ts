import * as tf from '@tensorflow/tfjs-core';
import { firstLine, type InitBackendOptions, type WasmFileName } from './init';

/**
 * The URLs of the `.wasm` files inside @usam/backend (the build copies them
 * from @tensorflow/tfjs-backend-wasm into `dist/`, next to this module).
 * Written as `new URL('./file', import.meta.url)`, the pattern Vite, webpack 5,
 * Rollup and Parcel recognise: they copy each file into the app and rewrite its
 * URL. `initBackend('wasm')` uses them in browsers unless given `wasmPaths`;
 * pass them to tfjs's `setWasmPaths` when starting the backend yourself.
 */
export function packagedWasmPaths(): Record<WasmFileName, string> {
  return {
    'tfjs-backend-wasm.wasm': new URL('./tfjs-backend-wasm.wasm', import.meta.url).href,
    'tfjs-backend-wasm-simd.wasm': new URL('./tfjs-backend-wasm-simd.wasm', import.meta.url).href,
    'tfjs-backend-wasm-threaded-simd.wasm': new URL(
      './tfjs-backend-wasm-threaded-simd.wasm',
      import.meta.url,
    ).href,
  };
}

/** The file tfjs-backend-wasm fetches on this browser (its own rule). */
async function chosenWasmFile(): Promise<WasmFileName> {
  const [simd, threads] = await Promise.all([
    tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
    tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'),
  ]);
  if (simd && threads) return 'tfjs-backend-wasm-threaded-simd.wasm';
  return simd ? 'tfjs-backend-wasm-simd.wasm' : 'tfjs-backend-wasm.wasm';
}

/**
 * Why the wasm backend did not start in a browser, in one line: tfjs only says
 * "make sure the server can serve the .wasm file". Fetches the file tfjs asked
 * for and names its URL and what came back (a 404, or a dev server's
 * index.html), with the fix.
 */
export async function explainWasmFailure(
  paths: NonNullable<InitBackendOptions['wasmPaths']>,
  error: unknown,
): Promise<string> {
  const file = await chosenWasmFile();
  const url =
    typeof paths === 'string'
      ? new URL(`${paths}${file}`, globalThis.location?.href).href
      : paths[file];
  let problem: string;
  try {
    const response = await fetch(url);
    const head = new Uint8Array(await response.arrayBuffer()).subarray(0, 4);
    const isWasm = head.length === 4 && head.every((b, i) => b === [0, 0x61, 0x73, 0x6d][i]);
    if (!response.ok) problem = `HTTP ${response.status}`;
    else if (!isWasm)
      problem = `not a .wasm file but ${response.headers.get('content-type') ?? 'no content type'}`;
    else return firstLine(error);
  } catch (fetchError) {
    problem = firstLine(fetchError);
  }
  return (
    `could not load ${url} (${problem}): serve the .wasm files of @usam/backend/dist/ ` +
    `(or @tensorflow/tfjs-backend-wasm/dist/) there, or pass ` +
    `initBackend('wasm', { wasmPaths: '<URL of the folder holding them>/' })`
  );
}
