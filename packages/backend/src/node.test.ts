import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { BACKENDS, BackendError, initBackend } from './node';

describe('initBackend (Node)', () => {
  it('lists the Node backends in the order auto tries them', () => {
    expect(BACKENDS).toEqual(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']);
  });

  it('rejects an unknown name, listing the valid ones', async () => {
    // @ts-expect-error: the union type rejects it; plain JS gets the error.
    const attempt = initBackend('webgpu');
    await expect(attempt).rejects.toBeInstanceOf(BackendError);
    await expect(attempt).rejects.toThrow(
      "Unknown backend 'webgpu'. Valid backends: auto, tensorflow-gpu, tensorflow, wasm, cpu.",
    );
  });

  // tfjs-node and tfjs-node-gpu are optional peers that are not installed here.
  it('says how to get tensorflow when it is missing', async () => {
    const attempt = initBackend('tensorflow');
    await expect(attempt).rejects.toBeInstanceOf(BackendError);
    await expect(attempt).rejects.toThrow(/npm install @tensorflow\/tfjs-node`/);
    await expect(attempt).rejects.toThrow(/or use 'wasm'/);
  });

  it('says how to get tensorflow-gpu when it is missing', async () => {
    const attempt = initBackend('tensorflow-gpu');
    await expect(attempt).rejects.toBeInstanceOf(BackendError);
    await expect(attempt).rejects.toThrow(/npm install @tensorflow\/tfjs-node-gpu`.*CUDA/);
  });

  it('auto picks wasm when no native backend is installed, says why it skipped them, and registers training kernels and gradients', async () => {
    expect(await initBackend()).toEqual({
      name: 'wasm',
      // Node says "… is not installed"; vitest's resolver words it its own way.
      skipped: [
        { name: 'tensorflow-gpu', reason: expect.stringContaining('@tensorflow/tfjs-node-gpu') },
        { name: 'tensorflow', reason: expect.stringMatching(/@tensorflow\/tfjs-node\b(?!-)/) },
      ],
    });
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    // Gradients come from tfjs-core's ESM files (node-registrations.ts); its Node bundle has none.
    const slope = tf.tidy(
      () =>
        tf
          .grad((x: tf.Tensor) => tf.square(x))(tf.scalar(3))
          .dataSync()[0],
    );
    expect(slope).toBe(6);
  });

  it("registers tfjs's chained ops, which gradients such as Prod's call", async () => {
    await initBackend('cpu');
    // ∂(Πx)/∂x_i = Πx / x_i, exact in float32 for these small integers.
    const slopes = tf.tidy(() =>
      tf
        .grad((x: tf.Tensor) => tf.prod(x))(
          tf.tensor2d([
            [1, 2],
            [3, 4],
          ]),
        )
        .arraySync(),
    );
    expect(slopes).toEqual([
      [24, 12],
      [8, 6],
    ]);
  });

  it('starts a named backend and returns its name', async () => {
    expect(await initBackend('cpu')).toEqual({ name: 'cpu', skipped: [] });
    expect(tf.getBackend()).toBe('cpu');
    expect((await initBackend('wasm')).name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });
});
