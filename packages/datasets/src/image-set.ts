import type { BaseDatasetName, DatasetInfo } from './catalogue';
import { DatasetError, shown } from './errors';

/**
 * One split of a dataset, held compactly: pixels as bytes (NHWC), labels as
 * int32. Normalisation and augmentation happen per batch (`batches`), so the
 * full CIFAR-10 training set costs 50,000 × 3,072 B = 153.6 MB.
 */
export interface ImageSet {
  /** E.g. `cifar10-s-c/train`. */
  readonly name: string;
  /** count × height × width × channels bytes, row-major (NHWC), 0..255. */
  readonly images: Uint8Array;
  /** The label of each example, 0..numClasses−1 (after `-c`: the corrupted ones). */
  readonly labels: Int32Array;
  readonly count: number;
  /** One image: height, width, channels. */
  readonly shape: readonly [number, number, number];
  readonly numClasses: number;
  /** Per-channel mean and std of x/255 used by normalisation. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** Whether `batches` augments by default (CIFAR training sets). */
  readonly augment: boolean;
  /** Each example's index in the source split (file order), kept through `-s`. */
  readonly ids: Int32Array;
  /** After `-c`: the labels before corruption. */
  readonly cleanLabels?: Int32Array;
  /** After `-c`: the positions (in this set) whose labels were flipped, ascending. */
  readonly corruptedIndices?: Int32Array;
  /** CIFAR-100: the 20 superclass labels. */
  readonly coarseLabels?: Int32Array;
}

export interface ImageSetInput {
  readonly name: string;
  readonly images: Uint8Array;
  readonly labels: Int32Array;
  readonly shape: readonly [number, number, number];
  readonly numClasses: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly augment?: boolean;
  readonly ids?: Int32Array;
  readonly cleanLabels?: Int32Array;
  readonly corruptedIndices?: Int32Array;
  readonly coarseLabels?: Int32Array;
}

/**
 * Checks and assembles an `ImageSet`: sizes agree, labels are in range, one
 * mean and std per channel. Use it to bring data of your own to `batches`.
 */
export function createImageSet(input: ImageSetInput): ImageSet {
  if (input === null || typeof input !== 'object') {
    throw new DatasetError(
      `createImageSet: input must be an object { name, images, labels, shape, numClasses, mean, std }, got ${shown(input)}.`,
    );
  }
  const { name, images, labels, shape, numClasses, mean, std } = input;
  const where = `createImageSet(${typeof name === 'string' ? name : shown(name)})`;
  if (!Array.isArray(shape) || shape.length !== 3) {
    throw new DatasetError(
      `${where}: shape must be [height, width, channels], got ${shown(shape)}.`,
    );
  }
  const [h, w, c] = shape;
  if (![h, w, c].every((d) => Number.isInteger(d) && d > 0)) {
    throw new DatasetError(
      `${where}: shape must be [height, width, channels] of positive integers, got [${shape.join(', ')}].`,
    );
  }
  if (!(images instanceof Uint8Array)) {
    throw new DatasetError(
      `${where}: images must be a Uint8Array of pixel bytes 0..255 (NHWC), got ${shown(images)}; pass Uint8Array.from(...) of bytes.`,
    );
  }
  if (!(labels instanceof Int32Array) && !Array.isArray(labels)) {
    throw new DatasetError(
      `${where}: labels must be an Int32Array of class indices, got ${shown(labels)}.`,
    );
  }
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new DatasetError(`${where}: numClasses must be an integer ≥ 2, got ${numClasses}.`);
  }
  const count = labels.length;
  if (images.length !== count * h * w * c) {
    throw new DatasetError(
      `${where}: ${count} labels need ${count * h * w * c} image bytes (${h}×${w}×${c} each), got ${images.length}; pass one label per image.`,
    );
  }
  const finite = (values: unknown) =>
    Array.isArray(values) && values.length === c && values.every((v) => Number.isFinite(v));
  if (!finite(mean) || !finite(std) || !std.every((s) => s > 0)) {
    throw new DatasetError(
      `${where}: mean and std need one finite number per channel (${c}), std > 0; got mean [${Array.isArray(mean) ? mean.join(', ') : shown(mean)}], std [${Array.isArray(std) ? std.join(', ') : shown(std)}].`,
    );
  }
  for (let i = 0; i < count; i++) {
    const y = labels[i]!;
    if (!(Number.isInteger(y) && y >= 0 && y < numClasses)) {
      throw new DatasetError(
        `${where}: label ${shown(y)} of example ${i} is not a class index (an integer in 0..${numClasses - 1}).`,
      );
    }
  }
  if (!(labels instanceof Int32Array)) {
    throw new DatasetError(
      `${where}: labels must be an Int32Array, got ${shown(labels)}; pass Int32Array.from(labels).`,
    );
  }
  for (const [what, array] of [
    ['ids', input.ids],
    ['cleanLabels', input.cleanLabels],
    ['coarseLabels', input.coarseLabels],
  ] as const) {
    if (array !== undefined && array.length !== count) {
      throw new DatasetError(
        `${where}: ${what} has ${array.length} entries for ${count} examples.`,
      );
    }
  }
  const ids = input.ids ?? Int32Array.from({ length: count }, (_, i) => i);
  return {
    name,
    images,
    labels,
    count,
    shape: [h, w, c],
    numClasses,
    mean: [...mean],
    std: [...std],
    augment: input.augment ?? false,
    ids,
    ...(input.cleanLabels && { cleanLabels: input.cleanLabels }),
    ...(input.corruptedIndices && { corruptedIndices: input.corruptedIndices }),
    ...(input.coarseLabels && { coarseLabels: input.coarseLabels }),
  };
}

/** A split of a catalogued dataset: shape, classes and constants from its `DatasetInfo`. */
export function catalogueImageSet(
  info: DatasetInfo,
  split: 'train' | 'test',
  images: Uint8Array,
  labels: Int32Array,
  extra: { coarseLabels?: Int32Array; ids?: Int32Array } = {},
): ImageSet {
  return createImageSet({
    name: `${info.name}/${split}`,
    images,
    labels,
    shape: info.shape,
    numClasses: info.numClasses,
    mean: info.mean,
    std: info.std,
    augment: split === 'train' && info.augment,
    ...extra,
  });
}

/** The examples at `indices` (in that order), as a new set with copied bytes. */
export function selectExamples(
  set: ImageSet,
  indices: ArrayLike<number>,
  name = set.name,
): ImageSet {
  const size = set.shape[0] * set.shape[1] * set.shape[2];
  const n = indices.length;
  const images = new Uint8Array(n * size);
  const labels = new Int32Array(n);
  const ids = new Int32Array(n);
  const pick = (source: Int32Array | undefined) => {
    if (!source) return undefined;
    const out = new Int32Array(n);
    for (let k = 0; k < n; k++) out[k] = source[indices[k]!]!;
    return out;
  };
  for (let k = 0; k < n; k++) {
    const i = indices[k]!;
    if (!(i >= 0 && i < set.count)) {
      throw new DatasetError(
        `selectExamples(${set.name}): index ${i} is outside 0..${set.count - 1}.`,
      );
    }
    images.set(set.images.subarray(i * size, (i + 1) * size), k * size);
    labels[k] = set.labels[i]!;
    ids[k] = set.ids[i]!;
  }
  const cleanLabels = pick(set.cleanLabels);
  const coarseLabels = pick(set.coarseLabels);
  let corruptedIndices: Int32Array | undefined;
  if (cleanLabels) {
    const flipped: number[] = [];
    for (let k = 0; k < n; k++) if (labels[k] !== cleanLabels[k]) flipped.push(k);
    corruptedIndices = Int32Array.from(flipped);
  }
  return createImageSet({
    ...set,
    name,
    images,
    labels,
    ids,
    ...(cleanLabels && { cleanLabels, corruptedIndices }),
    ...(coarseLabels && { coarseLabels }),
  });
}

/** A dataset: train and test splits plus what was done to them. */
export interface Dataset {
  /** Canonical name, e.g. `cifar10-s-c`. */
  readonly name: string;
  readonly base: BaseDatasetName;
  readonly info: DatasetInfo;
  readonly train: ImageSet;
  readonly test: ImageSet;
  /** `-s`: how the training set was cut. */
  readonly subsample?: {
    readonly fraction: number;
    readonly stratified: boolean;
    /** Examples kept, of `from`. */
    readonly kept: number;
    readonly from: number;
  };
  /** `-c`: how the training labels were corrupted. */
  readonly corruption?: {
    readonly fraction: number;
    readonly seed: number;
    readonly flipped: number;
  };
  /** Where the data came from (a directory, or the embedded package). */
  readonly source: string;
}
