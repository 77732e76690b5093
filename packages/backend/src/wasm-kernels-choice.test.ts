import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { BackendError, initBackend } from './node';
import { simdKernels, type WasmHeap } from './simd-kernels';

const ours = (name: string) =>
  Boolean(
    (tf.getKernel(name, 'wasm') as unknown as Record<symbol, unknown>)?.[
      Symbol.for('@usam/backend/wasm-training-kernel')
    ],
  );

afterAll(async () => {
  await initBackend('wasm');
});

describe("initBackend('wasm', { kernels })", () => {
  it("'tfjs' puts tfjs-backend-wasm's own kernels back and switches the SIMD module off; training still runs", async () => {
    await initBackend('wasm', { kernels: 'tfjs' });
    expect(ours('BatchMatMul')).toBe(false);
    expect(ours('Conv2DBackpropInput')).toBe(false);
    // wasm has no filter gradient: ours stays, without SIMD.
    expect(ours('Conv2DBackpropFilter')).toBe(true);
    expect(simdKernels(tf.backend() as unknown as WasmHeap)).toBeUndefined();
    const g = tf.tidy(() =>
      tf
        .grad((f: tf.Tensor) =>
          tf.sum(tf.conv2d(tf.ones([1, 3, 3, 1]) as tf.Tensor4D, f as tf.Tensor4D, 1, 'valid')),
        )(tf.ones([2, 2, 1, 1]))
        .dataSync(),
    );
    expect([...g]).toEqual([4, 4, 4, 4]);
  });

  it("'usam' (the default) puts ours back", async () => {
    await initBackend('wasm');
    expect(ours('BatchMatMul')).toBe(true);
    expect(ours('Conv2DBackpropInput')).toBe(true);
    expect(simdKernels(tf.backend() as unknown as WasmHeap)).toBeDefined();
  });

  it('rejects anything else in one line', async () => {
    // @ts-expect-error: plain JS gets the error.
    await expect(initBackend('wasm', { kernels: 'fast' })).rejects.toThrow(
      /kernels must be 'usam' or 'tfjs', got 'fast'/,
    );
    process.env.USAM_KERNELS = 'none';
    try {
      await expect(initBackend('wasm')).rejects.toBeInstanceOf(BackendError);
    } finally {
      delete process.env.USAM_KERNELS;
    }
  });

  it('reads USAM_KERNELS under Node', async () => {
    process.env.USAM_KERNELS = 'tfjs';
    try {
      await initBackend('wasm');
      expect(ours('BatchMatMul')).toBe(false);
    } finally {
      delete process.env.USAM_KERNELS;
    }
    await initBackend('wasm');
    expect(ours('BatchMatMul')).toBe(true);
  });
});
