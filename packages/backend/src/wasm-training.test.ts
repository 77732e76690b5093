import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './node';

const SIZE = 12;
const CLASSES = 3;
const BATCH = 24;

/**
 * A fixed, learnable toy set: class k is bright in horizontal band k of the
 * image, on small deterministic noise.
 */
function dataset(): { xs: tf.Tensor4D; ys: tf.Tensor2D } {
  const pixels = new Float32Array(BATCH * SIZE * SIZE);
  const labels = new Float32Array(BATCH * CLASSES);
  let state = 12345;
  const noise = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state / 2 ** 32 - 0.5) * 0.2;
  };
  for (let n = 0; n < BATCH; n++) {
    const k = n % CLASSES;
    labels[n * CLASSES + k] = 1;
    for (let i = 0; i < SIZE; i++) {
      for (let j = 0; j < SIZE; j++) {
        const inBand = Math.floor(i / (SIZE / CLASSES)) === k;
        pixels[(n * SIZE + i) * SIZE + j] = (inBand ? 1 : 0) + noise();
      }
    }
  }
  return {
    xs: tf.tensor4d(pixels, [BATCH, SIZE, SIZE, 1]),
    ys: tf.tensor2d(labels, [BATCH, CLASSES]),
  };
}

/**
 * conv 3×3 → relu → maxPool → depthwise 3×3 → conv 3×3 → conv 3×3 stride 2 →
 * avgPool → dense softmax: every wasm training kernel of this package runs,
 * Conv2DBackpropInput at stride 1 and 2 (the first conv needs no input gradient).
 */
function model(): tfl.Sequential {
  const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: [SIZE, SIZE, 1],
        filters: 6,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(1),
      }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.depthwiseConv2d({
        kernelSize: 3,
        depthMultiplier: 2,
        padding: 'same',
        activation: 'relu',
        depthwiseInitializer: init(2),
      }),
      tfl.layers.conv2d({
        filters: 8,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(5),
      }),
      tfl.layers.conv2d({
        filters: 8,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(3),
      }),
      tfl.layers.averagePooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: CLASSES, activation: 'softmax', kernelInitializer: init(4) }),
    ],
  });
}

function crossEntropy(ys: tf.Tensor2D, probs: tf.Tensor): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(ys, tf.log(tf.add(probs, 1e-7))), -1))) as tf.Scalar;
}

/** One SGD step; returns the loss before the update. */
function step(net: tfl.Sequential, optimizer: tf.Optimizer, xs: tf.Tensor4D, ys: tf.Tensor2D) {
  const loss = optimizer.minimize(
    () => crossEntropy(ys, net.apply(xs, { training: true }) as tf.Tensor),
    true,
  );
  const value = loss!.dataSync()[0]!;
  loss!.dispose();
  return value;
}

/**
 * Size of the wasm module's heap. It only grows, so a constant size after
 * warm-up also rules out leaks tfjs cannot count (XNNPACK operators cached
 * per filter: our kernels pass a fresh filter every step).
 */
function wasmHeapBytes(): number {
  return (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
}

beforeAll(async () => {
  await initBackend('cpu');
  expect((await initBackend('wasm')).name).toBe('wasm');
  expect(tf.getBackend()).toBe('wasm');
});

describe('a small CNN on wasm', () => {
  it('trains: its loss falls', () => {
    const { xs, ys } = dataset();
    const net = model();
    const optimizer = tf.train.sgd(0.1);
    const losses = Array.from({ length: 30 }, () => step(net, optimizer, xs, ys));
    // Chance level is ln 3 ≈ 1.10, where it starts; wrong or zero conv
    // gradients would keep it there. Measured: 1.08 → 0.51 (a ratio of 0.47)
    // falling steadily, so 0.6 leaves margin for rounding differences. (A larger
    // rate or more steps overshoot, on cpu exactly as on wasm.)
    expect(losses[0]).toBeGreaterThan(1);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[29]!).toBeLessThan(0.6 * losses[0]!);
    net.dispose();
    optimizer.dispose();
    tf.dispose([xs, ys]);
  });

  it('follows the cpu backend step for step', async () => {
    // The same model and data on both backends: any kernel error compounds over the steps.
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const { xs, ys } = dataset();
      const net = model();
      const optimizer = tf.train.sgd(0.1);
      const losses = Array.from({ length: 6 }, () => step(net, optimizer, xs, ys));
      net.dispose();
      optimizer.dispose();
      tf.dispose([xs, ys]);
      return losses;
    };
    const cpu = await run('cpu');
    const wasm = await run('wasm');
    // Float32 rounding differs between the backends by ~1e-6 relative per step.
    for (let i = 0; i < cpu.length; i++) expect(Math.abs(wasm[i]! - cpu[i]!)).toBeLessThan(1e-4);
  });

  it('does not leak tensors or backend memory over 100 steps', () => {
    const { xs, ys } = dataset();
    const net = model();
    const optimizer = tf.train.sgd(0.05);
    step(net, optimizer, xs, ys); // warm-up: creates the optimizer's and layers' state
    const before = tf.memory();
    const buffers = tf.engine().backend.numDataIds();
    const heap = wasmHeapBytes();
    for (let i = 0; i < 100; i++) step(net, optimizer, xs, ys);
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numDataBuffers).toBe(before.numDataBuffers);
    expect(after.numBytes).toBe(before.numBytes);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    expect(wasmHeapBytes()).toBe(heap);
    net.dispose();
    optimizer.dispose();
    tf.dispose([xs, ys]);
  });
});
