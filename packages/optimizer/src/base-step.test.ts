/**
 * applyBaseStep's list-kernel path for tfjs's SGD, momentum and Adam optimizers
 * (base-step.ts) against the optimizers' own applyGradients, on wasm (where
 * @usam/backend registers the list kernels): random lists of variables with
 * every dimension 1 included, random learning rates and momenta, Nesterov or
 * not, gradients with ±3e38 (whose updates overflow) and occasional NaN or ±∞.
 * Bit for bit: values, slots, slot names and iteration counts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { createRng, tensorList } from '@usam/measures';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyBaseStep } from './base-step';
import { alignSlots } from './variables';

beforeAll(async () => {
  await initBackend('wasm');
});

type Rng = ReturnType<typeof createRng>;
const SPECIAL = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 3e38, -3e38, -0];

function shapesFrom(rng: Rng): number[][] {
  const dim = () => (rng.next() < 0.35 ? 1 : 1 + Math.floor(rng.next() * 30));
  return Array.from({ length: 1 + Math.floor(rng.next() * 5) }, () =>
    Array.from({ length: 1 + Math.floor(rng.next() * 3) }, dim),
  );
}
const valuesFor = (rng: Rng, shapes: number[][], special: number) =>
  shapes.map((shape) =>
    Float32Array.from({ length: tensorList.sizeOf(shape) }, () =>
      rng.next() < special
        ? SPECIAL[Math.floor(rng.next() * SPECIAL.length)]!
        : (rng.next() * 2 - 1) * 10 ** Math.floor(rng.next() * 4 - 2),
    ),
  );

/** Float32 entries equal bit for bit (NaN = NaN, but 0 ≠ −0). */
function firstDifference(a: Float32Array[], b: Float32Array[]): string | undefined {
  for (let k = 0; k < b.length; k++) {
    for (let i = 0; i < b[k]!.length; i++) {
      if (!Object.is(a[k]![i], b[k]![i]))
        return `tensor ${k} entry ${i}: ${a[k]![i]} vs ${b[k]![i]}`;
    }
  }
  return undefined;
}

type Make = (rng: Rng) => tf.Optimizer;
const OPTIMIZERS: [string, Make][] = [
  ['sgd', (rng) => tf.train.sgd(rng.next() < 0.2 ? 0 : rng.next())],
  ['momentum', (rng) => tf.train.momentum(rng.next() * 0.3, rng.next() < 0.2 ? 0 : rng.next())],
  ['momentum (Nesterov)', (rng) => tf.train.momentum(rng.next() * 0.3, rng.next(), true)],
  [
    'adam',
    (rng) =>
      rng.next() < 0.5
        ? tf.train.adam(rng.next() * 0.1)
        : tf.train.adam(rng.next() * 0.1, rng.next(), 0.9 + 0.1 * rng.next(), rng.next() * 1e-3),
  ],
];
/** The list kernel each optimizer's update runs as. */
const KERNEL: Record<string, string> = {
  sgd: tensorList.LIST_KERNELS.linearCombination,
  momentum: tensorList.LIST_KERNELS.momentum,
  'momentum (Nesterov)': tensorList.LIST_KERNELS.momentum,
  adam: tensorList.LIST_KERNELS.adam,
};

/** Sets the learning rate as SharpnessAwareOptimizer.setLearningRate does (Adam has no setter). */
function setLearningRate(base: tf.Optimizer, lr: number) {
  const b = base as unknown as { learningRate: number; setLearningRate?: (lr: number) => void };
  if (typeof b.setLearningRate === 'function') b.setLearningRate(lr);
  else b.learningRate = lr;
}

describe('applyBaseStep on wasm against tfjs optimizers’ own applyGradients', () => {
  for (const [name, make] of OPTIMIZERS) {
    it(`${name}: 40 random lists × 6 steps, bit for bit, one list kernel per update`, async () => {
      const rng = createRng(`base-step:${name}`);
      const failures: string[] = [];
      for (let index = 0; index < 40; index++) {
        const shapes = shapesFrom(rng);
        const start = valuesFor(rng, shapes, 0);
        const seed = rng.next();
        const run = async (fast: boolean) => {
          const r = createRng(`base-step:${name}:${index}:${seed}`);
          const variables = start.map((v, k) =>
            tf.tidy(() => tf.variable(tf.tensor(v, shapes[k]!), true)),
          );
          const base = make(r);
          const kernels = new Set<string>();
          for (let step = 0; step < 6; step++) {
            if (step === 2) setLearningRate(base, r.next()); // SGD's c replaced mid-run
            const gradients = valuesFor(r, shapes, index % 4 === 0 ? 0.05 : 0).map((v, k) =>
              tf.tensor(v, shapes[k]!),
            );
            alignSlots(
              base,
              variables.map((v) => v.name),
            );
            const profile = await tf.profile(() => {
              if (fast) applyBaseStep(base, variables, gradients);
              else
                base.applyGradients(
                  variables.map((v, k) => ({ name: v.name, tensor: gradients[k]! })),
                );
            });
            for (const k of profile.kernelNames) kernels.add(k);
            tf.dispose(gradients);
          }
          const weights = await base.getWeights();
          const out = {
            values: variables.map((v) => v.dataSync() as Float32Array),
            slots: weights.map((w) => w.tensor.dataSync() as Float32Array),
            names: weights.map((w) => w.name.replace(/^.*\//, '')),
            kernels: [...kernels],
          };
          // getWeights' iteration count is a new tensor; tfjs 4.22's momentum dispose skips SGD's c.
          weights[0]!.tensor.dispose();
          const c = (base as unknown as { c?: tf.Tensor }).c;
          base.dispose();
          if (c !== undefined && !c.isDisposed) c.dispose();
          tf.dispose(variables);
          return out;
        };
        const before = tf.memory().numTensors;
        const want = await run(false);
        const got = await run(true);
        if (tf.memory().numTensors !== before) failures.push(`case ${index}: leaks tensors`);
        if (!got.kernels.includes(KERNEL[name]!)) {
          failures.push(`case ${index}: ran ${got.kernels}, not the list kernel`);
        }
        const difference =
          firstDifference(got.values, want.values) ?? firstDifference(got.slots, want.slots);
        if (difference !== undefined)
          failures.push(`case ${index} shapes ${JSON.stringify(shapes)}: ${difference}`);
        expect(got.names).toEqual(want.names);
      }
      expect(failures).toEqual([]);
    });
  }

  it('leaves any other optimizer to its own applyGradients', async () => {
    const x = tf.variable(tf.tensor([1, 2, 3]));
    const g = tf.tensor([0.5, -1, 2]);
    const adagrad = tf.train.adagrad(0.1);
    const profile = await tf.profile(() => applyBaseStep(adagrad, [x], [g]));
    const listKernels = Object.values(tensorList.LIST_KERNELS) as string[];
    expect(profile.kernelNames.filter((k) => listKernels.includes(k))).toEqual([]);
    // Adagrad's first step from its accumulator 0.1: x − lr·g/√(0.1 + g²) (to float32 rounding
    // and its ε = 1e-7 under the root, both far below the 5 digits checked).
    expect(x.dataSync()[0]).toBeCloseTo(1 - 0.05 / Math.sqrt(0.35), 5);
    adagrad.dispose();
    tf.dispose([x, g]);
  });

  it('Adam: no tensor leaked over 50 steps through the list kernel', async () => {
    const x = [tf.variable(tf.randomNormal([20, 3])), tf.variable(tf.randomNormal([3]))];
    const g = x.map((v) => tf.randomNormal(v.shape));
    const adam = tf.train.adam(0.01);
    applyBaseStep(adam, x, g); // creates the slots
    const before = tf.memory().numTensors;
    for (let step = 0; step < 50; step++) applyBaseStep(adam, x, g);
    expect(tf.memory().numTensors).toBe(before);
    expect((adam as unknown as { iterations: number }).iterations).toBe(51);
    adam.dispose();
    tf.dispose([...x, ...g]);
  });
});
