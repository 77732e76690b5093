/**
 * Identity, and Cast to the dtype a tensor already has, without a copy; and
 * Cast to bool that is right.
 *
 * tfjs-backend-wasm 4.22 copies the data for both, where the cpu and webgl
 * backends share it (reference counted, as wasm's own Reshape does). tfjs-core
 * runs Identity for every tensor it saves for the backward pass (`engine.clone`)
 * and for every variable read into a layer, so on wasm each saved activation was
 * held twice and copied once, and XNNPACK re-packed the weights of every dense
 * layer on every forward pass (its operator cache is keyed by the weights'
 * buffer, and each call saw a fresh copy). Tensors are immutable, so sharing
 * is safe: no kernel writes into its inputs.
 *
 * wasm's Cast copies element by element with a typed-array `set`, so a cast to
 * bool stored each number modulo 256 (−2.7 → 254, 0.5 → 0) instead of x ≠ 0.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { WasmHeap } from './simd-kernels';
import type { KernelArgs } from './wasm-scratch';

function share(args: KernelArgs, x: tf.TensorInfo): tf.TensorInfo {
  (args.backend as unknown as WasmHeap).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Wraps wasm's Identity: numeric tensors share their data (strings keep wasm's path). */
export const sharedIdentity =
  (original: tf.KernelFunc): tf.KernelFunc =>
  (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    return x.dtype === 'string' ? original(args) : share(args, x);
  };

/** x ≠ 0, as the cpu backend casts numbers to bool. */
function nonZero(args: KernelArgs, x: tf.TensorInfo): tf.TensorInfo {
  const backend = args.backend as unknown as WasmHeap;
  const out = backend.makeOutput([...x.shape], 'bool');
  // Views after makeOutput: allocating may grow (and so detach) the heap.
  const from = backend.typedArrayFromHeap(x);
  const to = backend.typedArrayFromHeap(out);
  for (let i = 0; i < from.length; i++) to[i] = from[i] !== 0 ? 1 : 0;
  return out;
}

/**
 * Wraps wasm's Cast: a cast to the tensor's own numeric dtype shares its data,
 * a cast of numbers to bool is x ≠ 0; every other cast is wasm's.
 */
export const sharedSameDtypeCast =
  (original: tf.KernelFunc): tf.KernelFunc =>
  (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { dtype } = args.attrs as unknown as tf.CastAttrs;
    if (x.dtype === 'string' || dtype === 'string') return original(args);
    if (dtype === x.dtype) return share(args, x);
    if (dtype === 'bool') return nonZero(args, x);
    return original(args);
  };
