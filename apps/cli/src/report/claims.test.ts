import { describe, expect, it } from 'vitest';
import { createPlan, type Method, type PlannedRun } from '../reproduce/plan';
import { checkClaims, figure2Claims, tableClaims, zScore } from './claims';
import type { RunResult } from './collect';

const figureRuns = createPlan('tiny', ['figure2']).runs; // λ ∈ {0, 0.0025} × seeds 0, 1
const tableRuns = createPlan('tiny', ['table3']).runs; // mnist-s-c, 7 methods × 2 seeds

/** A finished (or diverged) run with these per-epoch ‖H‖_F² and test accuracies (0..1). */
function result(
  run: PlannedRun,
  frobenius: readonly (number | undefined)[],
  accuracy: readonly number[],
  diverged = false,
): RunResult {
  const epochs = accuracy.map((testAccuracy, i) => ({
    epoch: i + 1,
    trainLoss: 0.1,
    trainAccuracy: testAccuracy,
    testLoss: 0.1,
    testAccuracy,
    learningRate: 0.001,
    seconds: 1,
    gradientEvaluations: 1,
    refusedSteps: 0,
    ...(frobenius[i] !== undefined && {
      hessian: { frobenius: { estimate: frobenius[i]!, standardError: 0 } },
    }),
  }));
  if (diverged) {
    return {
      run,
      status: 'diverged',
      epochs,
      divergence: { epoch: accuracy.length + 1, step: 17, loss: Number.NaN },
    };
  }
  const summary = {
    completed: true,
    epochs: accuracy.length,
    finalTestAccuracy: accuracy.at(-1)!,
    finalTestLoss: 0.1,
    finalTrainLoss: 0.1,
    seconds: 1,
    gradientEvaluations: 1,
    backend: 'cpu',
    out: '',
  };
  return { run, status: 'done', epochs, summary };
}

/**
 * Figure 2's runs from curves given per λ: `curve(λ, seed)` returns ‖H‖_F² per
 * epoch, `acc(λ, seed)` the test accuracies.
 */
function figure(
  curve: (lambda: number, seed: number) => number[],
  acc: (lambda: number, seed: number) => number[] = () => [0.9, 0.95, 0.97],
  diverged: (lambda: number, seed: number) => boolean = () => false,
) {
  return figureRuns.map((run) => {
    const l = run.settings.lambda!;
    return result(run, curve(l, run.seed), acc(l, run.seed), diverged(l, run.seed));
  });
}

const verdicts = (results: RunResult[]) =>
  Object.fromEntries(figure2Claims(results).map((c) => [c.id, c.verdict]));

describe('figure2Claims', () => {
  it('holds where ‖H‖_F² falls after its peak, larger λ is lower at every epoch, and every seed beats 94%', () => {
    // λ = 0: 10, 40, 20 (seed ±1); λ = 0.0025: a quarter of it.
    const results = figure((l, seed) => [10, 40, 20].map((v) => (l > 0 ? v / 4 : v) + seed));
    expect(verdicts(results)).toEqual({
      'figure2-decreases': 'holds',
      'figure2-ordered': 'holds',
      'figure2-accuracy': 'holds',
    });
    const ordered = figure2Claims(results).find((c) => c.id === 'figure2-ordered')!;
    expect(ordered.rows).toHaveLength(3);
    expect(ordered.evidence).toMatch(/ordered by λ \(larger λ lower\) at 3 of 3 epochs/);
  });

  it('does not hold where ‖H‖_F² still rises, a larger λ is higher, or a seed is under 94% or diverged', () => {
    const rising = figure((l, seed) => [10, 20, 40].map((v) => (l > 0 ? 2 * v : v) + seed));
    expect(verdicts(rising)).toMatchObject({
      'figure2-decreases': 'does not hold',
      'figure2-ordered': 'does not hold',
    });
    const low = figure(
      (_l, seed) => [10, 40, 20].map((v) => v + seed),
      (l) => (l > 0 ? [0.8, 0.85, 0.9] : [0.9, 0.95, 0.97]),
    );
    expect(verdicts(low)['figure2-accuracy']).toBe('does not hold');
    const diverged = figure(
      (_l, seed) => [10, 40, 20].map((v) => v + seed),
      undefined,
      (l, seed) => l > 0 && seed === 1,
    );
    const claim = figure2Claims(diverged).find((c) => c.id === 'figure2-accuracy')!;
    expect(claim.verdict).toBe('does not hold');
    expect(claim.evidence).toMatch(
      /figure2-mnist-s-frob-sam-lambda-0\.0025-seed-1 \(epoch 4, step 17\)/,
    );
    // The diverged seed is not in the mean: its curve (equal to the other λ's) is left out.
    expect(claim.rows!.find((r) => r[0] === '0.0025')![3]).toBe('1/2, 1 diverged');
  });

  it('is inconclusive where the curves overlap within their standard errors', () => {
    // Seeds ±5 around means 1 apart: z = 1 / √(2·25/2) = 0.2.
    const results = figure((l, seed) => [10, 40, 20].map((v) => v + (l > 0 ? -1 : 0) + 10 * seed));
    expect(verdicts(results)['figure2-ordered']).toBe('inconclusive');
  });
});

describe('tableClaims', () => {
  /** Final accuracies per method (two seeds: mean ± 0.5). */
  const table = (means: Partial<Record<Method, number>>) =>
    tableRuns.map((run) => {
      const m = means[run.method] ?? 90;
      const final = (m + (run.seed === 0 ? -0.5 : 0.5)) / 100;
      return result(run, [], [final - 0.001, final]);
    });
  const verdictOf = (results: RunResult[], id: string) =>
    tableClaims('table3', results).find((c) => c.id === id)?.verdict;

  it('checks Frob-SAM against SGD and SAM with z-scores', () => {
    // Frob 95 ± 0.5, SGD 90 ± 0.5: z = 5/√0.5 ≈ 7.1; SAM 95.2: tie.
    const better = table({ 'frob-sam': 95, sgd: 90, sam: 95.2 });
    expect(verdictOf(better, 'table3-mnist-s-c-frob-vs-sgd')).toBe('holds');
    expect(verdictOf(better, 'table3-mnist-s-c-frob-vs-sam')).toBe('holds');
    const worse = table({ 'frob-sam': 85, sgd: 90, sam: 90 });
    expect(verdictOf(worse, 'table3-mnist-s-c-frob-vs-sgd')).toBe('does not hold');
    expect(verdictOf(worse, 'table3-mnist-s-c-frob-vs-sam')).toBe('does not hold');
    const tie = table({ 'frob-sam': 90.5, sgd: 90 });
    expect(verdictOf(tie, 'table3-mnist-s-c-frob-vs-sgd')).toBe('inconclusive');
    const claim = tableClaims('table3', better).find((c) => c.id.endsWith('frob-vs-sgd'))!;
    expect(claim.evidence).toMatch(
      /Frob-SAM 95\.00 ± 0\.50% vs SGD 90\.00 ± 0\.50%: difference \+5\.00 points, z = 7\.1/,
    );
  });

  it('says whether test accuracy had stopped moving', () => {
    const flat = table({});
    expect(verdictOf(flat, 'table3-mnist-s-c-converged')).toBe('holds');
    const moving = tableRuns.map((run) => result(run, [], [0.5, 0.6, 0.7, 0.8, 0.9]));
    expect(verdictOf(moving, 'table3-mnist-s-c-converged')).toBe('does not hold');
  });
});

describe('checkClaims and zScore', () => {
  it('z is the difference over √(se₁² + se₂²), NaN without standard errors', () => {
    expect(zScore({ mean: 5, standardError: 3, n: 4 }, { mean: 0, standardError: 4, n: 4 })).toBe(
      1,
    );
    expect(
      zScore({ mean: 5, standardError: Number.NaN, n: 1 }, { mean: 0, standardError: 1, n: 2 }),
    ).toBeNaN();
  });

  it('checks only the experiments that have runs', () => {
    const ids = checkClaims(figure((l, s) => [10, 40, 20].map((v) => (l ? v / 4 : v) + s))).map(
      (c) => c.id,
    );
    expect(ids).toEqual(['figure2-decreases', 'figure2-ordered', 'figure2-accuracy']);
  });
});
