import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireFreshBuild, start, usam } from '../test-binary';
import type { SharpnessReport } from './sharpness';

let run: string;
beforeAll(async () => {
  requireFreshBuild();
  run = join(await mkdtemp(join(tmpdir(), 'usam-sharpness-')), 'run');
  const args = ['train', '--dataset', 'mnist-s', '--subsample', '0.01', '--epochs', '1'];
  const trained = await usam([...args, '--backend', 'cpu', '--quiet', '--out', run]);
  expect(trained.code).toBe(0);
});

describe('usam sharpness', () => {
  it("measures a run's checkpoint with errors and times, and draws the spectral density", async () => {
    const { code, stdout, stderr } = await usam([
      'sharpness',
      run,
      '--examples',
      '16',
      '--probes',
      '4',
      '--top-k',
      '2',
      '--lanczos-steps',
      '8',
      '--measures',
      'frobenius',
      '--samples',
      '4',
      '--backend',
      'wasm',
      '--json',
      '--quiet',
    ]);
    expect(code, stderr).toBe(0);
    // Nothing on stderr: no progress with --quiet, and no tfjs banner on wasm.
    expect(stderr).toBe('');
    const report = JSON.parse(stdout) as SharpnessReport;
    expect(JSON.parse(await readFile(join(run, 'sharpness.json'), 'utf8'))).toEqual(report);
    const rows = Object.fromEntries(report.rows.map((r) => [r.quantity, r]));
    expect(report.rows.map((r) => r.quantity)).toEqual([
      'trace',
      'frobenius',
      'λ1',
      'λ2',
      'trace (SLQ)',
      'measure frobenius',
    ]);
    for (const r of report.rows) {
      expect(Number.isFinite(r.estimate), r.quantity).toBe(true);
      expect(r.seconds).toBeGreaterThanOrEqual(0);
    }
    // The power-iteration values are Rayleigh quotients of orthonormal v_i, and
    // Σ(v_iᵀHv_i)² ≤ Σ‖Hv_i‖² ≤ ‖H‖_F²: a lower bound on the Frobenius estimate, up to
    // its sampling error (5 standard errors).
    const frob = rows.frobenius!;
    const [l1, l2] = report.eigenvalues.values as [number, number];
    expect(frob.estimate + 5 * frob.standardError).toBeGreaterThan(l1 ** 2 + l2 ** 2 - 1e-6);
    // The density integrates to 1 over its grid (trapezoid rule; the grid spacing is below σ).
    const { grid, values } = report.density!;
    let integral = 0;
    for (let i = 1; i < grid.length; i++) {
      integral += ((values[i]! + values[i - 1]!) / 2) * (grid[i]! - grid[i - 1]!);
    }
    expect(integral).toBeCloseTo(1, 2);
    const svg = await readFile(join(run, 'spectral-density.svg'), 'utf8');
    expect(svg).toMatch(/^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg).toContain('eigenvalue λ');
    expect(existsSync(join(run, 'sharpness.json'))).toBe(true);
  });

  it('the table says where an error or a time has no number of its own (one SLQ probe, λ₂ from λ₁’s run)', async () => {
    const { code, stdout, stderr } = await usam([
      'sharpness',
      run,
      '--examples',
      '8',
      '--probes',
      '3',
      '--top-k',
      '2',
      '--lanczos-steps',
      '4',
      '--measures',
      '',
      '--backend',
      'cpu',
      '--quiet',
    ]);
    expect(code, stderr).toBe(0);
    expect(stdout).not.toContain('NaN');
    expect(stdout).toMatch(/trace \(SLQ\).*one probe: no error estimate/);
    expect(stdout).toMatch(/λ2.*\(in λ1\).*\(in λ1\)/);
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)(
    '%s aborts the estimator in progress: exit %i, one line, nothing written, an earlier sharpness.json kept',
    async (signal, exit) => {
      const out = join(run, '..', `stopped-${signal}`);
      await mkdir(out, { recursive: true });
      await writeFile(join(out, 'sharpness.json'), 'earlier\n');
      // A million probes: hours, unless the signal stops it.
      const args = ['sharpness', run, '--examples', '8', '--probes', '1000000', '--out', out];
      const { child, done } = start([...args, '--lanczos-steps', '0', '--backend', 'cpu']);
      let stderr = '';
      await new Promise<void>((resolve) => {
        child.stderr!.on('data', (d) => {
          stderr += d;
          if (stderr.includes('usam sharpness: trace…')) resolve();
        });
      });
      await new Promise((r) => setTimeout(r, 300)); // well into the probes
      child.kill(signal);
      const result = await done;
      // Without a handler the process dies of the signal (code null) with no word.
      expect(result.code, result.stderr).toBe(exit);
      expect(result.stderr).toMatch(
        new RegExp(
          `usam sharpness: stopped by ${signal} during trace; nothing was written to .*stopped-${signal} \\(sharpness.json is written only when every quantity is done\\)\\. Run the same command again to compute it\\.\n$`,
        ),
      );
      expect(await readFile(join(out, 'sharpness.json'), 'utf8')).toBe('earlier\n');
      expect(existsSync(join(out, 'spectral-density.svg'))).toBe(false);
    },
  );

  it('--rescale: the same weights rescaled layer by layer change ‖H‖_F²; the family is refused with the reason and the fix', async () => {
    const c = 10;
    const { code, stdout, stderr } = await usam([
      'sharpness',
      run,
      ...['--examples', '8', '--probes', '8', '--top-k', '1', '--lanczos-steps', '12'],
      ...['--measures', 'damped-determinant,determinant', '--samples', '4'],
      ...['--rescale', String(c), '--backend', 'cpu', '--json', '--quiet'],
    ]);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as SharpnessReport;
    const re = report.rescaled!;
    expect(re).toMatchObject({ layer: 1, factor: c });
    // dense1 (784·128 kernel + 128 bias) up, dense2's 128·128 kernel down: det D ≠ 1.
    expect(re.logDetD).toBeCloseTo((784 * 128 + 128 - 128 * 128) * Math.log(c), 6);
    const at = (rows: typeof report.rows, q: string) => rows.find((r) => r.quantity === q)!;
    // The function is the same, the Hessian is D⁻¹HD⁻¹: layer 2's block grows by c², so
    // ‖H‖_F² moves by far more than its standard errors (8 probes: > 5 combined).
    const [f, fd] = [at(report.rows, 'frobenius'), at(re.rows, 'frobenius')];
    expect(Math.abs(fd.estimate - f.estimate)).toBeGreaterThan(
      5 * Math.hypot(f.standardError, fd.standardError),
    );
    // A trained net's Hessian is indefinite (Lanczos finds two negative eigenvalues at
    // once on this run): the determinant and the damped one diverge, said with the fix.
    for (const rows of [report.rows, re.rows]) {
      for (const name of ['damped-determinant', 'determinant']) {
        const row = at(rows, `measure ${name}`);
        expect(row.refused).toMatch(/diverges at this Hessian.*usam measure FILE/);
        expect(row.products).toBe(0);
      }
    }
    const text = await usam(['sharpness', run, '--rescale', '0', '--quiet']);
    expect(text.code).toBe(2);
    expect(text.stderr).toMatch(/--rescale must be a finite number > 0/);
    const layer = await usam(['sharpness', run, '--rescale', '2', '--rescale-layer', '6']);
    expect(layer.code).toBe(2);
    expect(layer.stderr).toMatch(/--rescale-layer 6: this MLP has 6 dense layers.*1 ≤ k ≤ 5/);
    const lanczos = await usam([
      'sharpness',
      run,
      '--measures',
      'determinant',
      '--lanczos-steps',
      '0',
    ]);
    expect(lanczos.code).toBe(2);
    expect(lanczos.stderr).toMatch(/importance-weighted.*drop --lanczos-steps 0/);
  });
});
