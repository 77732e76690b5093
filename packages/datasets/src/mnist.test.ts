import { describe, expect, it } from 'vitest';
import { loadDataset } from './load';
import { embeddedMnistDigits, embeddedMnistSplits, embeddedTrainCount, loadMnist } from './mnist';
import { classCounts } from './variants';

// The 10,000 digits are decoded a few times here: each call decodes afresh.
// Large arrays are compared with a loop (vitest's deep equality is slow on millions of entries).
const same = (x: ArrayLike<number>, y: ArrayLike<number>): boolean => {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
};

describe('embedded MNIST', async () => {
  const digits = await embeddedMnistDigits();
  const perClass = digits.map((d) => d.length / 784);
  const a = await embeddedMnistSplits();
  const b = await embeddedMnistSplits();

  it('holds the package’s 10,000 real digits, 863 to 1,127 per class, as bytes', () => {
    expect(perClass.reduce((s, n) => s + n, 0)).toBe(10000);
    expect(Math.min(...perClass)).toBe(863);
    expect(Math.max(...perClass)).toBe(1127);
    // Grey levels k/255 decoded to k: the mean intensity is MNIST's (0.1307 over the full set).
    let sum = 0;
    let count = 0;
    for (const d of digits) {
      for (const v of d) sum += v;
      count += d.length;
    }
    expect(sum / count / 255).toBeGreaterThan(0.12);
    expect(sum / count / 255).toBeLessThan(0.14);
  });

  it('splits each class: the first ⌊6n/7⌋ digits train, the rest test', () => {
    expect(classCounts(a.train.labels, 10)).toEqual(perClass.map(embeddedTrainCount));
    expect(classCounts(a.test.labels, 10)).toEqual(perClass.map((n) => n - embeddedTrainCount(n)));
    expect([a.train.count, a.test.count]).toEqual([8569, 1431]);
    // ids: position in the package order (class 0 first); train takes each class's first digits.
    const offsets = perClass.map((_, c) => perClass.slice(0, c).reduce((s, n) => s + n, 0));
    for (const [set, isTrain] of [
      [a.train, true],
      [a.test, false],
    ] as const) {
      for (let k = 0; k < set.count; k++) {
        const c = set.labels[k]!;
        const within = set.ids[k]! - offsets[c]!;
        expect(within >= 0 && within < perClass[c]!).toBe(true);
        expect(within < embeddedTrainCount(perClass[c]!)).toBe(isTrain);
      }
    }
    const all = [...a.train.ids, ...a.test.ids].sort((x, y) => x - y);
    expect(
      same(
        all,
        Array.from({ length: 10000 }, (_, i) => i),
      ),
    ).toBe(true); // disjoint, complete
  });

  it('keeps each image with its id, in a fixed order that mixes the classes', () => {
    for (const k of [0, 1234, 8568]) {
      const id = a.train.ids[k]!;
      const c = a.train.labels[k]!;
      const offset = perClass.slice(0, c).reduce((s, n) => s + n, 0);
      const source = digits[c]!.subarray((id - offset) * 784, (id - offset + 1) * 784);
      expect(same(a.train.images.subarray(k * 784, (k + 1) * 784), source)).toBe(true);
    }
    // The first 10% (what -s keeps) has every class.
    expect(new Set(a.train.labels.subarray(0, 857)).size).toBe(10);
  });

  it('is the same on every load', () => {
    expect(same(b.train.ids, a.train.ids)).toBe(true);
    expect(same(b.train.labels, a.train.labels)).toBe(true);
    expect(same(b.train.images, a.train.images)).toBe(true);
    expect(same(b.test.ids, a.test.ids)).toBe(true);
    expect(same(b.test.images, a.test.images)).toBe(true);
    expect(a.train.images === b.train.images).toBe(false); // fresh arrays on each load
  });

  it('loads by name with variants, also through loadDataset (offline)', async () => {
    const ds = await loadDataset('mnist-s-c', { seed: 2, download: false });
    expect(ds.source).toContain('embedded');
    expect(ds.train.count).toBe(857);
    expect(same(ds.train.ids, a.train.ids.subarray(0, 857))).toBe(true);
    expect(ds.corruption).toEqual({ fraction: 0.2, seed: 2, flipped: 172 });
    expect(ds.test.count).toBe(1431);
    expect(ds.train.shape).toEqual([28, 28, 1]);
    await expect(loadMnist('svhn')).rejects.toThrow(/'svhn' is not the embedded MNIST/);
  });
});
