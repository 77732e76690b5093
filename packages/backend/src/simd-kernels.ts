/**
 * Our wasm SIMD kernels (assembly/kernels.ts, compiled into
 * generated/kernels-wasm.ts), run on tfjs-backend-wasm's own heap: the module
 * is instantiated with wasm's `WebAssembly.Memory` as its memory, so kernels
 * read and write tensors in place, by their heap addresses, with no copies. The
 * module owns nothing in that heap (no data, no allocations); scratch space is
 * a tensor the caller allocates. Heap growth replaces the memory's buffer, not
 * the memory, and addresses stay valid, so nothing here can go stale.
 *
 * Where they cannot run, `simdKernels` returns undefined and callers keep
 * their JavaScript or XNNPACK versions: a shared memory (wasm with threads;
 * importing it would need a second, shared-memory build of the module) or an
 * engine without wasm SIMD (tfjs then runs its non-SIMD build too).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { KERNELS_WASM } from './generated/kernels-wasm';

/** The exports of assembly/kernels.ts; pointers are byte addresses in wasm's heap. */
export interface SimdKernels {
  maxPoolGrad(
    x: number,
    dy: number,
    dx: number,
    batch: number,
    h: number,
    w: number,
    c: number,
    ho: number,
    wo: number,
    fh: number,
    fw: number,
    sh: number,
    sw: number,
    top: number,
    left: number,
  ): void;
  addRows(x: number, bias: number, out: number, rows: number, cols: number): void;
  matmulRows(
    a: number,
    b: number,
    c: number,
    m: number,
    k: number,
    n: number,
    accumulate: boolean,
  ): void;
  col2imAdd(
    col: number,
    dx: number,
    batch: number,
    h: number,
    w: number,
    cin: number,
    ho: number,
    wo: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    rh: number,
    rw: number,
    top: number,
    left: number,
    p0: number,
    p1: number,
    zero: boolean,
  ): void;
  sumRows(x: number, out: number, acc: number, rows: number, cols: number, scale: number): void;
  im2colT(
    x: number,
    out: number,
    batch: number,
    h: number,
    w: number,
    cin: number,
    ho: number,
    wo: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    rh: number,
    rw: number,
    top: number,
    left: number,
  ): void;
}

/** What these kernels need of tfjs-backend-wasm's BackendWasm (not exported as a type). */
export interface WasmHeap {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
  getMemoryOffset(dataId: tf.DataId): number;
  disposeData(dataId: tf.DataId): boolean;
  /** The emscripten module: `asm` is its instance's exports (with `memory` unless threaded). */
  wasm: { asm?: { memory?: unknown }; wasmMemory?: unknown };
}

/** The heap address of a tensor's data. */
export const address = (backend: WasmHeap, info: tf.TensorInfo): number =>
  backend.getMemoryOffset(info.dataId);

let compiled: WebAssembly.Module | null | undefined;
const instances = new WeakMap<WebAssembly.Memory, SimdKernels>();
let disabled = false;

/**
 * The module, compiled on first use. Synchronous compiles of modules over 4 KiB
 * are refused on browsers' main threads; a test keeps ours below that.
 */
function compiledModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(
        Uint8Array.from(atob(KERNELS_WASM), (c) => c.charCodeAt(0)),
      );
    } catch {
      compiled = null; // no wasm SIMD here
    }
  }
  return compiled;
}

/** The kernels on `backend`'s heap, or undefined where they cannot run (see above). */
export function simdKernels(backend: WasmHeap): SimdKernels | undefined {
  if (disabled) return undefined;
  const memory = backend.wasm.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return undefined; // threaded build: imported, shared
  if (typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer) {
    return undefined;
  }
  let kernels = instances.get(memory);
  if (kernels === undefined) {
    const module = compiledModule();
    if (module === null) return undefined;
    kernels = new WebAssembly.Instance(module, { env: { memory } })
      .exports as unknown as SimdKernels;
    instances.set(memory, kernels);
  }
  return kernels;
}

/** Runs `body` with the SIMD kernels switched off, so tests can check the fallbacks. */
export function withoutSimdKernels<T>(body: () => T): T {
  disabled = true;
  try {
    return body();
  } finally {
    disabled = false;
  }
}
