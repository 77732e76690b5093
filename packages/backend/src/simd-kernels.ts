/**
 * Our wasm SIMD kernels (assembly/kernels.ts, compiled into
 * generated/kernels-wasm.ts), run on tfjs-backend-wasm's own heap: the module
 * is instantiated with wasm's `WebAssembly.Memory` as its memory, so kernels
 * read and write tensors in place, by their heap addresses, with no copies. The
 * module owns nothing in that heap (no data, no allocations); scratch space is
 * a tensor the caller allocates. Heap growth replaces the memory's buffer, not
 * the memory, and addresses stay valid, so nothing here can go stale.
 *
 * wasm with threads has a shared memory, which only a module declaring a
 * shared memory can import: a second build of the same source. Our kernels
 * run on the calling thread only, between wasm's own kernels.
 *
 * Where they cannot run, `simdKernels` returns undefined and callers keep
 * their JavaScript or XNNPACK versions: an engine without wasm SIMD (tfjs then
 * runs its non-SIMD build too).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { KERNELS_WASM, KERNELS_WASM_SHARED } from './generated/kernels-wasm';

/**
 * Floats in a chunk of the conv gradients' scratch (conv-filter-gradient.ts,
 * conv-input-gradient.ts): 8 MiB. Mutable only so that the differential
 * harness can cross chunk boundaries with small tensors.
 */
export const CONV_CHUNKING = { floats: 1 << 21 };

/** A convolution's sizes as the module's conv kernels take them (NHWC). */
export type ConvGeometry = [
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
];

/** `info`'s geometry, with dy's spatial size (the convolution that produced dy). */
export const convGeometry = (
  info: tf.backend_util.Conv2DInfo,
  [ho, wo]: [number, number],
): ConvGeometry => [
  info.batchSize,
  info.inHeight,
  info.inWidth,
  info.inChannels,
  ho,
  wo,
  info.filterHeight,
  info.filterWidth,
  info.strideHeight,
  info.strideWidth,
  info.dilationHeight,
  info.dilationWidth,
  info.padInfo.top,
  info.padInfo.left,
];

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
  sumRows(x: number, out: number, acc: number, rows: number, cols: number, scale: number): void;
  im2colT(
    x: number,
    out: number,
    ...args: [...geometry: ConvGeometry, r0: number, r1: number]
  ): void;
  /** c (+)= a·b, a(m, k) at byte a + m·aM + k·aK (see assembly/kernels.ts). */
  matmul(
    a: number,
    aM: number,
    aK: number,
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
    ...args: [...geometry: ConvGeometry, p0: number, p1: number, zero: boolean]
  ): void;
  addRows(x: number, bias: number, out: number, rows: number, cols: number): void;
  flipSwapFilter(w: number, out: number, taps: number, cin: number, cout: number): void;
}

/** What these kernels need of tfjs-backend-wasm's BackendWasm (not exported as a type). */
export interface WasmHeap {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
  getMemoryOffset(dataId: tf.DataId): number;
  disposeData(dataId: tf.DataId): boolean;
  /** One more reference to a tensor's buffer (how Reshape shares data). */
  incRef(dataId: tf.DataId): void;
  /**
   * The emscripten module: `asm` is its instance's exports, with `memory`
   * unless threaded; threaded, the (shared) memory is `wasmMemory`.
   */
  wasm: { asm?: { memory?: unknown }; wasmMemory?: unknown };
}

/** The heap address of a tensor's data. */
export const address = (backend: WasmHeap, info: tf.TensorInfo): number =>
  backend.getMemoryOffset(info.dataId);

const instances = new WeakMap<WebAssembly.Memory, SimdKernels | null>();
let disabled = false;

const decode = (base64: string) => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));

/** wasm's memory, and our module's bytes for it. */
function memoryOf(
  backend: WasmHeap,
): { memory: WebAssembly.Memory; bytes: () => Uint8Array<ArrayBuffer> } | undefined {
  const memory = backend.wasm.asm?.memory ?? backend.wasm.wasmMemory;
  if (!(memory instanceof WebAssembly.Memory)) return undefined;
  const shared =
    typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  return { memory, bytes: () => decode(shared ? KERNELS_WASM_SHARED : KERNELS_WASM) };
}

/**
 * Instantiates the module on `backend`'s memory, asynchronously: browsers
 * refuse synchronous compiles of larger modules on their main thread
 * (Chromium: over 4 KiB in older versions, 8 MiB in recent ones). `initBackend('wasm')`
 * awaits this. An engine without wasm SIMD fails to compile it: the fallbacks
 * run there.
 */
export async function instantiateSimdKernels(backend: WasmHeap): Promise<void> {
  const { memory, bytes } = memoryOf(backend) ?? {};
  if (memory === undefined || bytes === undefined || instances.has(memory)) return;
  try {
    const { instance } = await WebAssembly.instantiate(bytes(), { env: { memory } });
    instances.set(memory, instance.exports as unknown as SimdKernels);
  } catch {
    instances.set(memory, null);
  }
}

/**
 * The kernels on `backend`'s heap, or undefined where they cannot run (see
 * above). Without `instantiateSimdKernels` first (wasm started by other means
 * than `initBackend`) this instantiates synchronously, where the engine allows.
 */
export function simdKernels(backend: WasmHeap): SimdKernels | undefined {
  if (disabled) return undefined;
  const { memory, bytes } = memoryOf(backend) ?? {};
  if (memory === undefined || bytes === undefined) return undefined;
  let kernels = instances.get(memory);
  if (kernels === undefined) {
    try {
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes()), {
        env: { memory },
      });
      kernels = instance.exports as unknown as SimdKernels;
    } catch {
      kernels = null;
    }
    instances.set(memory, kernels);
  }
  return kernels ?? undefined;
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
