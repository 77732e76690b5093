import * as tf from '@tensorflow/tfjs-core';
import { EstimatorError, requireInteger } from './errors';

/**
 * Where the batches come from. The estimators pass over the data once per
 * gradient point, so the source must be re-iterable: an array, any iterable
 * whose iterator is fresh on each call, or a function returning a fresh
 * (async) iterable. One-shot iterators (generator objects) are refused.
 */
export type DataSource<B> = Iterable<B> | AsyncIterable<B> | (() => Iterable<B> | AsyncIterable<B>);

/**
 * A supervised batch, as `firstBatches` makes them. A type alias, not an
 * interface, so that `Batch[]` is a `tf.TensorContainer` (`tf.dispose(batches)`).
 */
export type Batch = {
  readonly xs: tf.Tensor;
  readonly ys: tf.Tensor;
};

export interface FirstBatchesOptions {
  /** How many leading examples to keep (paper, Appendix I: 1280). */
  readonly examples?: number;
  /** Examples per batch (paper: 128). The last batch may be smaller. */
  readonly batchSize?: number;
}

/**
 * The paper's Hessian data subset (docs/hessian-estimators.md): the first `examples` rows of
 * `xs`/`ys`, in batches of `batchSize` (defaults 1280 and 128). Fewer rows
 * than `examples` means all of them. The batches are new tensors the caller
 * owns: `tf.dispose(batches)` when done.
 */
export function firstBatches(
  xs: tf.Tensor,
  ys: tf.Tensor,
  options: FirstBatchesOptions = {},
): Batch[] {
  const examples = requireInteger('firstBatches', 'examples', options.examples ?? 1280, 1);
  const batchSize = requireInteger('firstBatches', 'batchSize', options.batchSize ?? 128, 1);
  const n = xs.shape[0];
  if (xs.rank === 0 || ys.rank === 0 || n === undefined || n < 1) {
    throw new EstimatorError(
      'firstBatches: xs has no examples; pass tensors whose first axis indexes examples.',
    );
  }
  if (ys.shape[0] !== n) {
    throw new EstimatorError(
      `firstBatches: xs has ${n} examples but ys has ${ys.shape[0]}; pass matching xs and ys.`,
    );
  }
  const total = Math.min(examples, n);
  const batches: Batch[] = [];
  for (let start = 0; start < total; start += batchSize) {
    const size = Math.min(batchSize, total - start);
    batches.push({ xs: tf.slice(xs, [start], [size]), ys: tf.slice(ys, [start], [size]) });
  }
  return batches;
}

/**
 * Default batch weight: the number of examples, read from a tensor batch's
 * first axis or from a `{ xs }` batch; 1 for anything else.
 */
export function defaultBatchSize(batch: unknown): number {
  const leading = (t: unknown): number | undefined => {
    const shape = (t as { shape?: unknown } | null)?.shape;
    return Array.isArray(shape) && typeof shape[0] === 'number' ? shape[0] : undefined;
  };
  if (batch !== null && typeof batch === 'object') {
    const n = leading(batch) ?? leading((batch as { xs?: unknown }).xs);
    if (n !== undefined) return n;
  }
  return 1;
}

type AnyIterable<B> = Iterable<B> | AsyncIterable<B>;

const isIterable = (x: unknown): x is Iterable<unknown> =>
  x != null && typeof (x as Iterable<unknown>)[Symbol.iterator] === 'function';
const isAsyncIterable = (x: unknown): x is AsyncIterable<unknown> =>
  x != null && typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';

/**
 * Validates a data source up front and returns a function that opens a fresh
 * pass over it. `undefined` (no data) is one batch, `undefined`, so a loss
 * closure that holds its own batch works unchanged.
 */
export function openData<B>(where: string, data: DataSource<B> | undefined): () => AnyIterable<B> {
  if (data === undefined) return () => [undefined as B];
  if (typeof data === 'function') {
    return () => {
      const source = data();
      if (!isIterable(source) && !isAsyncIterable(source)) {
        throw new EstimatorError(
          `${where}: the data function returned ${typeof source}, not an iterable; return an array or iterable of batches.`,
        );
      }
      return source;
    };
  }
  if (isIterable(data)) {
    if ((data as Iterable<B>)[Symbol.iterator]() === (data as unknown)) throw oneShot(where);
    return () => data as Iterable<B>;
  }
  if (isAsyncIterable(data)) {
    if ((data as AsyncIterable<B>)[Symbol.asyncIterator]() === (data as unknown)) {
      throw oneShot(where);
    }
    return () => data as AsyncIterable<B>;
  }
  throw new EstimatorError(
    `${where}: data must be an array, an iterable or a function returning one, got ${typeof data}; pass e.g. firstBatches(xs, ys).`,
  );
}

const oneShot = (where: string) =>
  new EstimatorError(
    `${where}: data is a one-shot iterator (e.g. a generator object) but every Hessian-vector product passes over the data again; pass an array or a function returning a fresh iterable.`,
  );
