import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@usam/backend';
import { ascent, sharpnessAware, VARIANTS, type Variant } from '@usam/optimizer';
import { beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../cli/errors';
import { createProgram } from '../program';
import { createOptimizer } from './optimizer';
import { resolveTrainOptions } from './options';

/**
 * A variant that is in no file of the CLI: SAM along a fixed direction,
 * e = (ρ, ρ, …, ρ). Adding it to the table is all it takes to offer it.
 */
const fixedSam: Variant = {
  name: 'fixed-sam',
  factory: 'sharpnessAware',
  label: 'Fixed-SAM',
  tableLabel: 'Fixed',
  summary: 'SAM along a fixed direction',
  family: 'ascent',
  options: [
    {
      name: 'rho',
      symbol: 'ρ',
      description: 'perturbation radius',
      type: 'number',
      default: 0.07,
      min: 0,
    },
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
const variants = [...VARIANTS, fixedSam];

async function help(table: readonly Variant[]): Promise<string> {
  const out: string[] = [];
  const program = createProgram(
    { out: (t) => out.push(t), err: (t) => out.push(t) },
    {
      variants: table,
    },
  );
  // Commander prints the help and throws (exitOverride) instead of exiting.
  await expect(program.parseAsync(['node', 'usam', 'train', '--help'])).rejects.toThrow();
  return out.join('');
}

beforeAll(async () => {
  await initBackend('cpu');
});

describe("usam train's optimizers are @usam/optimizer's table", () => {
  it('lists every variant with its options and their defaults per optimizer', async () => {
    const text = (await help(VARIANTS)).replace(/\s+/g, ' ');
    for (const v of VARIANTS) expect(text).toContain(`${v.name} (${v.summary})`);
    expect(text).toContain(
      "--rho <ρ> perturbation radius (default: the paper's for --dataset; else sam 0.05, asam 0.5, ssam 0.1, frob-sam 0.005, trace-sam 0.01, det-sam 1, universal 0.01)",
    );
    expect(text).toContain('--lambda <λ>');
    expect(text).toContain('frob-sam 0.00125, trace-sam 1, det-sam 0.5, universal 1');
    expect(text).toContain(
      "--half-width <h> det-sam: half-width of the hypercube μ (default: the paper's for --dataset; else 0.01)",
    );
    expect(text).not.toContain('fixed-sam');
  });

  it('offers a variant added to the table, with no other edit', async () => {
    const text = (await help(variants)).replace(/\s+/g, ' ');
    expect(text).toContain('fixed-sam (SAM along a fixed direction)');
    expect(text).toContain('det-sam 1, universal 0.01, fixed-sam 0.07)');
    const options = resolveTrainOptions({ optimizer: 'fixed-sam', out: 'unused' }, variants);
    expect(options).toMatchObject({ optimizer: 'fixed-sam', rho: 0.07, lambda: null, eta: null });
    expect(() => resolveTrainOptions({ optimizer: 'fixed-sam', rho: -1 }, variants)).toThrow(
      new UsageError('--rho: expected a number ≥ 0, got -1.'),
    );
    expect(() => resolveTrainOptions({ optimizer: 'fixed-sam', eta: 1 }, variants)).toThrow(
      /--eta does not apply to --optimizer fixed-sam/,
    );
    expect(() => resolveTrainOptions({ optimizer: 'fixed-sam' })).toThrow(
      /--optimizer: expected one of 'sgd', .*'universal', got 'fixed-sam'/,
    );

    // And it trains: one step is the gradient at x + (ρ, …, ρ).
    const model = tfl.sequential({
      layers: [tfl.layers.dense({ inputShape: [2], units: 1, useBias: false })],
    });
    const kernel = model.trainableWeights[0]!.read() as tf.Variable;
    kernel.assign(tf.tensor2d([[0.5], [-0.25]]));
    const optimizer = createOptimizer(
      { ...options, momentum: 0, lr: 0.1, weightDecay: 0 },
      model,
      () => [],
      variants,
    );
    const x = tf.tensor2d([[1, 2]]);
    // L(w) = (x·w)², ∇L = 2(x·w)x; at w + ρ(1, 1): x·w = 0.5 − 0.5 + 3·0.07 = 0.21.
    const stats = await optimizer.step(() =>
      tf.tidy(() => tf.sum(tf.square(model.predict(x) as tf.Tensor)) as tf.Scalar),
    );
    expect(stats.gradientEvaluations).toBe(fixedSam.gradientsPerStep({}));
    const g = [2 * 0.21 * 1, 2 * 0.21 * 2];
    // float32 arithmetic on numbers of order 1: 1e-6 is a few ulps.
    const w = kernel.dataSync();
    expect(w[0]).toBeCloseTo(0.5 - 0.1 * g[0]!, 6);
    expect(w[1]).toBeCloseTo(-0.25 - 0.1 * g[1]!, 6);
    optimizer.dispose();
    model.dispose();
    x.dispose();
  });
});
