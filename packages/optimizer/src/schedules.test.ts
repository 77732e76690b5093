import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { OptimizerError } from './errors';
import { plain } from './instances';
import { sam } from './sam';
import { constantSchedule, cosineSchedule, multiStepSchedule } from './schedules';
import { add, flat, problemFactory, relativeError } from './test-helpers';

const make = problemFactory();

describe('schedules', () => {
  it('constant, multi-step (milestones, γ) and cosine give their closed forms', () => {
    expect([0, 5, 100].map(constantSchedule(0.1))).toEqual([0.1, 0.1, 0.1]);
    const step = multiStepSchedule({ lr: 0.1, milestones: [2, 4], gamma: 0.2 });
    [0.1, 0.1, 0.02, 0.02, 0.004, 0.004].forEach((lr, epoch) => {
      expect(step(epoch)).toBeCloseTo(lr, 15);
    });
    expect(multiStepSchedule({ lr: 1, milestones: [1] })(1)).toBeCloseTo(0.1, 15); // PyTorch's γ = 0.1
    const cosine = cosineSchedule({ lr: 0.2, epochs: 4, minLr: 0.02 });
    // 0.02 + 0.18·(1 + cos(πe/4))/2 at e = 0, 2, 4 (and held after 4).
    expect([0, 2, 4, 9].map(cosine)).toEqual(
      [0.2, 0.11, 0.02, 0.02].map((v) => expect.closeTo(v, 15)),
    );
  });

  it.each([
    ['constantSchedule(-1)', () => constantSchedule(-1), /lr must be a finite number ≥ 0/],
    [
      'milestones not a list',
      () => multiStepSchedule({ lr: 0.1, milestones: 30 as never }),
      /milestones must be a list of epochs/,
    ],
    [
      'milestone 1.5',
      () => multiStepSchedule({ lr: 0.1, milestones: [1.5] }),
      /milestones\[0\] must be an integer ≥ 1/,
    ],
    [
      'cosine without epochs',
      () => cosineSchedule({ lr: 0.1 } as never),
      /epochs must be an integer ≥ 1, got undefined/,
    ],
    [
      'misspelt option',
      () => cosineSchedule({ lr: 0.1, epochs: 3, min_lr: 0 } as never),
      /unknown option 'min_lr'; valid options are lr, epochs, minLr/,
    ],
    ['epoch NaN', () => constantSchedule(0.1)(Number.NaN), /epoch must be a finite number ≥ 0/],
  ])('%s: OptimizerError', (_name, call, message) => {
    expect(call).toThrow(OptimizerError);
    expect(call).toThrow(message);
  });
});

describe('setLearningRate', () => {
  it.each([
    ['SGD (keeps −lr as a tensor)', () => tf.train.sgd(0.5)],
    ['momentum', () => tf.train.momentum(0.5, 0)],
    ['Adam (reads its number)', () => tf.train.adam(0.5)],
  ])('%s: the next step uses the new rate', async (_name, makeBase) => {
    const run = async (set?: number) => {
      const p = make('quadratic');
      const opt = sam({ params: p.variables, base: makeBase(), rho: 0.01 });
      if (set !== undefined) opt.setLearningRate(set);
      await opt.step(p.loss);
      return { x: flat(p.variables), lr: opt.learningRate };
    };
    const direct = await run();
    expect(direct.lr).toBe(0.5);
    const changed = await run(0.05);
    expect(changed.lr).toBe(0.05);
    // A tenth of the step: each base's first step is linear in lr (Adam's ε = 1e-7 aside).
    const p = make('quadratic');
    const x0 = flat(p.variables);
    const full = add(direct.x, x0, -1);
    const tenth = add(changed.x, x0, -1);
    expect(
      relativeError(
        tenth,
        full.map((d) => d / 10),
      ),
    ).toBeLessThan(1e-6);
  });

  it('rejects a bad rate', () => {
    const p = make('quadratic');
    expect(() =>
      plain({ params: p.variables, base: tf.train.sgd(0.1) }).setLearningRate(Number.NaN),
    ).toThrow(/the learning rate must be a finite number ≥ 0, got NaN/);
  });
});
