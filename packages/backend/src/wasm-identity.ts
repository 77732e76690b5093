/**
 * Identity that shares its input's buffer on wasm, as the cpu and webgl
 * backends' do (wasm's own copies it).
 *
 * The engine saves each tensor a gradient needs as an Identity clone. With
 * wasm's copying Identity every saved tensor is a second copy of an
 * activation, and one activation saved by several ops (BatchNorm's moments
 * and normalisation, relu, the next convolution, an Add) is copied several
 * times over: most of a training step's peak memory (issue 16). Tensors are
 * immutable, so a clone can share the buffer; wasm's reference count frees it
 * with the last tensor on it, as it does for Reshape. Strings stay on wasm's own.
 */
import type * as tf from '@tensorflow/tfjs-core';

interface RefCounted {
  incRef(dataId: tf.DataId): void;
}

export const shareBuffer =
  (original: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype === 'string') return original(args);
    (args.backend as unknown as RefCounted).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
