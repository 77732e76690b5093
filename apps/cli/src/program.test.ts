import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { createProgram } from './program';
import type { ChecksReport } from './reproduce/checks';

async function run(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const program = createProgram({ out: (t) => out.push(t), err: (t) => err.push(t) });
  let error: unknown;
  try {
    await program.parseAsync(['node', 'usam', ...args]);
  } catch (e) {
    error = e;
  }
  return { out: out.join(''), err: err.join(''), error };
}

describe('usam reproduce', () => {
  it('writes Table 1 and the paper examples, each sampled value within 5 standard errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'usam-cli-'));
    const { out, error } = await run(
      'reproduce',
      '--experiments',
      'checks',
      '--backend',
      'cpu',
      '--samples',
      '400',
      '--out',
      dir,
    );
    expect(error).toBeUndefined();
    expect(out).toContain('Table 1');
    const report = JSON.parse(await readFile(join(dir, 'checks.json'), 'utf8')) as ChecksReport;
    expect(report.backend).toBe('cpu');
    expect(report.table1.rows.map((r) => r.measure)).toHaveLength(8);
    for (const row of report.table1.rows) {
      for (const estimate of [row.monteCarlo, row.zerothOrder]) {
        if (estimate.z === null) {
          // Max eigenvalue over finitely many directions: a lower bound.
          expect(estimate.value).toBeLessThanOrEqual(row.closedForm + 1e-6);
        } else {
          // |z| ≤ 5 fails by chance with probability ~6e-7 per estimate.
          expect(Math.abs(estimate.z), row.measure).toBeLessThanOrEqual(5);
        }
      }
    }
    const [example1, ...example2] = report.examples;
    expect(example1).toMatchObject({ example: '1' });
    expect(example1!.traceH).toBeCloseTo(0, 12);
    expect(example1!.frobeniusSquared).toBeCloseTo(2, 12);
    expect(example1!.detH).toBeCloseTo(-1, 12);
    // Scale invariance: det H is the same along (k, c/k), the trace is not.
    for (const c of ['1/', '0.6/']) {
      const rows = example2.filter((r) => r.point.includes(`, ${c}`));
      expect(rows).toHaveLength(4);
      for (const r of rows) expect(r.detH).toBeCloseTo(rows[0]!.detH, 10);
      expect(new Set(rows.map((r) => r.traceH.toFixed(6))).size).toBeGreaterThan(1);
    }
    // Estimators against the exact spectrum: sampled rows within 5 standard errors;
    // eigenvalue rows within their residual ‖Hv − λv‖, which bounds the distance to H's spectrum.
    expect(report.estimators).toHaveLength(6);
    for (const row of report.estimators) {
      const bound = row.quantity.startsWith('λ') ? row.standardError : 5 * row.standardError;
      expect(Math.abs(row.estimate - row.exact), row.quantity).toBeLessThanOrEqual(bound);
      expect(row.hvps).toBeGreaterThan(0);
    }
    // Explicit bias on (x₁x₂ − 1)² from (4, 0.25): SGD and SAM stay (∇L = 0), Trace-SAM
    // and Frob-SAM drift toward |x₁| = |x₂| = 1 with tr H and ‖H‖_F² falling, near the manifold.
    const bias = Object.fromEntries(
      report.explicitBias.rows.map((r) => [`${r.method} ${r.settings}`, r]),
    );
    expect(bias['SGD plain']!.end).toEqual([4, 0.25]);
    expect(bias['SAM ρ = 0.05']!.end).toEqual([4, 0.25]);
    const start = bias['SGD plain']!;
    for (const key of ['Trace-SAM ρ = 0.1, λ = 1', 'Frob-SAM ρ = 0.1, λ = 0.05']) {
      expect(bias[key]!.traceH, key).toBeLessThan(0.5 * start.traceH);
      expect(bias[key]!.frobeniusSquared, key).toBeLessThan(0.2 * start.frobeniusSquared);
      expect(bias[key]!.offManifold, key).toBeLessThan(0.1);
    }
    // Theorem 2 (scale-invariant paper): from x₀ and Dx₀, D = diag(2, ½). Measured (cpu, seeds
    // 0–3): the log damped determinant's runs drift by 0.004–0.02 in log(x₁/x₂) and end 0.004–0.013
    // from D-images (gap 2·log 2 = 1.386); Trace-SAM at λ = 0.25 drifts 0.17–0.28, at λ = 1 by
    // 0.62–1.05 with gaps 1.04–1.18. The bounds leave 3× room on each side.
    const si = report.scaleInvariantBias.rows;
    const [damped, trace, traceStrong] = si;
    expect(damped!.method).toBe('log damped determinant');
    for (const x of damped!.drift) expect(Math.abs(x)).toBeLessThan(0.06);
    expect(Math.abs(damped!.logRatioGap - 2 * Math.log(2))).toBeLessThan(0.05);
    for (const x of trace!.drift) expect(x).toBeLessThan(-0.15);
    for (const x of traceStrong!.drift) expect(x).toBeLessThan(-0.4);
    expect(Math.abs(traceStrong!.logRatioGap - 2 * Math.log(2))).toBeGreaterThan(0.1);
    expect(out).toContain('Theorem 2 (scale-invariant paper)');
  });

  it('rejects an unknown backend with the list of valid ones', async () => {
    const { err, error } = await run('reproduce', '--backend', 'tpu');
    expect(error).toBeInstanceOf(CommanderError);
    expect(err).toMatch(/'tpu' is invalid.*auto, tensorflow-gpu, tensorflow, wasm, cpu/s);
  });

  it('rejects a bad sample count in one line naming the option', async () => {
    const { err, error } = await run('reproduce', '--samples', '1');
    expect(error).toBeInstanceOf(CommanderError);
    expect(err).toContain('--samples');
    expect(err).toContain('expected an integer in [2,');
  });

  it('refuses --jobs 0 and --seeds 0 in one line naming the option', async () => {
    for (const flag of ['--jobs', '--seeds']) {
      const { err, error } = await run('reproduce', flag, '0', '--dry-run');
      expect(error).toBeInstanceOf(CommanderError);
      expect(err).toContain(flag);
      expect(err).toContain('expected an integer in [1,');
    }
  });

  it('cuts --jobs above the number of runs to them, saying so', async () => {
    // Seven table runs, each already settled (diverged.json): nothing trains, the pool is sized.
    const dir = await mkdtemp(join(tmpdir(), 'usam-cli-jobs-'));
    const ids = (
      await run(
        'reproduce',
        '--profile',
        'tiny',
        '-e',
        'table2',
        '--seeds',
        '1',
        '--dry-run',
        '--out',
        dir,
      )
    ).out
      .split('\n')
      .filter((line) => line.startsWith('table2-'))
      .map((line) => line.split('\t')[0]!);
    expect(ids).toHaveLength(7);
    for (const id of ids) {
      await mkdir(join(dir, 'runs', id), { recursive: true });
      await writeFile(join(dir, 'runs', id, 'diverged.json'), '{"epoch":1,"step":1,"loss":"NaN"}');
    }
    const { out, err, error } = await run(
      'reproduce',
      '--profile',
      'tiny',
      '-e',
      'table2',
      '--seeds',
      '1',
      '--jobs',
      '50',
      '--quiet',
      '--backend',
      'cpu',
      '--out',
      dir,
    );
    expect(error).toBeUndefined();
    expect(out + err).toContain('(--jobs 50, but this shard has 7 run(s): 7 worker(s).)');
  });
});
