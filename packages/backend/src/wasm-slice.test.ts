import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from './node';
import { on, values } from './test-helpers';

beforeAll(async () => {
  await initBackend('wasm');
});

type Case = [shape: number[], begin: number[], size: number[]];

/* Slices copy values exactly, so wasm and cpu must agree bit for bit. */
describe('Slice and SplitV on wasm', () => {
  const CASES: Case[] = [
    [[10], [3], [5]], // contiguous
    [
      [6, 7],
      [2, 0],
      [3, 7],
    ], // whole rows: contiguous
    [
      [6, 7],
      [1, 2],
      [4, 3],
    ], // a block: row by row
    [
      [4, 5, 6],
      [1, 0, 2],
      [2, 5, 3],
    ],
    [
      [3, 4, 5, 6],
      [1, 1, 0, 2],
      [2, 2, 5, 1],
    ],
    [
      [2, 3, 2, 3, 4],
      [1, 0, 1, 1, 1],
      [1, 3, 1, -1, 2],
    ], // rank 5, size −1
    [
      [5, 4],
      [5, 0],
      [0, 4],
    ], // empty
  ];
  for (const [shape, begin, size] of CASES) {
    it(`slices [${shape}] at [${begin}] size [${size}] as cpu does, in float32 and int32`, async () => {
      const run = (backend: string) =>
        on(backend, () =>
          tf.tidy(() => {
            const x = tf.tensor(values(shape, shape.length), shape);
            return [x, tf.cast(tf.mul(x, 100), 'int32')].map((t) => {
              const y = tf.slice(t, begin, size);
              return { shape: y.shape, data: [...y.dataSync()] };
            });
          }),
        );
      expect(await run('wasm')).toEqual(await run('cpu'));
    });
  }

  it('splits as cpu does: a vector into uneven parts, a rank-3 tensor along axis 1, bools', async () => {
    const run = (backend: string) =>
      on(backend, () =>
        tf.tidy(() => {
          const v = tf.tensor(values([40], 3), [40]);
          const t = tf.tensor(values([3, 8, 5], 4), [3, 8, 5]);
          return [
            ...tf.split(v, [7, 1, 20, 12]),
            ...tf.split(t, [2, 5, 1], 1),
            ...tf.split(tf.greater(t, 0), 4, 1),
          ].map((y) => ({ shape: y.shape, dtype: y.dtype, data: [...y.dataSync()] }));
        }),
      );
    expect(await run('wasm')).toEqual(await run('cpu'));
  });

  it('reads the input in place: no copy of the whole tensor per slice', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend() as unknown as { readSync: (id: tf.DataId) => unknown };
    const read = vi.spyOn(backend, 'readSync');
    const x = tf.tensor(values([1000], 5), [1000]);
    const parts = tf.split(x, 10);
    const row = tf.slice(tf.reshape(x, [10, 100]), [2, 10], [3, 50]);
    expect(read).not.toHaveBeenCalled();
    read.mockRestore();
    expect([...parts[3]!.dataSync()]).toEqual([...x.dataSync().subarray(300, 400)]);
    expect(row.dataSync()[0]).toBe(x.dataSync()[210]);
    tf.dispose([x, row, ...parts]);
  });

  it('string slices keep working', async () => {
    await tf.setBackend('wasm');
    const s = tf.tensor(['a', 'b', 'c', 'd']);
    const part = tf.slice(s, [1], [2]);
    expect(part.dataSync()).toEqual(['b', 'c']);
    tf.dispose([s, part]);
  });
});
