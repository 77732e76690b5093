import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exact } from '@usam/measures';
import { beforeAll, describe, expect, it } from 'vitest';
import { catalogueMeasure, MEASURE_NAMES } from './measures';
import { requireFreshBuild, usam } from './test-binary';

beforeAll(requireFreshBuild);

describe('catalogue names: the scale-invariant damped determinant', () => {
  it('damped-determinant[:c] is f(p) = exp(−c·p²), c = 1 by default; c = 0 is the determinant', () => {
    expect(MEASURE_NAMES).toContain('damped-determinant');
    const H = [
      [2, 0.5],
      [0.5, 1],
    ];
    // d = 1 closed form S = H + 2c tells c apart; c = 0 gives det H = 1.75 in d = 2.
    expect(exact(catalogueMeasure('damped-determinant', 1), [[1.5]])).toBeCloseTo(3.5, 10);
    expect(exact(catalogueMeasure('damped-determinant:0.25', 1), [[1.5]])).toBeCloseTo(2, 10);
    expect(exact(catalogueMeasure('damped-determinant:0', 2), H)).toBeCloseTo(1.75, 9);
    expect(catalogueMeasure('damped-determinant', 7).dimension).toBe(7);
    // log-damped-determinant is log S: log 3.5 in d = 1.
    expect(exact(catalogueMeasure('log-damped-determinant', 1), [[1.5]])).toBeCloseTo(
      Math.log(3.5),
      10,
    );
    for (const bad of [
      'damped-determinant:',
      'damped-determinant:-1',
      'log-damped-determinant:x',
    ]) {
      expect(() => catalogueMeasure(bad, 2)).toThrow(/unknown measure .*damped-determinant:c/);
    }
  });

  it('usam train --optimizer universal --measure damped-determinant trains', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'usam-damped-')), 'run');
    const { code, stderr } = await usam([
      'train',
      ...['--dataset', 'mnist-s', '--subsample', '0.01', '--batch-size', '43', '--epochs', '1'],
      ...['--lr-schedule', 'constant', '--backend', 'cpu', '--quiet'],
      ...['--optimizer', 'universal', '--measure', 'damped-determinant', '--out', out],
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    // 2 steps of 1 + n = 2 gradient evaluations (n = 1: the measure's fewest samples).
    expect(summary.gradientEvaluations).toBe(4);
    expect(Number.isFinite(summary.finalTrainLoss)).toBe(true);
  });
});
