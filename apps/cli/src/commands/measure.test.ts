import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireFreshBuild, usam } from '../test-binary';
import type { MeasureReport } from './measure';

beforeAll(requireFreshBuild);

describe('usam measure', () => {
  it('example1 prints tr H = 0, ‖H‖_F² = 2, det H = −1', async () => {
    const { code, stdout } = await usam(['measure', 'example1', '--samples', '200']);
    expect(code).toBe(0);
    expect(stdout).toContain('tr H = 0, ‖H‖_F² = 2, det H = -1');
    // H is indefinite: the determinant's integral diverges, said rather than sampled.
    expect(stdout).toMatch(/determinant\s*│\s*-1\.0000\s*│ diverges/);
  });

  it('example2 --k 2: det H = 0 on the manifold, tr H = 2(k² + 1/k²); sampled within 5 standard errors', async () => {
    const { code, stdout } = await usam(['measure', 'example2', '--k', '2', '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as MeasureReport;
    // At (2, 1/2): H = [[0.5, 2], [2, 8]], tr = 8.5 = 2(4 + 1/4), det = 4 − 4 = 0.
    expect(report.traceH).toBeCloseTo(8.5, 12);
    expect(report.detH).toBeCloseTo(0, 12);
    expect(report.rows.map((r) => r.measure)).toContain('frobenius');
    for (const row of report.rows) {
      for (const e of [row.monteCarlo, row.zerothOrder]) {
        if (e === null || row.measure === 'max-eigenvalue') continue; // a lower bound, not unbiased
        // |z| ≤ 5 fails by chance with probability ~6e-7 per estimate.
        expect(Math.abs(e.estimate - row.exact!), row.measure).toBeLessThanOrEqual(
          5 * e.standardError + 1e-9,
        );
      }
    }
  });

  it("fits the determinant's proposal to H: H = 0.2·I, heavy-tailed through N(0, I), is exact and unwarned", async () => {
    // Through N(0, I) the terms e^{(1 − 0.2)|v|²/2} have a Pareto tail of shape 0.8 (infinite
    // variance, packages/measures/src/importance.test.ts). The default proposal is now
    // N(0, diag(1/H_ii)) ∝ ψ here, so every term is the same and both estimates are det H
    // up to float32 round-off in q = ½vᵀHv (relative 1e-6 ≪ the 1e-4 asked).
    const dir = await mkdtemp(join(tmpdir(), 'usam-measure-'));
    const file = join(dir, 'h.json');
    await writeFile(
      file,
      JSON.stringify([
        [0.2, 0],
        [0, 0.2],
      ]),
    );
    const { code, stdout } = await usam(['measure', file, '--measures', 'determinant', '--json']);
    expect(code).toBe(0);
    const [row] = (JSON.parse(stdout) as MeasureReport).rows;
    for (const e of [row!.monteCarlo!, row!.zerothOrder!]) {
      expect(e.warning).toBeUndefined();
      expect(Math.abs(e.estimate / 0.04 - 1)).toBeLessThan(1e-4);
    }
  });

  it('the determinant of a correlated H with an eigenvalue below ½: within its standard error of det H, unwarned', async () => {
    // Through N(0, I) the zeroth-order estimate was 3.40 ± 0.19 against det H = 2.94
    // (2.4 standard errors, unwarned). The fitted proposal covers H⁻¹, so the weights
    // are bounded and the stated error is right (packages/measures/src/proposal.test.ts);
    // |z| ≤ 3.5 fails by chance once in 2000 per estimate (the seed is fixed).
    const dir = await mkdtemp(join(tmpdir(), 'usam-measure-'));
    const file = join(dir, 'h.json');
    const H = [
      [4, 1, 0.5],
      [1, 2, 0.3],
      [0.5, 0.3, 0.5],
    ];
    await writeFile(file, JSON.stringify(H));
    const { code, stdout } = await usam(['measure', file, '--measures', 'determinant', '--json']);
    expect(code).toBe(0);
    const [row] = (JSON.parse(stdout) as MeasureReport).rows;
    expect(row!.exact).toBeCloseTo(2.94, 12);
    for (const e of [row!.monteCarlo!, row!.zerothOrder!]) {
      expect(e.warning).toBeUndefined();
      expect(Math.abs(e.estimate - 2.94)).toBeLessThan(3.5 * e.standardError);
      // The error of the bounded-weight proposal: 2·det H·√(relative variance/n) = 0.069.
      expect(e.standardError).toBeLessThan(0.1);
    }
  });

  it('warns where importance weights are heavy-tailed: the damped determinant at an indefinite H', async () => {
    // H = [[1, 10], [10, 1]] is not positive definite, so no Gaussian proposal bounds the
    // weights; the damped integral converges (H_ii > 0) but its tail is heavy (k̂ ≈ 4).
    const dir = await mkdtemp(join(tmpdir(), 'usam-measure-'));
    const file = join(dir, 'h.json');
    await writeFile(
      file,
      JSON.stringify([
        [1, 10],
        [10, 1],
      ]),
    );
    const { code, stdout } = await usam(['measure', file, '--measures', 'damped-determinant']);
    expect(code).toBe(0);
    expect(stdout).toContain('(se untrusted, see below)');
    expect(stdout).toMatch(/warning: damped-determinant: .*heavy-tailed.*more samples.*exact\(\)/);
    const wide = await usam([
      'measure',
      'example2',
      '--k',
      '1.2',
      '--measures',
      'trace,damped-determinant',
    ]);
    expect(wide.stdout).not.toContain('warning');
  });

  it('damped-determinant (Theorem 1) is the same at every (k, 1/k) of example2, where det H = 0; the trace is not', async () => {
    const at = async (k: number) => {
      const { code, stdout } = await usam([
        'measure',
        'example2',
        '--k',
        String(k),
        '--measures',
        'damped-determinant,trace-gaussian',
        '--samples',
        '1000',
        '--json',
      ]);
      expect(code).toBe(0);
      const [damped, tr] = (JSON.parse(stdout) as MeasureReport).rows;
      return { damped: damped!, tr: tr! };
    };
    const [a, b] = [await at(0.5), await at(3)];
    // Quadrature at both Hessians (D⁻¹HD⁻¹ of each other, D = diag(6, 1/6)): equal to its
    // 1e-8 tolerance, and (2π)²/(∫e^{−(a+b)² − a²b²})² = 3.42113 in the rescaled variables.
    expect(Math.abs(a.damped.exact! - b.damped.exact!)).toBeLessThan(1e-8 * a.damped.exact!);
    expect(a.damped.exact!).toBeCloseTo(3.42113, 4);
    // The proposal N(0, diag(1/H_ii)) follows D, so the same seed draws D·v: equal estimates.
    expect(b.damped.monteCarlo!.estimate).toBeCloseTo(a.damped.monteCarlo!.estimate, 4);
    for (const e of [a.damped.monteCarlo!, a.damped.zerothOrder!]) {
      expect(Math.abs(e.estimate - a.damped.exact!)).toBeLessThan(5 * e.standardError);
    }
    // tr H/2 = 1/k² + k²: 4.25 at k = ½, 9.11 at k = 3.
    expect(a.tr.exact).toBeCloseTo(4.25, 10);
    expect(b.tr.exact).toBeCloseTo(9 + 1 / 9, 10);
  });

  it('damped-determinant says which principal submatrix makes it diverge, and checks its damping', async () => {
    const { code, stdout } = await usam([
      'measure',
      'example1',
      '--measures',
      'damped-determinant:0.5',
      '--samples',
      '10',
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/damped-determinant:0.5\s*│\s*—\s*│ diverges/);
    expect(stdout).toContain('H without row and column 0 is not positive definite');
    const bad = await usam(['measure', 'example1', '--measures', 'damped-determinant:-1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /unknown measure 'damped-determinant:-1'.*damped-determinant:c for any damping c ≥ 0/,
    );
  });

  it('reads JSON and CSV matrices, which give the same exact values', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'usam-measure-'));
    await writeFile(
      join(dir, 'h.json'),
      JSON.stringify({
        hessian: [
          [2, 0.5],
          [0.5, 1],
        ],
      }),
    );
    await writeFile(join(dir, 'h.csv'), '# a 2×2 Hessian\n2, 0.5\n0.5, 1\n');
    const [fromJson, fromCsv] = await Promise.all(
      ['h.json', 'h.csv'].map(async (f) =>
        JSON.parse(
          (await usam(['measure', join(dir, f), '--measures', 'frobenius,determinant', '--json']))
            .stdout,
        ),
      ),
    );
    expect(fromJson.rows.map((r: { exact: number }) => r.exact)).toEqual(
      fromCsv.rows.map((r: { exact: number }) => r.exact),
    );
    // ‖H‖_F² = 4 + 1 + 2·0.25, det = 2 − 0.25.
    expect(fromJson.rows[0].exact).toBeCloseTo(5.5, 12);
    expect(fromJson.rows[1].exact).toBeCloseTo(1.75, 12);
  });
});
