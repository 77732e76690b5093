/**
 * The draw kernel (wasm-draws.ts) in the debug build of our SIMD module, which
 * checks every load and store against the buffers it was given, against the
 * release build over random lists of shapes (dimensions of 1 and 0), seeds and
 * kinds: the same values bit for bit, and the sphere of unit norm. That the
 * values are @usam/measures' JavaScript draws, bit for bit, is tested there
 * (samplers.test.ts), where those draws live.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { debugKernels } from '../scripts/compile-kernels';
import { Rng } from './differential';
import { initBackend } from './node';
import { useDebugSimdModule } from './simd-kernels';
import { DRAWS } from './wasm-draws';

beforeAll(async () => {
  await initBackend('wasm');
});
afterAll(async () => {
  useDebugSimdModule(await debugKernels());
});

// Ziggurat-like tables (K below 2³¹, W and F positive, F decreasing): any such tables
// exercise every path; the samplers' own are in @usam/measures.
const TABLES = new Float64Array(3 * 128);
for (let i = 0; i < 128; i++) {
  TABLES[i] = Math.floor(2 ** 31 * (1 - 1 / (i + 8)));
  TABLES[128 + i] = (i + 1) / 40 / 2 ** 31;
  TABLES[256 + i] = Math.exp(-i / 40);
}

const run = (attrs: object) =>
  tf.tidy(() => {
    const out = tf.engine().runKernel(DRAWS, {}, attrs as tf.NamedAttrMap) as
      | tf.Tensor
      | tf.Tensor[];
    return (Array.isArray(out) ? out : [out]).map((t) => t.dataSync() as Float32Array);
  });

describe('UsamDraws in the bounds-checked build', () => {
  it('equals the release build on 80 random lists, every kind; the sphere has unit norm', async () => {
    const rng = new Rng(2028);
    const debug = await debugKernels();
    const failures: string[] = [];
    for (let index = 0; index < 80; index++) {
      const shapes = Array.from({ length: rng.int(1, 4) }, () =>
        Array.from({ length: rng.int(1, 3) }, () =>
          rng.chance(0.3) ? 1 : rng.chance(0.05) ? 0 : rng.int(1, 70),
        ),
      );
      const which = rng.pick(['normal', 'sphere', 'hypercube', 'rademacher'] as const);
      const attrs = {
        which,
        seed: Array.from({ length: 4 }, () => (rng.next() * 2 ** 32) | 1),
        shapes,
        scale: which === 'sphere' ? 1 : 0.01 + rng.next(),
        tables: TABLES,
        fallback: () => {
          throw new Error('the fallback ran');
        },
      };
      useDebugSimdModule(debug);
      const before = tf.memory().numTensors;
      const checked = run(attrs);
      if (tf.memory().numTensors !== before) failures.push(`case ${index}: leaks`);
      useDebugSimdModule(undefined);
      const release = run(attrs);
      checked.forEach((values, t) => {
        const i = values.findIndex((x, j) => !Object.is(x, release[t]![j]));
        if (i >= 0) failures.push(`case ${index} ${which}: tensor ${t} entry ${i}`);
      });
      const all = checked.flatMap((v) => Array.from(v));
      if (which === 'sphere' && all.length > 0) {
        // Each entry rounded to float32 once: ‖v‖² = 1 within d·2⁻²³ relative, far under 1e-4.
        const norm2 = all.reduce((s, x) => s + x * x, 0);
        if (Math.abs(norm2 - 1) > 1e-4) failures.push(`case ${index}: ‖v‖² = ${norm2}`);
      }
      if (which === 'rademacher' && !all.every((x) => x === 1 || x === -1))
        failures.push(`case ${index}: not ±1`);
      if (which === 'hypercube' && !all.every((x) => Math.abs(x) <= attrs.scale))
        failures.push(`case ${index}: outside the cube`);
    }
    expect(failures).toEqual([]);
  });
});
