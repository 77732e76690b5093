/**
 * The samplers' draws written straight into parameter-shaped tensors on wasm's
 * heap (docs/optimizer-kernels.md): @usam/measures' JavaScript draws, bit for
 * bit, from the same stream seed, in our SIMD module (assembly/kernels.ts
 * `draws`), without the JavaScript loop and the upload. Where the module cannot
 * run, the caller's own JavaScript draw (attr `fallback`) fills the tensors.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { simdKernels, type WasmHeap } from './simd-kernels';
import type { KernelArgs } from './wasm-scratch';

/**
 * No inputs; attrs `which` ('normal': the ziggurat's standard normals times
 * `scale`; 'sphere': standard normals z over all shapes divided by ‖z‖, the
 * norm summed in float64 in order and each entry scaled in float64, as the
 * sphere sampler's JavaScript does; 'hypercube': uniforms mapped to
 * scale·(2u − 1); 'rademacher': ±1),
 * `seed` (the xoroshiro128+ state as pure-rand's xoroshiro128plusFromState
 * takes it: four int32), `shapes`, `scale`, `tables` (the ziggurat's K, W and F,
 * 128 float64 each, as one array of 384) and `fallback` (the same draws in
 * JavaScript, all shapes end to end). One float32 output per shape, drawn in
 * order from one stream.
 */
export const DRAWS = 'UsamDraws';

const WHICH = { normal: 0, hypercube: 2, rademacher: 3, sphere: 4 } as const;

interface DrawAttrs {
  which: keyof typeof WHICH;
  seed: number[];
  shapes: number[][];
  scale: number;
  tables: ArrayLike<number>;
  fallback: () => Float32Array;
}

const TABLES = 3 * 128; // float64

function check(attrs: Partial<DrawAttrs>): asserts attrs is DrawAttrs {
  const { which, seed, shapes, scale, tables, fallback } = attrs;
  const problem =
    which === undefined || !(which in WHICH)
      ? `which must be one of ${Object.keys(WHICH).join(', ')}, got ${JSON.stringify(which)}`
      : !Array.isArray(seed) || seed.length !== 4 || !seed.every((s) => (s | 0) === s)
        ? `seed must be four int32, got ${JSON.stringify(seed)}`
        : !Array.isArray(shapes) ||
            !shapes.every((s) => Array.isArray(s) && s.every((n) => Number.isInteger(n) && n >= 0))
          ? `shapes must be a list of shapes, got ${JSON.stringify(shapes)}`
          : typeof scale !== 'number' || !Number.isFinite(scale)
            ? `scale must be a finite number, got ${scale}`
            : tables === undefined || tables.length !== TABLES
              ? `tables must hold ${TABLES} numbers`
              : typeof fallback !== 'function'
                ? 'fallback must be a function'
                : undefined;
  if (problem !== undefined) throw new Error(`@usam/backend: ${DRAWS}: ${problem}.`);
}

export function draws({ backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const a = attrs as Partial<DrawAttrs>;
  check(a);
  const heap = backend as unknown as WasmHeap;
  const simd = simdKernels(heap);
  const outs = a.shapes.map((shape) => heap.makeOutput([...shape], 'float32'));
  if (simd === undefined) {
    const values = a.fallback();
    let offset = 0;
    for (const out of outs) {
      const o = heap.typedArrayFromHeap(out);
      o.set(values.subarray(offset, offset + o.length));
      offset += o.length;
    }
    return outs;
  }
  // The tables (float64, at the allocation's 8-byte-aligned start), then the stream's state:
  // pure-rand's four halves (s01, s00, s11, s10) as the two 64-bit words s0, s1 (low half
  // first), the ziggurat's cached bits, and a float64 sum.
  const scratch = heap.makeOutput([2 * TABLES + 8], 'float32');
  const view = heap.typedArrayFromHeap(scratch); // after every allocation: growth detaches views
  new Float64Array(view.buffer, view.byteOffset, TABLES).set(a.tables);
  const [s01, s00, s11, s10] = a.seed;
  const state = new Int32Array(view.buffer, view.byteOffset + 8 * TABLES, 8);
  state.set([s00!, s01!, s10!, s11!, 0, 0, 0, 0]);
  const sizes = outs.map((out) => out.shape.reduce((x, y) => x * y, 1));
  try {
    outs.forEach((out, k) => {
      simd.draws(out, sizes[k]!, [scratch, 2 * TABLES], scratch, WHICH[a.which], a.scale);
    });
    if (a.which === 'sphere') {
      const v = heap.typedArrayFromHeap(scratch);
      const squares = new Float64Array(v.buffer, v.byteOffset + 8 * TABLES + 24, 1)[0]!;
      const factor = 1 / Math.sqrt(squares);
      if (factor !== 1) {
        outs.forEach((out, k) => {
          simd.scaleF64(out, sizes[k]!, factor);
        });
      }
    }
  } finally {
    heap.disposeData(scratch.dataId);
  }
  return outs;
}
