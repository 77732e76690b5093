/**
 * Kernels built from other wasm kernels call their kernel functions directly
 * on the backend (as tfjs backends do internally) rather than through tf ops:
 * no engine bookkeeping, and each intermediate is freed with
 * `backend.disposeData` before returning.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WasmHeap } from './simd-kernels';

export const BACKEND = 'wasm';

export type Pair = [number, number];
export type Shape4 = [number, number, number, number];
export type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Runs wasm kernels and remembers their outputs, so all but the result can be freed. */
export class Scratch {
  private readonly made: tf.TensorInfo[] = [];

  constructor(readonly backend: tf.KernelBackend) {}

  run(kernelName: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): tf.TensorInfo {
    const kernel = tf.getKernel(kernelName, BACKEND);
    if (kernel === undefined) {
      throw new Error(`@usam/backend: wasm kernel '${kernelName}' is not registered.`);
    }
    return this.call(kernel.kernelFunc, inputs, attrs);
  }

  /** Runs a given kernel function (e.g. the one a kernel of ours wraps). */
  call(kernelFunc: tf.KernelFunc, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) {
    const out = kernelFunc({ inputs, backend: this.backend, attrs }) as tf.TensorInfo;
    this.made.push(out);
    return out;
  }

  /** A new float32 tensor on wasm's heap, uninitialised (for our SIMD kernels to fill). */
  alloc(shape: number[]): tf.TensorInfo {
    const out = (this.backend as unknown as WasmHeap).makeOutput(shape, 'float32');
    this.made.push(out);
    return out;
  }

  reshape(x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  /** Transpose, as a free reshape when only size-1 axes move (wasm would copy). */
  transpose(x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
    const shape = perm.map((axis) => x.shape[axis]!);
    const moved = perm.filter((axis) => x.shape[axis] !== 1);
    if (moved.every((axis, i) => i === 0 || axis > moved[i - 1]!)) {
      return this.reshape(x, shape);
    }
    return this.run('Transpose', { x }, { perm });
  }

  /** Crops axes 1 and 2 of a rank-4 tensor to `begin` + `size`, copying only if needed. */
  crop(x: tf.TensorInfo, begin: Pair, size: Pair): tf.TensorInfo {
    if (begin[0] === 0 && begin[1] === 0 && size[0] === x.shape[1] && size[1] === x.shape[2]) {
      return x;
    }
    return this.run('Slice', { x }, { begin: [0, ...begin, 0], size: [-1, ...size, -1] });
  }

  /** Frees every intermediate except `result`, which the engine takes over. */
  finish(result: tf.TensorInfo): tf.TensorInfo {
    this.release(result);
    return result;
  }

  /** Frees every intermediate (except `keep`); reshapes share data, hence reference counts. */
  release(keep?: tf.TensorInfo): void {
    for (const info of this.made) {
      if (info !== keep) this.backend.disposeData(info.dataId);
    }
    this.made.length = 0;
  }
}

/** Runs `body` with a scratch space that is freed even when a kernel throws. */
export function withScratch(
  backend: tf.KernelBackend,
  body: (scratch: Scratch) => tf.TensorInfo,
): tf.TensorInfo {
  const scratch = new Scratch(backend);
  try {
    return scratch.finish(body(scratch));
  } catch (error) {
    scratch.release();
    throw error;
  }
}
