import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { earlyStopEpoch } from './early-stop';
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

  it('--patience ends the run at the epoch the stopping rule names, with the same epochs as a run without it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'usam-train-patience-'));
    const options = (out: string, extra: object) =>
      resolveTrainOptions({
        dataset: 'mnist-s',
        subsample: 0.01,
        batchSize: 20,
        epochs: 8,
        lr: 0.05,
        backend: 'cpu',
        out: join(dir, out),
        ...extra,
      });
    const accuracies = async (out: string) =>
      (await readFile(join(dir, out, 'metrics.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { testAccuracy: number }).testAccuracy);
    const full = await train(options('full', {}));
    expect(full.stoppedEarly).toBeUndefined();
    const all = await accuracies('full');
    // patience 1, minDelta 0: stop at the first epoch after an improvement that does not improve.
    const expected = earlyStopEpoch(all, 1, 0);
    // This seed's curve: flat near chance for 5 epochs (not counted), up at 6, down at 7.
    expect(expected).toBeDefined();
    const stopped = await train(options('stopped', { patience: 1, minDelta: 0 }));
    expect(stopped.completed).toBe(true);
    expect(stopped.stoppedEarly).toEqual(expected);
    expect(stopped.epochs).toBe(expected!.epoch);
    // Training is untouched up to the stop: the same accuracies as the run without the rule.
    expect(await accuracies('stopped')).toEqual(all.slice(0, expected!.epoch));
    expect(stopped.finalTestAccuracy).toBe(all[expected!.epoch - 1]);
  });
});
