import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './node';
import { on, relativeError, values } from './test-helpers';

beforeAll(async () => {
  await initBackend('wasm');
});

type Pad = 'valid' | 'same';

/** dx of Σ maxPool(x) · r on `backend`: MaxPoolGrad of a random dy. */
function maxPoolGradient(
  backend: string,
  x: Float32Array,
  shape: [number, number, number, number],
  filter: number,
  stride: number,
  pad: Pad,
) {
  return on(backend, () =>
    tf.tidy(() => {
      const loss = (t: tf.Tensor) => {
        const y = tf.maxPool(t as tf.Tensor4D, filter, stride, pad);
        return tf.sum(tf.mul(y, tf.tensor(values(y.shape, 7), y.shape)));
      };
      return tf.grad(loss)(tf.tensor4d(x, shape)).dataSync() as Float32Array;
    }),
  );
}

describe('MaxPoolGrad on wasm', () => {
  const CASES: [[number, number, number, number], number, number, Pad][] = [
    [[2, 8, 8, 3], 2, 2, 'valid'],
    [[2, 9, 7, 5], 2, 2, 'valid'], // odd sizes: the last row and column belong to no window
    [[1, 9, 9, 4], 3, 2, 'same'], // overlapping windows, padding
    [[2, 6, 6, 2], 3, 1, 'same'],
    [[1, 10, 8, 3], 3, 2, 'valid'],
  ];

  for (const [shape, filter, stride, pad] of CASES) {
    it(`equals the cpu backend's: x ${shape.join('×')}, filter ${filter}, stride ${stride}, pad ${pad}`, async () => {
      // Distinct values (no ties), so the argmax is unique on both backends.
      // dx entries are sums of at most 9 dy entries (overlapping windows),
      // added in another order on cpu: float32 rounding, ≤ 9·2⁻²⁴ relative.
      const x = values(shape, 11);
      const wasm = await maxPoolGradient('wasm', x, shape, filter, stride, pad);
      const cpu = await maxPoolGradient('cpu', x, shape, filter, stride, pad);
      expect(relativeError(wasm, cpu)).toBeLessThan(1e-6);
    });
  }

  it('passes every window’s gradient on when its values are all ≤ 0 (tied or not)', async () => {
    // wasm's own kernel starts its search at the smallest positive float, so
    // these windows passed nothing. The first maximum gets it, as on cpu.
    const shape: [number, number, number, number] = [1, 4, 4, 2];
    for (const x of [new Float32Array(32), values(shape, 3).map((v) => -Math.abs(v) - 0.1)]) {
      const wasm = await maxPoolGradient('wasm', x, shape, 2, 2, 'valid');
      const cpu = await maxPoolGradient('cpu', x, shape, 2, 2, 'valid');
      expect([...wasm]).toEqual([...cpu]);
      expect(wasm.filter((v) => v !== 0).length).toBe(8); // one per window and channel
    }
  });
});
