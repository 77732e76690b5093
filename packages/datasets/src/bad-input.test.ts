/**
 * Bad input, as a new user writes it from plain JavaScript or TypeScript:
 * every row must fail with a one-line `DatasetError` whose message contains
 * the fragment (the argument, what it got, what is accepted). Add a row with
 * every new public function.
 */
import { describe, expect, it } from 'vitest';
import { batches, createDataset, createImageSet, DatasetError, type ImageSetInput } from './index';
import { loadDataset } from './node';

// biome-ignore lint/suspicious/noExplicitAny: calls as plain JavaScript makes them.
type Loose = any;

/** A valid 2-example, 2×2 grey set; rows override one field. */
const input = (over: Partial<Record<keyof ImageSetInput, unknown>> = {}): ImageSetInput =>
  ({
    name: 'toy',
    images: new Uint8Array(8),
    labels: Int32Array.from([0, 1]),
    shape: [2, 2, 1],
    numClasses: 2,
    mean: [0.5],
    std: [0.25],
    ...over,
  }) as ImageSetInput;

const cases: [string, () => unknown, string][] = [
  [
    'batches(set) without options',
    () => (batches as Loose)(createImageSet(input())),
    'batches: options must be an object with batchSize, shuffle',
  ],
  [
    'batches with a misspelt option',
    () => batches(createImageSet(input()), { batchSize: 2, shufle: false } as Loose),
    "batches: unknown option 'shufle'; valid options are batchSize",
  ],
  [
    'batches(undefined)',
    () => batches(undefined as Loose, { batchSize: 2 }),
    'batches: set must be an ImageSet (from loadDataset or createImageSet), got undefined',
  ],
  [
    "batchSize: '32'",
    () => batches(createImageSet(input()), { batchSize: '32' as Loose }),
    "batchSize must be an integer ≥ 1, got '32'",
  ],
  [
    'createImageSet() without input',
    () => (createImageSet as Loose)(),
    'createImageSet: input must be an object { name, images, labels, shape, numClasses, mean, std }, got undefined',
  ],
  [
    'mean = NaN',
    () => createImageSet(input({ mean: [Number.NaN] })),
    'mean and std need one finite number per channel (1), std > 0; got mean [NaN]',
  ],
  ['std = ∞', () => createImageSet(input({ std: [Number.POSITIVE_INFINITY] })), 'std [Infinity]'],
  [
    'plain arrays for images',
    () => createImageSet(input({ images: [0, 1, 2, 3, 4, 5, 6, 7] })),
    'images must be a Uint8Array of pixel bytes 0..255 (NHWC), got an array of length 8',
  ],
  [
    'float images',
    () => createImageSet(input({ images: new Float32Array(8) })),
    'images must be a Uint8Array of pixel bytes 0..255 (NHWC), got a Float32Array',
  ],
  [
    'a label of 1.5',
    () => createImageSet(input({ labels: [0, 1.5] })),
    'label 1.5 of example 1 is not a class index (an integer in 0..1)',
  ],
  [
    'labels as a plain array',
    () => createImageSet(input({ labels: [0, 1] })),
    'labels must be an Int32Array, got an array of length 2',
  ],
  [
    'shape a string',
    () => createImageSet(input({ shape: '2x2' })),
    "shape must be [height, width, channels], got '2x2'",
  ],
  [
    'train/test shapes differ',
    () =>
      createDataset('mnist', {
        train: createImageSet(input()),
        test: createImageSet(input({ images: new Uint8Array(18), shape: [3, 3, 1] })),
      }),
    'train images are 2×2×1 but test images are 3×3×1',
  ],
  [
    "loadDataset with 'dir'",
    () => loadDataset('cifar10', { dir: '/nowhere' } as Loose),
    "loadDataset(cifar10): unknown option 'dir'; valid options are dataDir, cacheDir, download",
  ],
  [
    "loadDataset with 'offline'",
    () => loadDataset('cifar10', { offline: true } as Loose),
    "unknown option 'offline'",
  ],
  [
    'loadDataset with packageDir: true',
    () => loadDataset('mnist-full', { packageDir: true } as Loose),
    'loadDataset(mnist-full): packageDir must be a directory path or false, got true',
  ],
  [
    'loadDataset options a string',
    () => loadDataset('mnist', '/data' as Loose),
    'loadDataset(mnist): options must be an object with dataDir, cacheDir',
  ],
  [
    "subsampleFraction: '0.1'",
    () => loadDataset('mnist-s', { subsampleFraction: '0.1' as Loose }),
    "subsampleFraction must be a number in (0, 1], got '0.1'",
  ],
];

describe('bad input to @usam/datasets', () => {
  it.each(cases)('%s', async (_, call, fragment) => {
    let error: unknown;
    try {
      const result = await call();
      // batches is a generator: its checks run when it is called, not on first next().
      (result as Iterator<unknown> | undefined)?.next?.();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DatasetError);
    expect((error as Error).message).toContain(fragment);
    expect((error as Error).message).not.toContain('\n');
  });
});
