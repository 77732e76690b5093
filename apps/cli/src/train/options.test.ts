import { MAX_SAMPLES } from '@usam/optimizer';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../cli/errors';
import { schedule } from './optimizer';
import { configDifference, resolveTrainOptions } from './options';

describe('resolveTrainOptions', () => {
  it("fills the paper's defaults per dataset and optimizer", () => {
    const mnist = resolveTrainOptions({ optimizer: 'frob-sam' });
    expect(mnist).toMatchObject({
      model: 'mlp',
      augment: false,
      // Figure 2's setting on MNIST (src/train/defaults.test.ts has the rest).
      rho: 0.01,
      samples: 2,
      lambda: 0.00025,
      eta: null,
      weightDecay: 0,
      milestones: [],
    });
    const cifar100 = resolveTrainOptions({ dataset: 'cifar100-s', optimizer: 'det-sam' });
    expect(cifar100).toMatchObject({
      model: 'resnet18',
      augment: true,
      weightDecay: 1e-3,
      lambda: 0.5,
    });
    // Universal: as many samples as the measure needs (Frobenius: 2, for a variance).
    expect(resolveTrainOptions({ optimizer: 'universal', measure: 'frobenius' }).samples).toBe(2);
    expect(resolveTrainOptions({ optimizer: 'universal', measure: 'trace' }).samples).toBe(1);
  });

  it('gives resolved options back unchanged (a run config.json can be resolved again)', () => {
    for (const partial of [
      { dataset: 'mnist', lrSchedule: 'cosine' as const, optimizer: 'asam' as const },
      {
        dataset: 'cifar10-s-c',
        subsample: 0.2,
        corrupt: 0.4,
        optimizer: 'universal' as const,
        measure: 'polynomial:3',
      },
    ]) {
      const once = resolveTrainOptions(partial);
      expect(resolveTrainOptions(once)).toEqual(once);
    }
  });

  it('refuses what does not apply, naming it', () => {
    expect(() => resolveTrainOptions({ optimizer: 'sgd', lambda: 1 })).toThrow(
      new UsageError(
        "--lambda does not apply to --optimizer sgd; it is an option of 'frob-sam', 'trace-sam', 'det-sam', 'universal'.",
      ),
    );
    expect(() =>
      resolveTrainOptions({ optimizer: 'universal', measure: 'frobenius', samples: 1 }),
    ).toThrow(/--samples 1 with --measure frobenius: its estimate needs n ≥ 2/);
    expect(() => resolveTrainOptions({ hessian: ['trace', 'det' as 'trace'] })).toThrow(
      /--hessian: expected a non-empty list of 'trace', 'frobenius', 'topEigenvalue', got \["trace","det"\]/,
    );
    expect(() => resolveTrainOptions({ lr: Number.NaN })).toThrow(
      /--lr: expected a number > 0 and ≤ 10, got NaN/,
    );
    expect(() => resolveTrainOptions({ dataset: 7 as unknown as string })).toThrow(
      /--dataset: expected one of 'mnist'.*got 7/,
    );
  });

  it("caps --samples at the optimizer's own limit (one source: the variant table)", () => {
    // The factory accepts MAX_SAMPLES, so the CLI must too; one more is refused by both.
    for (const optimizer of ['frob-sam', 'trace-sam', 'det-sam']) {
      expect(resolveTrainOptions({ optimizer, samples: MAX_SAMPLES }).samples).toBe(MAX_SAMPLES);
      expect(() => resolveTrainOptions({ optimizer, samples: MAX_SAMPLES + 1 })).toThrow(
        new RegExp(
          `^--samples: expected an integer ≥ \\d and ≤ ${MAX_SAMPLES}\\b.*got ${MAX_SAMPLES + 1}`,
        ),
      );
    }
  });
});

describe('configDifference', () => {
  const saved = resolveTrainOptions({ optimizer: 'sam', out: 'runs/a' });
  it('ignores the epoch count and how the run is invoked', () => {
    expect(
      configDifference(saved, { epochs: 400, out: 'elsewhere', resume: true }),
    ).toBeUndefined();
  });
  it('names the first option that differs, with both values', () => {
    expect(configDifference(saved, { rho: 0.1 })).toBe('--rho: the run has 0.05, this command 0.1');
    expect(configDifference(saved, { dataset: 'mnist-c' })).toBe(
      "--dataset: the run has 'mnist', this command 'mnist-c'",
    );
  });
});

describe('learning-rate schedules', () => {
  it("multistep is the paper's: 0.1, ×0.1 at epochs 50, 100, 150", () => {
    const lr = schedule(resolveTrainOptions({ dataset: 'cifar10' }));
    expect([0, 49, 50, 99, 100, 150, 199].map(lr)).toEqual([
      0.1,
      0.1,
      0.1 * 0.1,
      0.1 * 0.1,
      0.1 * 0.1 ** 2,
      0.1 * 0.1 ** 3,
      0.1 * 0.1 ** 3,
    ]);
  });
  it('cosine falls from lr to 0 over the epochs, halfway at the middle', () => {
    const lr = schedule(resolveTrainOptions({ lrSchedule: 'cosine', lr: 0.2, epochs: 10 }));
    expect(lr(0)).toBe(0.2);
    expect(lr(5)).toBeCloseTo(0.1, 15);
    expect(lr(10)).toBeCloseTo(0, 15);
  });
});
