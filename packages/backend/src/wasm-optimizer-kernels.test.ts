/**
 * The optimizer's list kernels on wasm (wasm-optimizer-kernels.ts) against
 * tfjs's ops on cpu, through the differential harness's comparison: random
 * lists of shapes with dimensions of 1, one to three terms, and NaN, ±∞ and
 * ±3e38 entries; with the SIMD module and with its JavaScript fallback.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { compare, listCase, Rng, runCase } from './differential';
import { initBackend } from './node';
import { withoutSimdKernels } from './simd-kernels';
import {
  ADAM,
  ENTRYWISE,
  FINITE_SQUARES,
  LINEAR_COMBINATION,
  MOMENTUM,
} from './wasm-optimizer-kernels';

beforeAll(async () => {
  await initBackend('cpu');
  await initBackend('wasm');
});

const SEED = 28;
const CASES = 500;

describe('list kernels on wasm against tfjs ops on cpu', () => {
  it('are registered on wasm only', () => {
    for (const name of [LINEAR_COMBINATION, FINITE_SQUARES, ENTRYWISE, ADAM, MOMENTUM]) {
      expect(tf.getKernel(name, 'wasm'), name).toBeDefined();
      expect(tf.getKernel(name, 'cpu'), name).toBeUndefined();
    }
  });

  for (const simd of [true, false]) {
    it(`agree on ${CASES} random lists (${simd ? 'SIMD module' : 'JavaScript fallback'})`, async () => {
      const failures: string[] = [];
      const ops = new Set<string>();
      for (let index = 0; index < CASES; index++) {
        const c = listCase(new Rng(SEED * 1000 + index));
        ops.add(c.op + (c.description.endsWith('special') ? ' special' : ''));
        await tf.setBackend('cpu');
        const want = runCase(c, SEED, index);
        await tf.setBackend('wasm');
        const before = tf.memory().numTensors;
        const got = simd
          ? runCase(c, SEED, index)
          : withoutSimdKernels(() => runCase(c, SEED, index));
        expect(tf.memory().numTensors).toBe(before);
        const failure = compare(got, want);
        if (failure !== undefined)
          failures.push(`${c.op} ${c.description} (case ${index}): ${failure}`);
      }
      expect(failures).toEqual([]);
      expect([...ops].sort()).toEqual(
        [
          'list linearCombination',
          'list linearCombination special',
          'list nonFinite',
          'list nonFinite special',
          'list squaredNorm',
          'list mul',
          'list mul special',
          'list absAdd',
          'list absAdd special',
          'list adam',
          'list momentum',
          'list momentum special',
          'list adaptiveDirection',
          'list adaptiveDirection special',
          'list adaptiveSquares',
        ].sort(),
      );
    });
  }

  it('counts every non-finite entry exactly, and never a large finite one', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor([
      1,
      Number.NaN,
      3e38,
      -3e38,
      Number.POSITIVE_INFINITY,
      0,
      5,
      -Number.POSITIVE_INFINITY,
      1,
    ]);
    const y = tf.fill([7], 3e38);
    const count = tf
      .engine()
      .runKernel(FINITE_SQUARES, { t0: x, t1: y }, { which: 'nonFinite' }) as tf.Tensor;
    expect(count.dataSync()[0]).toBe(3);
    tf.dispose([x, y, count]);
  });
});
