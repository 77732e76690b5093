/**
 * Identity, and Cast to the same dtype, that share their input's buffer on
 * wasm, as the cpu backend's do (wasm's own copy it).
 *
 * The engine saves each tensor a gradient needs as an Identity clone. With
 * wasm's copying Identity every saved tensor is a second copy of an
 * activation, and one activation saved by several ops (BatchNorm's moments
 * and normalisation, relu, the next convolution, an Add) is copied several
 * times over: most of a training step's peak memory (issue 16). tf.moments
 * (BatchNorm in training) casts its float32 input to float32, another copy,
 * which its Sub saves. Tensors are immutable, so these can share the buffer;
 * wasm's reference count frees it with the last tensor on it, as it does for
 * Reshape. Strings and real conversions stay on wasm's own kernels.
 */
import type * as tf from '@tensorflow/tfjs-core';

interface RefCounted {
  incRef(dataId: tf.DataId): void;
}

/** `x` itself, under a new tensor: same buffer, one more reference. */
function share(x: tf.TensorInfo, backend: unknown): tf.TensorInfo {
  (backend as RefCounted).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Wraps wasm's Identity. */
export const shareBuffer =
  (original: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    return x.dtype === 'string' ? original(args) : share(x, args.backend);
  };

/** Wraps wasm's Cast: to the same dtype, shares. */
export const castSameShares =
  (original: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { dtype } = args.attrs as unknown as tf.CastAttrs;
    return x.dtype === dtype && dtype !== 'string' ? share(x, args.backend) : original(args);
  };
