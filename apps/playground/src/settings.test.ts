import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { ascent, detSam, sharpnessAware, VARIANTS, type Variant } from '@usam/optimizer';
import { beforeAll, describe, expect, it } from 'vitest';
import { createOptimizer } from './optimizers';
import { PRESETS } from './presets';
import { parseSettings } from './protocol';
import {
  DEFAULT_EXPERIMENT,
  defaultRun,
  divergenceAdvice,
  expectedDivergence,
  OPTIMIZERS,
  playgroundVariants,
  runLabel,
  trainCommand,
} from './settings';

/** A variant in no file of the playground: SAM along a fixed direction e = (ρ, …, ρ). */
const fixedSam: Variant = {
  name: 'fixed-sam',
  factory: 'sharpnessAware',
  label: 'Fixed-SAM',
  tableLabel: 'Fixed',
  summary: 'SAM along a fixed direction',
  family: 'ascent',
  options: [
    { name: 'rho', symbol: 'ρ', description: 'radius', type: 'number', default: 0.07, min: 0 },
  ],
  needs: [],
  gradientsPerStep: () => 2,
  create: (context, settings) =>
    sharpnessAware(
      'fixed-sam',
      context,
      ascent('fixed-sam', (x) => x.map((t) => tf.fill(t.shape, settings.rho as number))),
    ),
};

beforeAll(async () => {
  await initBackend('cpu');
});

describe("the playground's optimizers are @usam/optimizer's table", () => {
  it("offers every variant a form can configure, with the library's defaults", () => {
    // universal needs a measure object, which the form has no field for.
    expect(OPTIMIZERS).toEqual(VARIANTS.filter((v) => v.name !== 'universal').map((v) => v.name));
    // Det-SAM's λ as the library sets it (0.5: the paper's λ_ref = 1), not restated here.
    const x = tf.variable(tf.zeros([2]));
    const library = detSam({ params: [x], base: tf.train.sgd(0.1) });
    expect(defaultRun('det-sam').lambda).toBe(library.lambda);
    expect(defaultRun('det-sam').rho).toBe(library.perturbation.rho);
    expect(defaultRun('det-sam').samples).toBe(library.perturbation.samples);
    library.dispose();
    x.dispose();
  });

  it('offers a variant added to the table in its list, its settings and its exported command', async () => {
    const variants = [...VARIANTS, fixedSam];
    expect(playgroundVariants(variants).map((v) => v.name)).toContain('fixed-sam');
    const run = defaultRun('fixed-sam', variants);
    expect(run).toEqual({ optimizer: 'fixed-sam', rho: 0.07 });
    expect(runLabel(run, undefined, variants)).toBe('Fixed-SAM (ρ 0.07)');
    const settings = { ...DEFAULT_EXPERIMENT, runs: [run] };
    expect(trainCommand(settings, 0, undefined, variants)).toContain(
      '--optimizer fixed-sam --rho 0.07 --epochs',
    );
    // The worker's protocol checks it against the table's range.
    expect(parseSettings(settings, variants).runs[0]).toEqual(run);
    expect(() => parseSettings({ ...settings, runs: [{ ...run, rho: -1 }] }, variants)).toThrow(
      'settings.runs[0].rho must be a number ≥ 0 for fixed-sam, got -1.',
    );
    expect(() => parseSettings(settings)).toThrow(/settings.runs\[0\].optimizer must be one of/);
    // And it builds and steps.
    const x = tf.variable(tf.tensor1d([1, -1]));
    const optimizer = createOptimizer(
      run,
      { params: [x], base: tf.train.sgd(0.1), weightDecay: 0, seed: 0 },
      variants,
    );
    // L = ½‖x‖², so the step is x ← x − 0.1·(x + ρ): float32, exact to a few ulps.
    const stats = await optimizer.step(() => tf.mul(0.5, tf.sum(tf.square(x))) as tf.Scalar);
    expect(stats.gradientEvaluations).toBe(2);
    const [a, b] = x.dataSync();
    expect(a).toBeCloseTo(1 - 0.1 * 1.07, 6);
    expect(b).toBeCloseTo(-1 - 0.1 * (-1 + 0.07), 6);
    optimizer.dispose();
    x.dispose();
  });
});

describe('divergence, said before and after', () => {
  it('starts from settings usam train does not warn about (the first click trains)', () => {
    // The old default λ 1.25e-3 at lr 0.02, ρ 0.01 gave lr·4λ/ρ² = 1: the CLI's threshold.
    DEFAULT_EXPERIMENT.runs.forEach((_, i) => {
      expect(expectedDivergence(DEFAULT_EXPERIMENT, i)).toBeUndefined();
    });
    const old = { ...DEFAULT_EXPERIMENT, runs: [{ ...defaultRun('frob-sam'), rho: 0.01 }] };
    expect(expectedDivergence(old, 0)).toMatch(/lr·4λ\/ρ² = 1 ≥ 1/);
    for (const preset of PRESETS) {
      preset.settings.runs.forEach((run, i) => {
        expect(expectedDivergence(preset.settings, i), `${preset.id} ${run.optimizer}`).toBe(
          undefined,
        );
      });
    }
  });

  it('says what to change in a run that diverged', () => {
    const s = { ...DEFAULT_EXPERIMENT, lr: 0.5 };
    // SGD: only the rate; SAM: the rate or ρ; Frob-SAM at a known setting: usam train's words.
    expect(divergenceAdvice({ ...s, runs: [defaultRun('sgd')] }, 0)).toBe(
      'lower the learning rate (now 0.5) and start again',
    );
    expect(divergenceAdvice({ ...s, runs: [defaultRun('sam')] }, 0)).toBe(
      "lower the learning rate (now 0.5) or this run's ρ (now 0.05) and start again",
    );
    expect(divergenceAdvice({ ...s, runs: [defaultRun('trace-sam')] }, 0)).toBe(
      "lower the learning rate (now 0.5) or this run's λ (now 1) and start again",
    );
    expect(divergenceAdvice({ ...s, runs: [defaultRun('frob-sam')] }, 0)).toMatch(
      /^frob-sam with lr 0.5, λ 0.00125, ρ 0.005 has lr·4λ\/ρ² = 100 ≥ 1: .*a lower lr or λ \(or a larger ρ\) trains$/,
    );
  });
});
