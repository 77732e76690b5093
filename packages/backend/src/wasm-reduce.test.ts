import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './node';
import { on, relativeError, values } from './test-helpers';

beforeAll(async () => {
  await initBackend('wasm');
});

/*
 * Tolerance: sums of up to 1000 values in [-1, 1] in float32, in another order
 * than the cpu backend's (which accumulates in float64): under 1000·2⁻²⁴ ≈ 6e-5
 * of the largest partial sum in the worst case, far less in practice; a wrong
 * axis or a dropped row gives errors of order 1.
 */
const TOLERANCE = 1e-5;

describe('sum and mean on wasm', () => {
  const SHAPE = [4, 10, 25, 3];
  const x = values(SHAPE, 21);
  const CASES: [number | number[] | undefined, boolean][] = [
    [[0, 1, 2], false], // the bias / BatchNorm gradient case: as a product
    [[0, 1, 2], true],
    [0, false],
    [[1, 0], true],
    [[0, 1, 2, 3], false], // everything: wasm's own kernel
    [undefined, false],
    [[1, 2], false], // not leading axes: wasm's own kernel
    [-1, true],
    [[0, 3], false],
  ];

  const OPS = { sum: tf.sum, mean: tf.mean };
  for (const op of ['sum', 'mean'] as const) {
    for (const [axis, keepDims] of CASES) {
      it(`${op} over axis ${JSON.stringify(axis)}, keepDims ${keepDims}: equals cpu`, async () => {
        const run = (backend: string) =>
          on(backend, () =>
            tf.tidy(() => {
              const y = OPS[op](tf.tensor(x, SHAPE), axis, keepDims);
              return { shape: y.shape, data: y.dataSync() as Float32Array };
            }),
          );
        const wasm = await run('wasm');
        const cpu = await run('cpu');
        expect(wasm.shape).toEqual(cpu.shape);
        expect(relativeError(wasm.data, cpu.data)).toBeLessThan(TOLERANCE);
      });
    }
  }

  it('keeps int32 sums exact (wasm’s own kernel)', async () => {
    const ints = Int32Array.from({ length: 60 }, (_, i) => (i * 7919) % 1001);
    const sum = await on('wasm', () =>
      tf.tidy(() => [...tf.sum(tf.tensor(ints, [20, 3], 'int32'), 0).dataSync()]),
    );
    const expected = [0, 1, 2].map((c) =>
      ints.filter((_, i) => i % 3 === c).reduce((a, b) => a + b),
    );
    expect(sum).toEqual(expected);
  });
});
