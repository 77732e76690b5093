import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { resolveTrainOptions } from './options';
import { train } from './train';

describe('train()', () => {
  it('leaks no tensors: a longer run ends with as many tensors as a shorter one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'usam-train-fn-'));
    const run = async (epochs: number, out: string) => {
      const options = resolveTrainOptions({
        dataset: 'mnist-s',
        subsample: 0.01,
        batchSize: 20,
        epochs,
        optimizer: 'frob-sam',
        backend: 'cpu',
        measureEvery: 1,
        hessian: ['trace'],
        hessianExamples: 4,
        probes: 2,
        out: join(dir, out),
      });
      const steps: number[] = [];
      const summary = await train(options, { onStep: (s) => steps.push(s.globalStep) });
      expect(summary.completed).toBe(true);
      return steps.length;
    };
    await run(1, 'warm-up'); // the backend's own first-use tensors
    const before = tf.memory().numTensors;
    expect(await run(1, 'one')).toBe(5);
    const afterOne = tf.memory().numTensors;
    expect(await run(3, 'three')).toBe(15);
    expect(tf.memory().numTensors).toBe(afterOne);
    expect(afterOne).toBe(before);
  });
});
