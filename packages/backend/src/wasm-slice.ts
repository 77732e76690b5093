/**
 * Slice and SplitV on wasm without reading the whole input.
 *
 * tfjs-backend-wasm 4.22's Slice starts with `backend.readSync(x)`, a copy of
 * the entire input out of the heap, for every slice; SplitV is a Slice per
 * part, so splitting a vector of n entries into k parts copied k·n entries
 * (a 168k-parameter vector into 12 tensors: 4.4 ms where the parts are 0.7 MB).
 * These read the input in place, through a view of the heap, and copy only the
 * rows the slice keeps. Strings keep wasm's path.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WasmHeap } from './simd-kernels';
import type { KernelArgs } from './wasm-scratch';

/** Copies x[begin : begin + size] (already parsed: no −1 sizes) into a new tensor. */
function sliceInPlace(
  backend: WasmHeap,
  x: tf.TensorInfo,
  begin: number[],
  size: number[],
): tf.TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  // Views after makeOutput: allocating may grow (and so detach) the heap.
  const from = backend.typedArrayFromHeap(x);
  const to = backend.typedArrayFromHeap(out);
  const strides = tf.util.computeStrides(x.shape);
  if (tf.slice_util.isSliceContinous(x.shape, begin, size)) {
    const start = tf.slice_util.computeFlatOffset(begin, strides);
    to.set(from.subarray(start, start + to.length));
    return out;
  }
  // Row by row along the last axis: an odometer over the leading axes of the slice.
  const rank = x.shape.length;
  const row = size[rank - 1]!;
  const index = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  for (let written = 0; written < to.length; written += row) {
    let start = begin[rank - 1]!;
    for (let axis = 0; axis < rank - 1; axis++)
      start += (begin[axis]! + index[axis]!) * strides[axis]!;
    to.set(from.subarray(start, start + row), written);
    for (let axis = rank - 2; axis >= 0; axis--) {
      if (++index[axis]! < size[axis]!) break;
      index[axis] = 0;
    }
  }
  return out;
}

/** Wraps wasm's Slice: numeric tensors are sliced in place. */
export const sliceWithoutCopy =
  (original: tf.KernelFunc): tf.KernelFunc =>
  (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype === 'string') return original(args);
    const { begin, size } = args.attrs as unknown as tf.SliceAttrs;
    const [begin_, size_] = tf.slice_util.parseSliceParams(x, begin, size);
    return sliceInPlace(args.backend as unknown as WasmHeap, x, begin_!, size_!);
  };

/** Wraps wasm's SplitV: numeric tensors are split by in-place slices. */
export const splitWithoutCopy =
  (original: tf.KernelFunc): tf.KernelFunc =>
  (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype === 'string') return original(args);
    const { numOrSizeSplits, axis } = args.attrs as unknown as tf.SplitVAttrs;
    const along = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, along);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((part) => {
      const size = [...x.shape];
      size[along] = part;
      const slice = sliceInPlace(args.backend as unknown as WasmHeap, x, begin, size);
      begin[along]! += part;
      return slice;
    });
  };
