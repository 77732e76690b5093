import * as tf from '@tensorflow/tfjs-core';
import { cropFlip, drawCropFlip } from './augment';
import { DatasetError, requireInteger, requireOptions, shown } from './errors';
import type { ImageSet } from './image-set';
import { createRandom, permutation, type Random, requireSeed, STREAM } from './rng';

/** How batch tensors are made from an `ImageSet`. */
export interface TensorOptions {
  /** xs as [b, height·width·channels] (for MLPs) instead of [b, height, width, channels]. Default false. */
  readonly flatten?: boolean;
  /** ys as one-hot float32 [b, numClasses] (default) or int32 class indices [b]. */
  readonly labels?: 'one-hot' | 'int';
  /** (x/255 − mean_c)/std_c per channel (default); false gives x/255. */
  readonly normalize?: boolean;
}

/** Options of `batches`. */
export interface BatchOptions extends TensorOptions {
  /** Examples per batch, ≥ 1. */
  readonly batchSize: number;
  /** A fresh seeded permutation each epoch (default true); false keeps file order. */
  readonly shuffle?: boolean;
  /** Seed of the shuffle and the augmentation, an integer in [0, 2³² − 1]. Default 0. */
  readonly seed?: number;
  /** Epoch number (≥ 0): with the seed, it fixes this epoch's order and augmentation. Default 0. */
  readonly epoch?: number;
  /** Leave out the last batch when it is smaller than `batchSize`. Default false. */
  readonly dropLast?: boolean;
  /** Random crop (4-pixel zero padding) and horizontal flip. Default: the set's `augment` (CIFAR train). */
  readonly augment?: boolean;
}

/** One batch. The tensors are new and the caller's: dispose them. */
export interface Batch {
  /** float32 [b, height, width, channels], or [b, height·width·channels] with `flatten`. */
  readonly xs: tf.Tensor4D | tf.Tensor2D;
  /** float32 one-hot [b, numClasses], or int32 [b] with `labels: 'int'`. */
  readonly ys: tf.Tensor2D | tf.Tensor1D;
  /** The batch's examples: positions in the set. */
  readonly indices: Int32Array;
  /** Their labels (as in ys), for bookkeeping without reading tensors back. */
  readonly labels: Int32Array;
  /** Examples in this batch. */
  readonly size: number;
}

const BATCH_OPTIONS = [
  'batchSize',
  'shuffle',
  'seed',
  'epoch',
  'dropLast',
  'augment',
  'flatten',
  'labels',
  'normalize',
];

/** Per channel and byte value: the float32 the byte becomes. */
function normalisationTable(set: ImageSet, normalize: boolean): Float32Array {
  const c = set.shape[2];
  const table = new Float32Array(256 * c);
  for (let v = 0; v < 256; v++) {
    for (let k = 0; k < c; k++) {
      table[v * c + k] = normalize ? (v / 255 - set.mean[k]!) / set.std[k]! : v / 255;
    }
  }
  return table;
}

function checkTensorOptions(where: string, options: TensorOptions): void {
  if (options.labels !== undefined && options.labels !== 'one-hot' && options.labels !== 'int') {
    throw new DatasetError(
      `${where}: labels must be 'one-hot' or 'int', got '${String(options.labels)}'.`,
    );
  }
}

/**
 * The tensors for the examples at `indices` of `set`. Pixels are turned into
 * float32 here, per batch (never for the whole set): optionally augmented on
 * the bytes first (`random` given), then normalised through a 256-entry table
 * per channel, (x/255 − mean_c)/std_c. One-hot labels are built in JavaScript
 * (the wasm backend's float32 `tf.oneHot` is unreliable).
 */
export function makeBatch(
  set: ImageSet,
  indices: Int32Array,
  options: TensorOptions & { random?: Random } = {},
): Batch {
  checkTensorOptions('makeBatch', options);
  const [h, w, c] = set.shape;
  const size = h * w * c;
  const n = indices.length;
  const table = normalisationTable(set, options.normalize ?? true);
  const values = new Float32Array(n * size);
  const labels = new Int32Array(n);
  const scratch = options.random ? new Uint8Array(size) : undefined;
  for (let k = 0; k < n; k++) {
    const i = indices[k]!;
    if (!(i >= 0 && i < set.count)) {
      throw new DatasetError(`makeBatch(${set.name}): index ${i} is outside 0..${set.count - 1}.`);
    }
    let pixels = set.images.subarray(i * size, (i + 1) * size);
    if (scratch && options.random) {
      cropFlip(pixels, scratch, set.shape, drawCropFlip(options.random));
      pixels = scratch;
    }
    const base = k * size;
    for (let p = 0; p < size; p += c) {
      for (let ch = 0; ch < c; ch++) values[base + p + ch] = table[pixels[p + ch]! * c + ch]!;
    }
    labels[k] = set.labels[i]!;
  }
  const xs = options.flatten ? tf.tensor2d(values, [n, size]) : tf.tensor4d(values, [n, h, w, c]);
  let ys: tf.Tensor2D | tf.Tensor1D;
  if (options.labels === 'int') {
    ys = tf.tensor1d(labels, 'int32');
  } else {
    const K = set.numClasses;
    const oneHot = new Float32Array(n * K);
    for (let k = 0; k < n; k++) oneHot[k * K + labels[k]!] = 1;
    ys = tf.tensor2d(oneHot, [n, K]);
  }
  return { xs, ys, indices, labels, size: n };
}

/** Number of batches in one epoch. */
export function batchCount(count: number, batchSize: number, dropLast = false): number {
  requireInteger('batchCount', 'batchSize', batchSize, 1);
  return dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

/**
 * The order in which one epoch visits the examples: a permutation of
 * 0..count−1 drawn from (seed, epoch) alone, or file order without shuffling.
 */
export function epochOrder(
  count: number,
  options: { shuffle?: boolean; seed?: number; epoch?: number } = {},
): Int32Array {
  const seed = requireSeed('epochOrder', options.seed ?? 0);
  const epoch = requireInteger('epochOrder', 'epoch', options.epoch ?? 0, 0);
  if (options.shuffle === false) return Int32Array.from({ length: count }, (_, i) => i);
  return permutation(count, createRandom([seed, STREAM.shuffle, epoch]));
}

/**
 * One epoch of batches over `set`: every example exactly once (except the
 * ragged tail with `dropLast`), in a seeded order that depends only on (seed,
 * epoch), augmented (CIFAR training sets by default) from a stream that also
 * depends only on (seed, epoch). Options are checked before the first batch.
 *
 * ```ts
 * for (const { xs, ys } of batches(ds.train, { batchSize: 128, seed, epoch })) {
 *   // train on xs, ys …
 *   tf.dispose([xs, ys]);
 * }
 * ```
 */
export function batches(set: ImageSet, options: BatchOptions): Generator<Batch, void, undefined> {
  if (set == null || !(set.images instanceof Uint8Array) || !(set.labels instanceof Int32Array)) {
    throw new DatasetError(
      `batches: set must be an ImageSet (from loadDataset or createImageSet), got ${shown(set)}.`,
    );
  }
  requireOptions('batches', options, BATCH_OPTIONS, true);
  const batchSize = requireInteger('batches', 'batchSize', options.batchSize, 1);
  const seed = requireSeed('batches', options.seed ?? 0);
  const epoch = requireInteger('batches', 'epoch', options.epoch ?? 0, 0);
  checkTensorOptions('batches', options);
  const order = epochOrder(set.count, { shuffle: options.shuffle ?? true, seed, epoch });
  const random =
    (options.augment ?? set.augment) ? createRandom([seed, STREAM.augment, epoch]) : undefined;
  const total = batchCount(set.count, batchSize, options.dropLast ?? false);
  const tensorOptions: TensorOptions = {
    ...(options.flatten !== undefined && { flatten: options.flatten }),
    ...(options.labels !== undefined && { labels: options.labels }),
    ...(options.normalize !== undefined && { normalize: options.normalize }),
  };
  return (function* () {
    for (let b = 0; b < total; b++) {
      const indices = order.subarray(b * batchSize, Math.min((b + 1) * batchSize, set.count));
      yield makeBatch(set, indices, { ...tensorOptions, ...(random && { random }) });
    }
  })();
}

/** The first `count` examples as one batch, for a fixed evaluation subset. */
export interface Examples {
  readonly xs: tf.Tensor4D | tf.Tensor2D;
  readonly ys: tf.Tensor2D | tf.Tensor1D;
  readonly labels: Int32Array;
  /** min(n, set.count). */
  readonly count: number;
}

/**
 * The first n examples of `set` in file order, never augmented: the fixed
 * data subset of the Hessian estimators (paper, Appendix I: the first 1280
 * training examples). A set with fewer examples gives all of them. The caller
 * disposes xs and ys.
 */
export function firstExamples(set: ImageSet, n = 1280, options: TensorOptions = {}): Examples {
  requireInteger('firstExamples', 'n', n, 1);
  const count = Math.min(n, set.count);
  const { xs, ys, labels } = makeBatch(
    set,
    Int32Array.from({ length: count }, (_, i) => i),
    options,
  );
  return { xs, ys, labels, count };
}
