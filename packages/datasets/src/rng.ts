import { requireInteger } from './errors';

/**
 * Seeds are integers in [0, 2³² − 1]. Every random choice in this package
 * (label corruption, shuffling, augmentation, the embedded MNIST order) draws
 * from its own stream, derived from the seed and a stream tag by hashing, so
 * switching augmentation on never changes the batch order, and epoch e's order
 * does not depend on how many epochs ran before it.
 */
export const MAX_SEED = 0xffffffff;

/** Stream tags (one per use). */
export const STREAM = {
  corrupt: 1,
  shuffle: 2,
  augment: 3,
  embeddedOrder: 4,
} as const;

/** A seed, checked: an integer in [0, 2³² − 1]. */
export const requireSeed = (where: string, seed: number): number =>
  requireInteger(where, 'seed', seed, 0, MAX_SEED);

/** MurmurHash3's mixing of a sequence of 32-bit words into one 32-bit word. */
export function hashWords(words: readonly number[]): number {
  let h = 0x9747b28c;
  for (const word of words) {
    let k = Math.imul(word | 0, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= words.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform draw in [0, 1). */
export type Random = () => number;

/**
 * mulberry32, seeded from `words` (typically `[seed, STREAM.x, epoch]`):
 * small, fast, pure 32-bit integer arithmetic, so the stream is identical on
 * every platform.
 */
export function createRandom(words: readonly number[]): Random {
  let a = hashWords(words);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform integer in [0, n). */
export const randomInt = (random: Random, n: number): number => Math.floor(random() * n);

/** A uniformly random permutation of 0..n−1 (Fisher–Yates). */
export function permutation(n: number, random: Random): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}
