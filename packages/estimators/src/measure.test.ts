import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { determinant, frobenius, trace as traceMeasure } from '@usam/measures';
import { beforeAll, describe, expect, it } from 'vitest';
import { measureMonteCarlo } from './measure';
import { splitQuadratic, tanhMlp } from './test-problems';
import { frobeniusSquared, matrixOperator, trace } from './test-utils';

beforeAll(async () => {
  await initBackend('cpu');
});

const K = 4; // standard errors allowed, as in hutchinson.test.ts

describe('measureMonteCarlo', () => {
  it('evaluates the trace (gaussian) and Frobenius measures of a split quadratic within 4 SE', async () => {
    const q = splitQuadratic();
    const t = await measureMonteCarlo(q.hvp, traceMeasure('gaussian'), { samples: 200, seed: 1 });
    expect(Math.abs(t.estimate - trace(q.H) / 2)).toBeLessThan(K * t.standardError);
    expect(t.probes).toHaveLength(200);
    expect(t.draws[0]!.q).toBe(t.probes[0]);
    const f = await measureMonteCarlo(q.hvp, frobenius(), { samples: 300, seed: 2 });
    expect(Math.abs(f.estimate - frobeniusSquared(q.H))).toBeLessThan(K * f.standardError);
    // Shared samples: one HVP per draw.
    expect(q.hvp.products).toBe(200 + 300);
  });

  it('evaluates the sphere trace measure tr(H)/(2d) of a tiny MLP Hessian within 4 SE', async () => {
    const mlp = tanhMlp();
    const result = await measureMonteCarlo(mlp.hvp, traceMeasure('sphere'), {
      samples: 100,
      seed: 3,
    });
    expect(Math.abs(result.estimate - trace(mlp.H) / (2 * 26))).toBeLessThan(
      K * result.standardError,
    );
  });

  it("passes on @usam/measures' importance diagnostics: a too-narrow determinant proposal is warned", async () => {
    // H = I in d = 2 through N(0, 0.4²I): terms with a Pareto tail of shape 1 − 0.4² = 0.84
    // (packages/measures/src/importance.test.ts works it out); N(0, 1.5²I): bounded terms.
    const op = matrixOperator([
      [1, 0],
      [0, 1],
    ]);
    const narrow = await measureMonteCarlo(op, determinant(2, { scale: 0.4 }), {
      samples: 4000,
      seed: 3,
    });
    expect(narrow.warning).toMatch(/standard error cannot be trusted.*more samples/);
    expect(narrow.tailShape).toBeGreaterThan(0.7);
    const wide = await measureMonteCarlo(op, determinant(2, { scale: 1.5 }), {
      samples: 4000,
      seed: 3,
    });
    expect(wide.warning).toBeUndefined();
    expect(wide.effectiveSampleSize).toBeGreaterThan(2000);
    const plain = await measureMonteCarlo(op, frobenius(), { samples: 50, seed: 3 });
    expect(plain.effectiveSampleSize).toBeUndefined();
  });

  it('works on a plain operator, is deterministic, leaks no tensors, and needs 2 samples', async () => {
    const op = matrixOperator(splitQuadratic().H);
    const first = await measureMonteCarlo(op, frobenius(), { samples: 5, seed: 'a' });
    const start = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      expect(await measureMonteCarlo(op, frobenius(), { samples: 5, seed: 'a' })).toEqual(first);
    }
    expect(tf.memory().numTensors).toBe(start);
    await expect(measureMonteCarlo(op, frobenius(), { samples: 1 })).rejects.toThrow(
      /samples must be an integer ≥ 2 \(a standard error needs two probes\)/,
    );
  });
});
