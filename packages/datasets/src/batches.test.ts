import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, describe, expect, it } from 'vitest';
import { cropFlip } from './augment';
import { batchCount, batches, epochOrder, firstExamples, makeBatch } from './batches';
import { createImageSet, type ImageSet } from './image-set';
import { randomExamples } from './test-formats';

beforeAll(async () => {
  await initBackend('cpu');
});

/** A set of n 4×4×3 images whose first byte is the example's index. */
function makeSet(n: number, augment = false): ImageSet {
  const { images, labels } = randomExamples(n, [4, 4, 3], 5, 1);
  for (let i = 0; i < n; i++) images[i * 48] = i;
  return createImageSet({
    name: 'toy',
    images,
    labels,
    shape: [4, 4, 3],
    numClasses: 5,
    mean: [0.5, 0.4, 0.3],
    std: [0.2, 0.25, 0.3],
    augment,
  });
}

describe('batches', () => {
  const set = makeSet(103);

  it('visits every example exactly once per epoch, in a seeded order', () => {
    const seen: number[] = [];
    const sizes: number[] = [];
    for (const { xs, ys, indices, size } of batches(set, { batchSize: 10, seed: 4, epoch: 2 })) {
      seen.push(...indices);
      sizes.push(size);
      expect(xs.shape).toEqual([size, 4, 4, 3]);
      expect(ys.shape).toEqual([size, 5]);
      tf.dispose([xs, ys]);
    }
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 103 }, (_, i) => i));
    expect(sizes).toEqual([...new Array(10).fill(10), 3]);
    expect(seen).toEqual(Array.from(epochOrder(103, { seed: 4, epoch: 2 })));
    expect(seen).not.toEqual(Array.from({ length: 103 }, (_, i) => i));
  });

  it('orders depend on (seed, epoch) only; shuffle: false keeps file order', () => {
    const order = (o: { seed?: number; epoch?: number; shuffle?: boolean }) =>
      Array.from(epochOrder(103, o));
    expect(order({ seed: 1, epoch: 3 })).toEqual(order({ seed: 1, epoch: 3 }));
    expect(order({ seed: 1, epoch: 3 })).not.toEqual(order({ seed: 1, epoch: 4 }));
    expect(order({ seed: 1, epoch: 3 })).not.toEqual(order({ seed: 2, epoch: 3 }));
    expect(order({ shuffle: false })).toEqual(Array.from({ length: 103 }, (_, i) => i));
  });

  it('dropLast leaves out the ragged tail', () => {
    expect(batchCount(103, 10, true)).toBe(10);
    expect(batchCount(103, 10)).toBe(11);
    const all = [...batches(set, { batchSize: 10, dropLast: true })];
    expect(all.map((b) => b.size)).toEqual(new Array(10).fill(10));
    tf.dispose(all.flatMap((b) => [b.xs, b.ys]));
  });

  it('normalises per channel, (x/255 − mean)/std, and one-hots the labels', () => {
    const [b] = [...batches(set, { batchSize: 7, shuffle: false })];
    const xs = b!.xs.arraySync() as number[][][][];
    const ys = b!.ys.arraySync() as number[][];
    for (let i = 0; i < 7; i++) {
      for (const [y, x, c] of [
        [0, 0, 0],
        [1, 2, 1],
        [3, 3, 2],
      ] as const) {
        const v = set.images[i * 48 + (y * 4 + x) * 3 + c]!;
        expect(xs[i]![y]![x]![c]).toBeCloseTo((v / 255 - set.mean[c]!) / set.std[c]!, 5);
      }
      expect(ys[i]).toEqual([0, 1, 2, 3, 4].map((k) => (k === set.labels[i] ? 1 : 0)));
    }
    expect(b!.xs.dtype).toBe('float32');
    tf.dispose([b!.xs, b!.ys]);
  });

  it('flatten, int labels and normalize: false', () => {
    const b = makeBatch(set, Int32Array.of(5, 2), {
      flatten: true,
      labels: 'int',
      normalize: false,
    });
    expect(b.xs.shape).toEqual([2, 48]);
    expect(b.ys.dtype).toBe('int32');
    expect(Array.from(b.ys.dataSync())).toEqual([set.labels[5], set.labels[2]]);
    expect(b.xs.dataSync()[0]).toBeCloseTo(5 / 255, 6);
    tf.dispose([b.xs, b.ys]);
  });

  it('augments on the bytes: each image is a crop/flip of its source, seeded', () => {
    // 32×32 images, so the CIFAR padding of 4 applies as in training.
    const { images, labels } = randomExamples(6, [32, 32, 3], 10, 2);
    const cifar = createImageSet({
      name: 'c',
      images,
      labels,
      shape: [32, 32, 3],
      numClasses: 10,
      mean: [0, 0, 0],
      std: [1, 1, 1],
      augment: true,
    });
    const run = (seed: number) => {
      const [b] = [...batches(cifar, { batchSize: 6, seed, normalize: false })];
      const values = b!.xs.dataSync();
      tf.dispose([b!.xs, b!.ys]);
      return { values, indices: b!.indices };
    };
    const a = run(1);
    expect(run(1).values).toEqual(a.values);
    expect(run(2).values).not.toEqual(a.values);
    let changed = 0;
    for (let k = 0; k < 6; k++) {
      const i = a.indices[k]!;
      const got = Uint8Array.from(a.values.subarray(k * 3072, (k + 1) * 3072), (v) =>
        Math.round(v * 255),
      );
      const source = images.subarray(i * 3072, (i + 1) * 3072);
      const out = new Uint8Array(3072);
      let matches = 0;
      for (let dy = 0; dy <= 8; dy++) {
        for (let dx = 0; dx <= 8; dx++) {
          for (const flip of [false, true]) {
            cropFlip(source, out, [32, 32, 3], { dy, dx, flip });
            if (out.every((v, j) => v === got[j])) matches++;
          }
        }
      }
      expect(matches).toBe(1);
      if (!got.every((v, j) => v === source[j])) changed++;
    }
    expect(changed).toBeGreaterThan(0);
    // augment: false, or a set without augmentation, gives the images as they are.
    const [plain] = [
      ...batches(cifar, { batchSize: 6, augment: false, shuffle: false, normalize: false }),
    ];
    expect(Uint8Array.from(plain!.xs.dataSync(), (v) => Math.round(v * 255))).toEqual(images);
    tf.dispose([plain!.xs, plain!.ys]);
  });

  it('checks its options before the first batch', () => {
    expect(() => batches(set, { batchSize: 0 })).toThrow(/batchSize must be an integer ≥ 1, got 0/);
    expect(() => batches(set, { batchSize: 2.5 })).toThrow(/batchSize/);
    expect(() => batches(set, { batchSize: 2, seed: -1 })).toThrow(
      /seed must be an integer in \[0, 4294967295\]/,
    );
    expect(() => batches(set, { batchSize: 2, epoch: -1 })).toThrow(/epoch must be an integer ≥ 0/);
    expect(() => batches(set, { batchSize: 2, labels: 'onehot' as 'int' })).toThrow(
      /labels must be 'one-hot' or 'int'/,
    );
  });

  it('leaves no tensors behind but the ones it hands over', () => {
    const before = tf.memory().numTensors;
    for (const { xs, ys } of batches(set, { batchSize: 16 })) tf.dispose([xs, ys]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('firstExamples', () => {
  it('gives the first n examples in file order, never augmented; fewer when the set is smaller', () => {
    const set = makeSet(30, true);
    const first = firstExamples(set, 20, { normalize: false });
    expect(first.count).toBe(20);
    expect(first.xs.shape).toEqual([20, 4, 4, 3]);
    expect(Uint8Array.from(first.xs.dataSync(), (v) => Math.round(v * 255))).toEqual(
      set.images.subarray(0, 20 * 48),
    );
    expect(Array.from(first.labels)).toEqual(Array.from(set.labels.subarray(0, 20)));
    tf.dispose([first.xs, first.ys]);
    const all = firstExamples(set);
    expect(all.count).toBe(30);
    tf.dispose([all.xs, all.ys]);
    expect(() => firstExamples(set, 0)).toThrow(/n must be an integer ≥ 1/);
  });
});
