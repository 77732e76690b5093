import { describe, expect, it } from 'vitest';
import { DatasetError } from './errors';
import { createImageSet, type ImageSet } from './image-set';
import { createRandom, randomInt } from './rng';
import {
  classCounts,
  corruptLabels,
  createDataset,
  fractionCount,
  stratifiedQuotas,
  subsample,
} from './variants';

/** A 2×1×1 set whose image bytes encode the example's index, with seeded labels. */
function makeSet(count: number, numClasses: number, seed = 1, name = 'toy'): ImageSet {
  const random = createRandom([seed]);
  const images = new Uint8Array(count * 2);
  for (let i = 0; i < count; i++) {
    images[2 * i] = i & 255;
    images[2 * i + 1] = i >> 8;
  }
  return createImageSet({
    name,
    images,
    labels: Int32Array.from({ length: count }, () => randomInt(random, numClasses)),
    shape: [2, 1, 1],
    numClasses,
    mean: [0.5],
    std: [0.25],
  });
}
const decode = (set: ImageSet) =>
  Array.from({ length: set.count }, (_, i) => set.images[2 * i]! + 256 * set.images[2 * i + 1]!);

describe('fractionCount', () => {
  it('is ⌈f·n⌉, exact where f·n is an integer', () => {
    expect(fractionCount(0.7, 10)).toBe(7);
    expect(fractionCount(0.1, 50000)).toBe(5000);
    expect(fractionCount(0.2, 50000)).toBe(10000);
    expect(fractionCount(0.1, 1001)).toBe(101);
    expect(fractionCount(0.2, 11)).toBe(3);
    expect(fractionCount(0, 10)).toBe(0);
    expect(fractionCount(1, 10)).toBe(10);
  });
});

describe('-s: subsample', () => {
  const set = makeSet(1001, 10);

  it('keeps the first ⌈0.1·N⌉ examples in file order', () => {
    const s = subsample(set);
    expect(s.count).toBe(101);
    expect(decode(s)).toEqual(Array.from({ length: 101 }, (_, i) => i));
    expect(Array.from(s.ids)).toEqual(decode(s));
    expect(Array.from(s.labels)).toEqual(Array.from(set.labels.subarray(0, 101)));
    expect(subsample(set, { fraction: 0.25 }).count).toBe(251);
  });

  it('stratified: the first q_c examples of each class, q_c proportional, file order kept', () => {
    const s = subsample(set, { fraction: 0.1, stratified: true });
    const counts = classCounts(set.labels, 10);
    const quotas = stratifiedQuotas(counts, 101);
    expect(s.count).toBe(101);
    expect(classCounts(s.labels, 10)).toEqual(quotas);
    for (let c = 0; c < 10; c++)
      expect(Math.abs(quotas[c]! - (101 * counts[c]!) / 1001)).toBeLessThan(1);
    const ids = decode(s);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    for (let c = 0; c < 10; c++) {
      const firstOfClass = Array.from(set.labels.keys()).filter((i) => set.labels[i] === c);
      expect(ids.filter((i) => set.labels[i] === c)).toEqual(firstOfClass.slice(0, quotas[c]));
    }
  });

  it('stratified quotas: largest remainders, summing to k', () => {
    expect(stratifiedQuotas([5, 3, 2], 5)).toEqual([3, 1, 1]); // 2.5, 1.5, 1.0 → ties to lower class
    expect(stratifiedQuotas([1, 1, 98], 10)).toEqual([0, 0, 10]); // .1, .1, 9.8
    expect(stratifiedQuotas([1, 1, 1], 2)).toEqual([1, 1, 0]);
  });

  it('refuses fractions outside (0, 1]', () => {
    for (const bad of [0, -0.1, 1.5, Number.NaN]) {
      expect(() => subsample(set, { fraction: bad })).toThrow(
        /subsampleFraction must be a number in \(0, 1\]/,
      );
    }
  });
});

describe('-c: corrupt labels', () => {
  const set = makeSet(1000, 10, 2);

  it('flips exactly ⌈0.2·N⌉ labels, never to the same class, keeping the clean labels and the images', () => {
    const c = corruptLabels(set, { seed: 5 });
    const flipped = Array.from(c.labels.keys()).filter((i) => c.labels[i] !== set.labels[i]);
    expect(flipped).toHaveLength(200);
    expect(Array.from(c.corruptedIndices!)).toEqual(flipped);
    expect(c.cleanLabels).toEqual(set.labels);
    expect(c.images).toBe(set.images);
    expect(corruptLabels(makeSet(11, 3), { fraction: 0.2 }).corruptedIndices).toHaveLength(3);
  });

  it('is deterministic given the seed, different for another seed', () => {
    const a = corruptLabels(set, { seed: 5 });
    expect(corruptLabels(set, { seed: 5 }).labels).toEqual(a.labels);
    expect(corruptLabels(set, { seed: 6 }).labels).not.toEqual(a.labels);
  });

  it('draws the new label uniformly over the other classes', () => {
    const big = makeSet(30000, 3, 3);
    const c = corruptLabels(big, { fraction: 1, seed: 1 });
    // From each class, both other classes receive about half of its flips.
    const moves = new Map<string, number>();
    let same = 0;
    for (let i = 0; i < big.count; i++) {
      if (c.labels[i] === big.labels[i]) same++;
      const key = `${big.labels[i]}→${c.labels[i]}`;
      moves.set(key, (moves.get(key) ?? 0) + 1);
    }
    expect(same).toBe(0);
    expect(moves.size).toBe(6);
    const counts = classCounts(big.labels, 3);
    for (const [key, n] of moves) {
      const from = Number(key[0]);
      expect(Math.abs(n / counts[from]! - 0.5)).toBeLessThan(0.03);
    }
  });

  it('takes fractions in [0, 1] (0 flips nothing)', () => {
    expect(corruptLabels(set, { fraction: 0 }).corruptedIndices).toHaveLength(0);
    expect(() => corruptLabels(set, { fraction: 1.2 })).toThrow(
      /corruptionFraction must be a number in \[0, 1\]/,
    );
    expect(() => corruptLabels(set, { seed: -3 })).toThrow(/seed must be an integer/);
  });
});

describe('createDataset', () => {
  const train = makeSet(1000, 10, 4, 'cifar10/train');
  const test = makeSet(100, 10, 5, 'cifar10/test');

  it('-s-c: subsamples first, then corrupts ⌈0.2·⌈0.1·N⌉⌉ of what was kept; test untouched', () => {
    const ds = createDataset('cifar10-s-c', { train, test }, { seed: 9 });
    expect(ds.name).toBe('cifar10-s-c');
    expect(ds.train.name).toBe('cifar10-s-c/train');
    expect(ds.subsample).toEqual({ fraction: 0.1, stratified: false, kept: 100, from: 1000 });
    expect(ds.corruption).toEqual({ fraction: 0.2, seed: 9, flipped: 20 });
    expect(decode(ds.train)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(ds.train.cleanLabels).toEqual(train.labels.subarray(0, 100));
    expect(ds.train.corruptedIndices!.every((i) => i < 100)).toBe(true);
    expect(ds.test.labels).toBe(test.labels);
    expect(ds.test.images).toBe(test.images);
  });

  it('uses the configured fractions and the stratified option', () => {
    const ds = createDataset(
      'cifar10-s-c',
      { train, test },
      { subsampleFraction: 0.5, corruptionFraction: 0.1, stratified: true },
    );
    expect(ds.train.count).toBe(500);
    expect(ds.train.corruptedIndices).toHaveLength(50);
    expect(classCounts(ds.train.cleanLabels!, 10)).toEqual(
      stratifiedQuotas(classCounts(train.labels, 10), 500),
    );
  });

  it('the plain name leaves the training set as it is, but still checks the options', () => {
    const ds = createDataset('cifar10', { train, test });
    expect(ds.train.labels).toBe(train.labels);
    expect(ds.subsample).toBeUndefined();
    expect(() => createDataset('cifar10', { train, test }, { subsampleFraction: 2 })).toThrow(
      DatasetError,
    );
  });
});
