import { DATASETS, parseDatasetName } from './catalogue';
import { DatasetError, requireFraction } from './errors';
import { createImageSet, type Dataset, type ImageSet, selectExamples } from './image-set';
import { createRandom, permutation, randomInt, requireSeed, STREAM } from './rng';

/** How `-s` and `-c` are made. Both are deterministic given these. */
export interface VariantOptions {
  /** Seed of the label corruption (and nothing else here). Default 0. */
  readonly seed?: number;
  /** `-s`: fraction of the training set kept, in (0, 1]. Default 0.1 (the paper's 10%). */
  readonly subsampleFraction?: number;
  /** `-s`: keep the first examples of each class, in proportion to class frequency. Default false. */
  readonly stratified?: boolean;
  /** `-c`: fraction of training labels flipped, in [0, 1]. Default 0.2 (the paper's 20%). */
  readonly corruptionFraction?: number;
}

export const DEFAULT_SUBSAMPLE_FRACTION = 0.1;
export const DEFAULT_CORRUPTION_FRACTION = 0.2;

/**
 * Checks every option given, used or not (`cifar10` with a bad
 * `subsampleFraction` is still a mistake worth reporting).
 */
export function checkVariantOptions(options: VariantOptions): void {
  const where = 'dataset options';
  if (options.seed !== undefined) requireSeed(where, options.seed);
  if (options.subsampleFraction !== undefined) {
    requireFraction(where, 'subsampleFraction', options.subsampleFraction, true);
  }
  if (options.corruptionFraction !== undefined) {
    requireFraction(where, 'corruptionFraction', options.corruptionFraction, false);
  }
}

/**
 * ⌈fraction · n⌉, computed with a 1e-9 tolerance so that a product that is an
 * integer in exact arithmetic (0.7 · 10) is not rounded up by floating-point
 * error.
 */
export function fractionCount(fraction: number, n: number): number {
  return Math.max(0, Math.min(n, Math.ceil(fraction * n - 1e-9)));
}

/** Examples per class. */
export function classCounts(labels: Int32Array, numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (const y of labels) counts[y]!++;
  return counts;
}

/**
 * Per-class quotas that add up to `k`, proportional to `counts`: each class
 * gets ⌊k·n_c/N⌋, and the examples still missing go one each to the classes
 * with the largest remainders k·n_c/N − ⌊k·n_c/N⌋ (ties: lower class index).
 */
export function stratifiedQuotas(counts: readonly number[], k: number): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  const exact = counts.map((n) => (total === 0 ? 0 : (k * n) / total));
  const quotas = exact.map(Math.floor);
  let missing = k - quotas.reduce((a, b) => a + b, 0);
  const byRemainder = exact
    .map((x, c) => ({ c, r: x - Math.floor(x) }))
    .sort((a, b) => b.r - a.r || a.c - b.c);
  for (const { c } of byRemainder) {
    if (missing <= 0) break;
    if (quotas[c]! < counts[c]!) {
      quotas[c]!++;
      missing--;
    }
  }
  return quotas;
}

/**
 * `-s`: keeps k = ⌈fraction · N⌉ training examples. Plain (the paper's rule):
 * the first k in file order. Stratified: class c keeps its first q_c examples
 * in file order, q_c from `stratifiedQuotas` (proportional to class frequency,
 * largest remainders), and the kept examples stay in file order. No
 * randomness.
 */
export function subsample(
  set: ImageSet,
  options: { fraction?: number; stratified?: boolean } = {},
): ImageSet {
  const fraction = requireFraction(
    'subsample',
    'subsampleFraction',
    options.fraction ?? DEFAULT_SUBSAMPLE_FRACTION,
    true,
  );
  const k = fractionCount(fraction, set.count);
  let indices: Int32Array;
  if (!options.stratified) {
    indices = Int32Array.from({ length: k }, (_, i) => i);
  } else {
    const quotas = stratifiedQuotas(classCounts(set.labels, set.numClasses), k);
    indices = new Int32Array(k);
    let n = 0;
    for (let i = 0; i < set.count && n < k; i++) {
      const y = set.labels[i]!;
      if (quotas[y]! > 0) {
        quotas[y]!--;
        indices[n++] = i;
      }
    }
  }
  return selectExamples(set, indices);
}

/**
 * `-c`: flips exactly ⌈fraction · N⌉ labels. The examples are the first ones of
 * a seeded permutation of 0..N−1; each gets a label drawn uniformly from the
 * other numClasses − 1 classes (never its own). The images are shared, not
 * copied; the labels before corruption stay in `cleanLabels`.
 */
export function corruptLabels(
  set: ImageSet,
  options: { fraction?: number; seed?: number } = {},
): ImageSet {
  const fraction = requireFraction(
    'corruptLabels',
    'corruptionFraction',
    options.fraction ?? DEFAULT_CORRUPTION_FRACTION,
    false,
  );
  const seed = requireSeed('corruptLabels', options.seed ?? 0);
  const clean = set.cleanLabels ?? set.labels;
  const labels = Int32Array.from(set.labels);
  const k = fractionCount(fraction, set.count);
  const random = createRandom([seed, STREAM.corrupt]);
  const chosen = permutation(set.count, random).subarray(0, k);
  const K = set.numClasses;
  for (const i of chosen) labels[i] = (labels[i]! + 1 + randomInt(random, K - 1)) % K;
  const corrupted: number[] = [];
  for (let i = 0; i < set.count; i++) if (labels[i] !== clean[i]) corrupted.push(i);
  return createImageSet({
    ...set,
    labels,
    cleanLabels: clean,
    corruptedIndices: Int32Array.from(corrupted),
  });
}

/**
 * Builds a named dataset from its two splits: parses `name` (`cifar10-s-c`, …),
 * then applies `-s` to the training set and then `-c` to what was kept (so
 * `-s-c` flips ⌈0.2 · ⌈0.1 · N⌉⌉ labels). The test set is never changed.
 */
export function createDataset(
  name: string,
  splits: { train: ImageSet; test: ImageSet },
  options: VariantOptions = {},
  source = 'in memory',
): Dataset {
  const parsed = parseDatasetName(name);
  checkVariantOptions(options);
  const info = DATASETS[parsed.base];
  const { test } = splits;
  if (splits.train.numClasses !== test.numClasses) {
    throw new DatasetError(
      `createDataset(${name}): train has ${splits.train.numClasses} classes but test has ${test.numClasses}.`,
    );
  }
  if (splits.train.shape.join('×') !== test.shape.join('×')) {
    throw new DatasetError(
      `createDataset(${name}): train images are ${splits.train.shape.join('×')} but test images are ${test.shape.join('×')}; pass splits of one image shape.`,
    );
  }
  let train = splits.train;
  const from = train.count;
  let subsampleInfo: Dataset['subsample'];
  if (parsed.subsample) {
    const fraction = options.subsampleFraction ?? DEFAULT_SUBSAMPLE_FRACTION;
    const stratified = options.stratified ?? false;
    train = subsample(train, { fraction, stratified });
    subsampleInfo = { fraction, stratified, kept: train.count, from };
  }
  let corruption: Dataset['corruption'];
  if (parsed.corrupt) {
    const fraction = options.corruptionFraction ?? DEFAULT_CORRUPTION_FRACTION;
    const seed = options.seed ?? 0;
    train = corruptLabels(train, { fraction, seed });
    corruption = { fraction, seed, flipped: train.corruptedIndices!.length };
  }
  return {
    name: parsed.name,
    base: parsed.base,
    info,
    train: { ...train, name: `${parsed.name}/train` },
    test: { ...test, name: `${parsed.name}/test` },
    ...(subsampleInfo && { subsample: subsampleInfo }),
    ...(corruption && { corruption }),
    source,
  };
}
