/**
 * The Winograd convolutions on wasm (conv-winograd.ts): against tfjs's kernels
 * on cpu through the differential harness (values, gradients, and second-order
 * gradients of conv2d), and against a float64 direct convolution.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { WINOGRAD } from './conv-winograd';
import { compare, Rng, runCase, winogradCase } from './differential';
import { initBackend } from './node';
import { withoutSimdKernels } from './simd-kernels';
import { on, values } from './test-helpers';

beforeAll(async () => {
  await initBackend('cpu');
  await initBackend('wasm');
});

const SEED = 2828;
const CASES = 150;

describe('Winograd convolutions on wasm against tfjs on cpu', () => {
  it(`agree on ${CASES} random stride-1 3×3 convolutions, their gradients and second order`, async () => {
    const failures: string[] = [];
    const descriptions: string[] = [];
    let secondOrder = 0;
    for (let index = 0; index < CASES; index++) {
      const c = winogradCase(new Rng(SEED * 1000 + index));
      descriptions.push(`${c.op} ${c.description}`);
      if (c.secondOrder) secondOrder++;
      await tf.setBackend('cpu');
      const want = runCase(c, SEED, index);
      await tf.setBackend('wasm');
      const before = tf.memory().numTensors;
      const got = runCase(c, SEED, index);
      expect(tf.memory().numTensors).toBe(before);
      const failure = compare(got, want);
      if (failure !== undefined)
        failures.push(`${c.op} ${c.description} (case ${index}): ${failure}`);
    }
    expect(failures).toEqual([]);
    // The draws reach what they are for: both ops, dimensions of 1, every padding, small chunks.
    const text = descriptions.join('\n');
    for (const pattern of [
      /winograd conv2d/,
      /winograd fused\.conv2d .*bias=true activation=relu/,
      /x=\[1,/,
      /x=\[\d+,1,/,
      /filter=\[3,3,\d+,1\]/,
      /pad=valid/,
      /pad=same/,
      /pad=\[\[0,0\],\[3,/,
      /chunk=1\b/,
    ]) {
      expect(text).toMatch(pattern);
    }
    expect(secondOrder).toBeGreaterThan(30);
  });

  it('stay within float32 rounding of a float64 direct convolution, forward and both gradients', async () => {
    // A ResNet stage-4-like layer: 64 channels each way, 'same' padding, an odd size (partial tiles).
    const [n, h, w, cin, cout] = [2, 7, 9, 64, 64];
    const xv = values([n, h, w, cin], 1);
    const fv = values([3, 3, cin, cout], 2);
    const dyv = values([n, h, w, cout], 3);
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(xv, [n, h, w, cin]);
        const f = tf.tensor4d(fv, [3, 3, cin, cout]);
        const dy = tf.tensor4d(dyv, [n, h, w, cout]);
        return [
          tf.conv2d(x, f, 1, 'same').dataSync() as Float32Array,
          tf.conv2dTranspose(dy, f, [n, h, w, cin], 1, 'same').dataSync() as Float32Array,
          (
            tf
              .engine()
              .runKernel(
                'Conv2DBackpropFilter',
                { x, dy },
                { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, cin, cout] },
              ) as tf.Tensor
          ).dataSync() as Float32Array,
        ];
      });
    const [y, dx, dw] = await on('wasm', run);
    const [yDirect, dxDirect, dwDirect] = await on('wasm', () => withoutSimdKernels(run));
    // float64 references: y[p, co] = Σ x·f, dx[p, ci] = Σ dy·f over the in-bounds taps.
    const yRef = new Float64Array(n * h * w * cout);
    const dxRef = new Float64Array(n * h * w * cin);
    const scaleY = new Float64Array(yRef.length);
    const scaleDx = new Float64Array(dxRef.length);
    const dwRef = new Float64Array(9 * cin * cout);
    const scaleDw = new Float64Array(dwRef.length);
    for (let b = 0; b < n; b++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++)
          for (let ky = 0; ky < 3; ky++)
            for (let kx = 0; kx < 3; kx++) {
              const [yi, xj] = [i + ky - 1, j + kx - 1];
              if (yi < 0 || yi >= h || xj < 0 || xj >= w) continue;
              for (let ci = 0; ci < cin; ci++)
                for (let co = 0; co < cout; co++) {
                  const fw = fv[((ky * 3 + kx) * cin + ci) * cout + co]!;
                  const xin = xv[((b * h + yi) * w + xj) * cin + ci]!;
                  const out = ((b * h + i) * w + j) * cout + co;
                  yRef[out] += xin * fw;
                  scaleY[out] += Math.abs(xin * fw);
                  // dx at (yi, xj) gets dy at (i, j) through the same tap.
                  const d = dyv[out]!;
                  const at = ((b * h + yi) * w + xj) * cin + ci;
                  dxRef[at] += d * fw;
                  scaleDx[at] += Math.abs(d * fw);
                  // dw at the tap gets x · dy.
                  const tap = ((ky * 3 + kx) * cin + ci) * cout + co;
                  dwRef[tap] += xin * d;
                  scaleDw[tap] += Math.abs(xin * d);
                }
            }
    /** max over entries of |got − ref| / Σ|terms|: float32 summation errs by ≲ K·2⁻²⁴ of that. */
    const worst = (got: Float32Array, ref: Float64Array, scale: Float64Array) =>
      Math.max(...Array.from(ref, (r, k) => Math.abs(got[k]! - r) / scale[k]!));
    // y and dx sum K = 9·64 = 576 terms, dw K = n·h·w = 126. Rounding errors of random sign
    // in a float32 sum grow like √K·2⁻²⁴ ≈ 1.4e-6 of Σ|terms| (K·2⁻²⁴ = 3.4e-5 at worst);
    // Winograd's transforms add a few roundings of terms at most 4× larger (the ½s are exact).
    // 1e-5 leaves room for both, while a wrong tap or tile is of order 1 in these units.
    // Measured: Winograd 0.9–1.9e-7, the direct kernels 1.6–2.0e-7.
    for (const [got, direct, ref, scale] of [
      [y, yDirect, yRef, scaleY],
      [dx, dxDirect, dxRef, scaleDx],
      [dw, dwDirect, dwRef, scaleDw],
    ] as const) {
      expect(worst(got, ref, scale)).toBeLessThan(1e-5);
      expect(worst(direct, ref, scale)).toBeLessThan(1e-5);
    }
  });

  for (const cin of [16, 3]) {
    it(`take an empty batch as tfjs does (empty outputs, zero filter gradient), ${cin} channels`, async () => {
      const run = () =>
        tf.tidy(() => {
          const x = tf.zeros([0, 6, 5, cin]) as tf.Tensor4D;
          const f = tf.tensor4d(values([3, 3, cin, 16], 8), [3, 3, cin, 16]);
          const [dx, df] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
            tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')),
          )([x, f]);
          const y = tf.conv2d(x, f, 1, 'same');
          return { y: y.shape, dx: dx!.shape, df: Array.from(df!.dataSync()) };
        });
      const cpu = await on('cpu', run);
      const wasm = await on('wasm', run);
      expect(wasm).toEqual(cpu);
      expect(wasm.y).toEqual([0, 6, 5, 16]);
      expect(wasm.df.every((v) => v === 0)).toBe(true);
    });
  }

  it('give zeros for an empty dy, on every path of the input gradient', async () => {
    // 3 channels, stride 1: im2col; 16, stride 2: im2col; 64, stride 1: XNNPACK (8 < 16 for
    // Winograd). Each left the heap's contents in dx before.
    for (const [cin, stride] of [
      [3, 1],
      [16, 2],
      [64, 1],
    ] as const) {
      const run = () =>
        tf.tidy(() => {
          const out = tf
            .engine()
            .runKernel(
              'Conv2DBackpropInput',
              { dy: tf.zeros([1, 0, 0, 8]), filter: tf.ones([3, 3, cin, 8]) },
              { strides: stride, pad: 'valid', dataFormat: 'NHWC', inputShape: [1, 2, 2, cin] },
            ) as tf.Tensor;
          return { shape: out.shape, values: Array.from(out.dataSync()) };
        });
      const cpu = await on('cpu', run);
      expect(cpu.values.every((v) => v === 0)).toBe(true);
      expect(await on('wasm', run)).toEqual(cpu);
    }
  });

  it('give non-finite outputs exactly where the direct convolution does (an ∞ in x)', async () => {
    // Winograd's output tiles read the same input pixels as the direct sums they stand for, so
    // an ∞ reaches the same outputs; where the direct sum is ±∞, Winograd may give NaN (∞ − ∞
    // in its transforms): both non-finite, as the optimizer's finiteness test reads them.
    const [n, h, w, c] = [1, 7, 6, 16];
    const xv = values([n, h, w, c], 6);
    xv[(3 * w + 2) * c + 5] = Number.POSITIVE_INFINITY;
    xv[(0 * w + 5) * c + 1] = Number.NEGATIVE_INFINITY;
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(xv, [n, h, w, c]);
        const f = tf.tensor4d(values([3, 3, c, c], 7), [3, 3, c, c]);
        return tf.conv2d(x, f, 1, 'same').dataSync() as Float32Array;
      });
    const cpu = await on('cpu', run);
    const wasm = await on('wasm', run);
    const nonFinite = (a: Float32Array) => Array.from(a, (v) => !Number.isFinite(v));
    expect(nonFinite(cpu).filter(Boolean).length).toBeGreaterThan(0);
    expect(nonFinite(wasm)).toEqual(nonFinite(cpu));
  });

  it('can be switched off (WINOGRAD.use): the forward then runs on XNNPACK, bit for bit', async () => {
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(values([2, 8, 8, 32], 4), [2, 8, 8, 32]);
        const f = tf.tensor4d(values([3, 3, 32, 32], 5), [3, 3, 32, 32]);
        return tf.conv2d(x, f, 1, 'same').dataSync() as Float32Array;
      });
    const winograd = await on('wasm', run);
    const xnnpack = await on('wasm', () => withoutSimdKernels(run));
    WINOGRAD.use = false;
    let off: Float32Array;
    try {
      off = await on('wasm', run);
    } finally {
      WINOGRAD.use = true;
    }
    expect(Array.from(off)).toEqual(Array.from(xnnpack));
    // Another summation order: some entries round differently, all within float32 rounding.
    expect(Array.from(winograd)).not.toEqual(Array.from(xnnpack));
    for (let i = 0; i < off.length; i++) {
      expect(Math.abs(winograd[i]! - xnnpack[i]!)).toBeLessThan(1e-4);
    }
  });
});
