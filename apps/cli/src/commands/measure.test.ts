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
        expect(Math.abs(e.estimate - row.exact), row.measure).toBeLessThanOrEqual(
          5 * e.standardError + 1e-9,
        );
      }
    }
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
