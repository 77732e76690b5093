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

/**
 * The sizes `winogradInput` takes: the input's (NHWC), the 2×2 output tiles
 * along each axis, and the padding before the first row and column (negative
 * to skip input; docs/conv-kernels.md).
 */
export type WinogradGeometry = [
  batch: number,
  h: number,
  w: number,
  cin: number,
  /** V's channels, at least cin (those past cin are zeros). */
  vc: number,
  tilesH: number,
  tilesW: number,
  top: number,
  left: number,
];

/**
 * Floats of a Winograd U, V or M buffer: 16 planes of rows × cols floats, each with 16
 * floats of padding after it (assembly/kernels.ts, `planeBytes`).
 */
export const winogradFloats = (rows: number, cols: number) => 16 * (rows * cols + 16);

/** The exports of assembly/kernels.ts; pointers are byte addresses in wasm's heap. */
export interface RawKernels {
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
  // The Winograd F(2×2, 3×3) convolution (conv-winograd.ts; docs/conv-kernels.md).
  winogradFilter(w: number, u: number, cin: number, cout: number): void;
  winogradInput(
    x: number,
    v: number,
    ...args: [...geometry: WinogradGeometry, t0: number, t1: number]
  ): void;
  winogradProducts(v: number, u: number, m: number, tiles: number, cin: number, cout: number): void;
  winogradOutput(
    m: number,
    y: number,
    bias: number,
    batch: number,
    ho: number,
    wo: number,
    cout: number,
    tilesH: number,
    tilesW: number,
    t0: number,
    t1: number,
    hasBias: boolean,
    relu: boolean,
  ): void;
  winogradGradientTiles(
    dy: number,
    u: number,
    batch: number,
    ho: number,
    wo: number,
    cout: number,
    tilesH: number,
    tilesW: number,
    t0: number,
    t1: number,
  ): void;
  winogradGradientProducts(
    v: number,
    u: number,
    m: number,
    tiles: number,
    cin: number,
    cout: number,
    accumulate: boolean,
  ): void;
  winogradFilterGradient(m: number, dw: number, pairs: number): void;
  addRows(x: number, bias: number, out: number, rows: number, cols: number): void;
  /** c = act(c + bias) in place (act 0 linear, 1 relu, 2 relu6). */
  biasActivation(
    c: number,
    bias: number,
    rows: number,
    cols: number,
    withBias: boolean,
    act: number,
  ): void;
  flipSwapFilter(w: number, out: number, taps: number, cin: number, cout: number): void;
  /** out = w·x, or out += w·x (n floats). */
  axpy(x: number, out: number, n: number, w: number, accumulate: boolean): void;
  /** out = wx·x + wy·y (n floats), in one pass. */
  axpby(x: number, y: number, out: number, n: number, wx: number, wy: number): void;
  /** acc[0] += #non-finite entries of x, acc[1] += Σ x² (two float64 at acc). */
  finiteSquares(x: number, n: number, acc: number): void;
  /** n draws into out from the stream at state (32 bytes), ziggurat tables at tables (384 float64). */
  draws(out: number, n: number, state: number, tables: number, which: number, scale: number): void;
  /** x ← x·factor in place, in float64 rounded once (n floats). */
  scaleF64(x: number, n: number, factor: number): void;
  /** acc[1] += Σ ((|x| + η)·g)² (two float64 at acc). */
  adaptiveSquares(x: number, g: number, n: number, eta: number, acc: number): void;
  /** out = T·(T·g), T = |x| + η (n floats). */
  adaptiveDirection(x: number, g: number, out: number, n: number, eta: number): void;
  /** acc[0] += #non-finite entries of x (a float64 at acc). */
  countNonFinite(x: number, n: number, acc: number): void;
  /** out = x ⊙ y (n floats). */
  mulEntries(x: number, y: number, out: number, n: number): void;
  /** out = |x| + c (n floats). */
  absAdd(x: number, out: number, n: number, c: number): void;
  /** The momentum update of one variable: x', a' from x, g, a (n floats each). */
  momentum(
    x: number,
    g: number,
    a: number,
    outX: number,
    outA: number,
    n: number,
    m: number,
    c: number,
    nesterov: boolean,
  ): void;
  /** Adam's update of one variable: x', m', v' from x, g, m, v (n floats each). */
  adam(
    x: number,
    g: number,
    m: number,
    v: number,
    outX: number,
    outM: number,
    outV: number,
    n: number,
    beta1: number,
    oneMinusBeta1: number,
    beta2: number,
    oneMinusBeta2: number,
    a1: number,
    a2: number,
    epsilon: number,
    negLr: number,
  ): void;
}

/**
 * A float32 tensor's data, or its data from element `offset` on: what a
 * kernel is given to read or write.
 */
export type Buf = tf.TensorInfo | readonly [info: tf.TensorInfo, offset: number];

/** Where each kernel's buffers are in its argument list (the other arguments are sizes). */
const POSITIONS = {
  maxPoolGrad: [0, 1, 2],
  sumRows: [0, 1, 2],
  im2colT: [0, 1],
  matmul: [0, 3, 4],
  col2imAdd: [0, 1],
  winogradFilter: [0, 1],
  winogradInput: [0, 1],
  winogradProducts: [0, 1, 2],
  winogradOutput: [0, 1, 2],
  winogradGradientTiles: [0, 1],
  winogradGradientProducts: [0, 1, 2],
  winogradFilterGradient: [0, 1],
  addRows: [0, 1, 2],
  biasActivation: [0, 1],
  flipSwapFilter: [0, 1],
  axpy: [0, 1],
  axpby: [0, 1, 2],
  finiteSquares: [0, 2],
  draws: [0, 2, 3],
  scaleF64: [0],
  countNonFinite: [0, 2],
  adaptiveSquares: [0, 1, 4],
  adaptiveDirection: [0, 1, 2],
  mulEntries: [0, 1, 2],
  absAdd: [0, 1],
  adam: [0, 1, 2, 3, 4, 5, 6],
  momentum: [0, 1, 2, 3, 4],
} as const satisfies Record<keyof RawKernels, readonly number[]>;
type BufferPositions = { [K in keyof RawKernels]: (typeof POSITIONS)[K][number] };

/** RawKernels' argument list with a `Buf` for each pointer. */
type WithBufs<A extends readonly unknown[], P extends number> = {
  [I in keyof A]: I extends `${P}` ? Buf : A[I];
};

/**
 * The kernels, each checking first that every buffer it is given holds the
 * floats its sizes imply (one-line error otherwise: nothing is read or
 * written), then calling the module with the buffers' addresses. Arguments as
 * RawKernels' (matmul's strides aM, aK in bytes), with `Buf`s for pointers.
 */
export type SimdKernels = {
  [K in keyof RawKernels]: (
    ...args: WithBufs<Parameters<RawKernels[K]>, BufferPositions[K]>
  ) => void;
};

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

/** Instantiated modules by memory: raw exports and the checked kernels over them. */
interface Instance {
  readonly raw: RawKernels;
  readonly checked: (backend: WasmHeap) => SimdKernels;
}

let instances = new WeakMap<WebAssembly.Memory, Instance | null>();
let disabled = false;

const decode = (base64: string) => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));

/** The debug build's bytes (own memory, shared memory) while tests run against it. */
let debugBuild: { plain: Uint8Array; shared: Uint8Array } | undefined;

/**
 * Runs every later instantiation on the debug build of the module (bounds
 * checks on every load and store, scripts/compile-kernels.ts), or back on the
 * release build (undefined). For tests; modules already instantiated are dropped.
 */
export function useDebugSimdModule(build: { plain: Uint8Array; shared: Uint8Array } | undefined) {
  debugBuild = build;
  instances = new WeakMap();
}

/** The byte ranges the current debug call was given ([start, end) of each buffer's tensor). */
let given: [start: number, end: number][] = [];

/** What the debug build imports besides the memory: where its buffers end, and a throw. */
const debugImports = {
  extent(base: number): number {
    const range = given.find(([start, end]) => base >= start && base < end);
    return range === undefined ? 0 : range[1] - base;
  },
  outOfBounds(buffer: number, at: number, bytes: number, low: number, high: number): never {
    throw new Error(
      `@usam/backend: a SIMD kernel read or wrote ${bytes} bytes at ${at}, outside its buffer ${buffer} ([${low}, ${high})).`,
    );
  },
};

/** wasm's memory, and our module's bytes for it. */
function memoryOf(
  backend: WasmHeap,
): { memory: WebAssembly.Memory; bytes: () => Uint8Array<ArrayBuffer> } | undefined {
  const memory = backend.wasm.asm?.memory ?? backend.wasm.wasmMemory;
  if (!(memory instanceof WebAssembly.Memory)) return undefined;
  const shared =
    typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const debug = debugBuild && (shared ? debugBuild.shared : debugBuild.plain);
  return {
    memory,
    bytes: () =>
      debug ? new Uint8Array(debug) : decode(shared ? KERNELS_WASM_SHARED : KERNELS_WASM),
  };
}

const imports = (memory: WebAssembly.Memory) => ({
  env: { memory },
  // The draws' rare ziggurat tests use the host's exp and log, so they round as the samplers' JavaScript.
  kernels: { hostExp: Math.exp, hostLog: Math.log, ...(debugBuild ? debugImports : {}) },
});

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
    const { instance } = await WebAssembly.instantiate(bytes(), imports(memory));
    instances.set(memory, wrap(instance.exports as unknown as RawKernels));
  } catch {
    instances.set(memory, null);
  }
}

function instanceFor(backend: WasmHeap): Instance | undefined {
  const { memory, bytes } = memoryOf(backend) ?? {};
  if (memory === undefined || bytes === undefined) return undefined;
  let instance = instances.get(memory);
  if (instance === undefined) {
    try {
      const module = new WebAssembly.Module(bytes());
      instance = wrap(
        new WebAssembly.Instance(module, imports(memory)).exports as unknown as RawKernels,
      );
    } catch {
      instance = null;
    }
    instances.set(memory, instance);
  }
  return instance ?? undefined;
}

/**
 * The kernels on `backend`'s heap, or undefined where they cannot run (see
 * above) or are switched off (`initBackend('wasm', { kernels: 'tfjs' })`).
 * Without `instantiateSimdKernels` first (wasm started by other means than
 * `initBackend`) this instantiates synchronously, where the engine allows.
 */
export function simdKernels(backend: WasmHeap): SimdKernels | undefined {
  if (disabled) return undefined;
  return instanceFor(backend)?.checked(backend);
}

/**
 * Debug build: runs `body` on the raw exports with `buffers` as the memory the
 * module was given, so tests can show that an access outside them traps.
 */
export function withGivenBuffers(
  backend: WasmHeap,
  buffers: tf.TensorInfo[],
  body: (raw: RawKernels, addresses: number[]) => void,
): void {
  const raw = rawSimdKernels(backend)!;
  const addresses = buffers.map((info) => address(backend, info));
  given = buffers.map((info, i) => [addresses[i]!, addresses[i]! + sizeOf(info.shape) * 4]);
  try {
    body(raw, addresses);
  } finally {
    given = [];
  }
}

/** The module's own exports, taking raw addresses (for tests of the module itself). */
export function rawSimdKernels(backend: WasmHeap): RawKernels | undefined {
  return instanceFor(backend)?.raw;
}

/** Runs `body` with the SIMD kernels switched off, so tests can check the fallbacks. */
export function withoutSimdKernels<T>(body: () => T): T {
  const before = disabled;
  disabled = true;
  try {
    return body();
  } finally {
    disabled = before;
  }
}

/** Switches the SIMD kernels off (true) or back on, for `kernels: 'tfjs'`. */
export function setSimdKernelsDisabled(off: boolean): void {
  disabled = off;
}

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

const natural = (...values: number[]) => values.every((v) => Number.isInteger(v) && v >= 0);

/**
 * What each kernel's sizes must satisfy (`ok`, else the error says `why`), and
 * the floats each of its buffers must hold, in BufferPositions' order, by name.
 */
type Entry<A extends readonly unknown[]> = (sizes: A) => {
  ok: boolean;
  why: string;
  buffers: [name: string, floats: number][];
};

/** The entry of a kernel over a rows × cols matrix (its 4th and 5th arguments). */
const overRows =
  (buffers: (rows: number, cols: number) => [name: string, floats: number][]) =>
  ([, , , rows, cols]: readonly number[]): ReturnType<Entry<readonly number[]>> => ({
    ok: natural(rows!, cols!),
    why: 'bad sizes',
    buffers: buffers(rows!, cols!),
  });

const ENTRIES: { [K in keyof RawKernels]: Entry<Parameters<RawKernels[K]>> } = {
  maxPoolGrad: ([, , , batch, h, w, c, ho, wo, fh, fw, sh, sw]) => ({
    ok: natural(batch, h, w, c, ho, wo, fh, fw, sh, sw) && sh > 0 && sw > 0,
    why: 'bad sizes',
    buffers: [
      ['x', batch * h * w * c],
      ['dy', batch * ho * wo * c],
      ['dx', batch * h * w * c],
    ],
  }),
  sumRows: overRows((rows, cols) => [
    ['x', rows * cols],
    ['out', cols],
    ['acc', 2 * cols],
  ]),
  im2colT: ([, , batch, h, w, cin, ho, wo, kh, kw, sh, sw, rh, rw, , , r0, r1]) => ({
    ok:
      natural(batch, h, w, cin, ho, wo, kh, kw, sh, sw, rh, rw, r0, r1) &&
      r0 <= r1 &&
      r1 <= batch * ho,
    why: `rows ${r0}…${r1} outside 0…${batch * ho}`,
    buffers: [
      ['x', batch * h * w * cin],
      ['out', kh * kw * cin * (r1 - r0) * wo],
    ],
  }),
  matmul: ([, aM, aK, , , m, k, n]) => ({
    ok: natural(m, k, n, aM, aK) && aM % 4 === 0 && aK % 4 === 0,
    why: 'bad sizes',
    buffers: [
      ['a', m > 0 && k > 0 ? ((m - 1) * aM + (k - 1) * aK) / 4 + 1 : 0],
      ['b', k * n],
      ['c', m * n],
    ],
  }),
  col2imAdd: ([, , batch, h, w, cin, ho, wo, kh, kw, sh, sw, rh, rw, , , p0, p1]) => ({
    ok:
      natural(batch, h, w, cin, ho, wo, kh, kw, sh, sw, rh, rw, p0, p1) &&
      p0 <= p1 &&
      p1 <= batch * ho * wo,
    why: `pixels ${p0}…${p1} outside 0…${batch * ho * wo}`,
    buffers: [
      ['col', (p1 - p0) * kh * kw * cin],
      ['dx', batch * h * w * cin],
    ],
  }),
  winogradFilter: ([, , cin, cout]) => ({
    ok: natural(cin, cout),
    why: 'bad sizes',
    buffers: [
      ['w', 9 * cin * cout],
      ['u', winogradFloats(cin, cout)],
    ],
  }),
  winogradInput: ([, , batch, h, w, cin, vc, tilesH, tilesW, top, left, t0, t1]) => ({
    ok:
      natural(batch, h, w, cin, vc, tilesH, tilesW, t0, t1) &&
      vc >= cin &&
      Number.isInteger(top) &&
      Number.isInteger(left) &&
      t0 <= t1 &&
      t1 <= batch * tilesH * tilesW,
    why: `tiles ${t0}…${t1} outside 0…${batch * tilesH * tilesW}, or bad sizes`,
    buffers: [
      ['x', batch * h * w * cin],
      ['v', winogradFloats(t1 - t0, vc)],
    ],
  }),
  winogradProducts: ([, , , tiles, cin, cout]) => ({
    ok: natural(tiles, cin, cout),
    why: 'bad sizes',
    buffers: [
      ['v', winogradFloats(tiles, cin)],
      ['u', winogradFloats(cin, cout)],
      ['m', winogradFloats(tiles, cout)],
    ],
  }),
  // Every output entry lies in exactly one tile: the tiles must cover y.
  winogradOutput: ([, , , batch, ho, wo, cout, tilesH, tilesW, t0, t1, hasBias]) => ({
    ok:
      natural(batch, ho, wo, cout, t0, t1) &&
      tilesH === Math.ceil(ho / 2) &&
      tilesW === Math.ceil(wo / 2) &&
      t0 <= t1 &&
      t1 <= batch * tilesH * tilesW,
    why: `tiles ${t0}…${t1} outside 0…${batch * tilesH * tilesW}, or tiles not covering the output`,
    buffers: [
      ['m', winogradFloats(t1 - t0, cout)],
      ['y', batch * ho * wo * cout],
      ['bias', hasBias ? cout : 0],
    ],
  }),
  winogradGradientTiles: ([, , batch, ho, wo, cout, tilesH, tilesW, t0, t1]) => ({
    ok:
      natural(batch, ho, wo, cout, t0, t1) &&
      tilesH === Math.ceil(ho / 2) &&
      tilesW === Math.ceil(wo / 2) &&
      t0 <= t1 &&
      t1 <= batch * tilesH * tilesW,
    why: `tiles ${t0}…${t1} outside 0…${batch * tilesH * tilesW}, or tiles not covering dy`,
    buffers: [
      ['dy', batch * ho * wo * cout],
      ['u', winogradFloats(t1 - t0, cout)],
    ],
  }),
  winogradGradientProducts: ([, , , tiles, cin, cout]) => ({
    ok: natural(tiles, cin, cout),
    why: 'bad sizes',
    buffers: [
      ['v', winogradFloats(tiles, cin)],
      ['u', winogradFloats(tiles, cout)],
      ['m', winogradFloats(cin, cout)],
    ],
  }),
  winogradFilterGradient: ([, , pairs]) => ({
    ok: natural(pairs),
    why: 'bad sizes',
    buffers: [
      ['m', winogradFloats(pairs, 1)],
      ['dw', 9 * pairs],
    ],
  }),
  addRows: overRows((rows, cols) => [
    ['x', rows * cols],
    ['bias', cols],
    ['out', rows * cols],
  ]),
  biasActivation: ([, , rows, cols, withBias, act]) => ({
    ok: natural(rows, cols) && [0, 1, 2].includes(act),
    why: 'bad sizes or activation',
    buffers: [
      ['c', rows * cols],
      ['bias', withBias ? cols : 0],
    ],
  }),
  axpy: ([, , n]) => ({
    ok: natural(n),
    why: 'bad sizes',
    buffers: [
      ['x', n],
      ['out', n],
    ],
  }),
  axpby: ([, , , n]) => ({
    ok: natural(n),
    why: 'bad sizes',
    buffers: [
      ['x', n],
      ['y', n],
      ['out', n],
    ],
  }),
  draws: ([, n, , , which]) => ({
    ok: natural(n) && [0, 1, 2, 3, 4].includes(which),
    why: 'bad sizes or kind',
    buffers: [
      ['out', n],
      ['state', 8],
      ['tables', 3 * 128 * 2],
    ],
  }),
  scaleF64: ([, n]) => ({ ok: natural(n), why: 'bad sizes', buffers: [['x', n]] }),
  adaptiveSquares: ([, , n]) => ({
    ok: natural(n),
    why: 'bad sizes',
    buffers: [
      ['x', n],
      ['g', n],
      ['acc', 4],
    ],
  }),
  adaptiveDirection: ([, , , n]) => ({
    ok: natural(n),
    why: 'bad sizes',
    buffers: [
      ['x', n],
      ['g', n],
      ['out', n],
    ],
  }),
  countNonFinite: ([, n]) => ({
    ok: natural(n),
    why: 'bad sizes',
    buffers: [
      ['x', n],
      ['acc', 2],
    ],
  }),
  mulEntries: ([, , , n]) => ({
    ok: natural(n),
    why: 'bad sizes',
    buffers: [
      ['x', n],
      ['y', n],
      ['out', n],
    ],
  }),
  absAdd: ([, , n]) => ({
    ok: natural(n),
    why: 'bad sizes',
    buffers: [
      ['x', n],
      ['out', n],
    ],
  }),
  momentum: ([, , , , , n]) => ({
    ok: natural(n),
    why: 'bad sizes',
    buffers: ['x', 'g', 'a', 'outX', 'outA'].map((name): [string, number] => [name, n]),
  }),
  adam: ([, , , , , , , n]) => ({
    ok: natural(n),
    why: 'bad sizes',
    buffers: ['x', 'g', 'm', 'v', 'outX', 'outM', 'outV'].map((name): [string, number] => [
      name,
      n,
    ]),
  }),
  finiteSquares: ([, n]) => ({
    ok: natural(n),
    why: 'bad sizes',
    buffers: [
      ['x', n],
      ['acc', 4],
    ],
  }),
  flipSwapFilter: ([, , taps, cin, cout]) => ({
    ok: natural(taps, cin, cout),
    why: 'bad sizes',
    buffers: [
      ['w', taps * cin * cout],
      ['out', taps * cin * cout],
    ],
  }),
};

/**
 * Wraps the module's exports: each call checks its sizes (ENTRIES) and its
 * buffers against them, then (debug build) tells the module where each buffer
 * ends, and calls it with the buffers' addresses.
 */
function wrap(raw: RawKernels): Instance {
  const checked = (backend: WasmHeap): SimdKernels => {
    const fail = (kernel: string, what: string): never => {
      given = [];
      throw new Error(`@usam/backend: SIMD ${kernel}: ${what}`);
    };
    /** Checks that `buf` holds `floats` floats; returns its address. */
    const at = (kernel: string, name: string, buf: Buf, floats: number): number => {
      const [info, offset] =
        'dataId' in buf ? [buf as tf.TensorInfo, 0] : (buf as readonly [tf.TensorInfo, number]);
      const size = sizeOf(info.shape);
      if (
        info.dtype !== 'float32' ||
        !Number.isInteger(offset) ||
        !Number.isInteger(floats) ||
        offset < 0 ||
        floats < 0 ||
        offset + floats > size
      ) {
        fail(
          kernel,
          `${name} needs ${floats} float32 values from element ${offset}, but its tensor is ${info.dtype} [${info.shape.join(', ')}]; please report this (initBackend('wasm', { kernels: 'tfjs' }) avoids it).`,
        );
      }
      const start = address(backend, info);
      if (debugBuild) given.push([start, start + size * 4]);
      return start + offset * 4;
    };
    const call = (kernel: keyof RawKernels, args: unknown[]) => {
      const { ok, why, buffers } = (ENTRIES[kernel] as Entry<unknown[]>)(args);
      if (!ok) fail(kernel, `${why}; please report this.`);
      const pointers = [...args];
      (POSITIONS[kernel] as readonly number[]).forEach((position, i) => {
        const [name, floats] = buffers[i]!;
        pointers[position] = at(kernel, name, args[position] as Buf, floats);
      });
      // sumRows, finiteSquares and countNonFinite accumulate in float64.
      if (
        (kernel === 'sumRows' || kernel === 'finiteSquares' || kernel === 'countNonFinite') &&
        (pointers[2] as number) % 8 !== 0
      ) {
        fail(kernel, 'the float64 accumulators are not 8-byte aligned; please report this.');
      }
      // The debug ranges last for this call only.
      try {
        (raw[kernel] as (...a: unknown[]) => void)(...pointers);
      } finally {
        given = [];
      }
    };
    return Object.fromEntries(
      (Object.keys(ENTRIES) as (keyof RawKernels)[]).map((kernel) => [
        kernel,
        (...args: unknown[]) => call(kernel, args),
      ]),
    ) as unknown as SimdKernels;
  };
  let last: [WasmHeap, SimdKernels] | undefined;
  return {
    raw,
    checked: (backend) => {
      if (last?.[0] !== backend) last = [backend, checked(backend)];
      return last[1];
    },
  };
}
