/**
 * Identity, and Cast to the same dtype, for the wasm backend without a copy. tfjs-backend-wasm 4.22 copies
 * the tensor's data into a new buffer; tfjs calls Identity for every
 * `clone`, `keep`-free pass-through, customGrad output and gradient that flows
 * unchanged (e.g. through a fused conv's bias add), so a CNN training step
 * copied each activation a few times (≈ 5% of the step); tfjs's ReLU gradient
 * casts a float32 step to float32 (another 4%). Tensor data is never
 * written in place, so sharing the buffer, as wasm's Reshape and the cpu
 * backend's Identity do, computes the same thing.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { KernelArgs } from './wasm-scratch';

interface RefCounted {
  incRef(dataId: tf.DataId): void;
}

/**
 * Wraps wasm's Identity or Cast: everything but strings and actual casts
 * (another dtype) shares its input's buffer.
 */
export const shareBuffer =
  (original: tf.KernelFunc): tf.KernelFunc =>
  (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const dtype = (args.attrs as { dtype?: tf.DataType } | undefined)?.dtype ?? x.dtype;
    if (x.dtype === 'string' || dtype !== x.dtype) return original(args);
    (args.backend as unknown as RefCounted).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
