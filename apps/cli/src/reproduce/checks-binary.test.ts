import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireFreshBuild, usam } from '../test-binary';
import type { ChecksReport } from './checks';

beforeAll(requireFreshBuild);

describe('usam reproduce --experiments checks, from the built binary', () => {
  it('prints every section and writes checks.json, Theorem 2 included', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'usam-checks-')), 'out');
    const args = ['reproduce', '--experiments', 'checks', '--samples', '100', '--backend', 'cpu'];
    const { code, stdout, stderr } = await usam([...args, '--out', out]);
    expect(code, stderr).toBe(0);
    for (const section of ['Table 1', 'Examples 1 and 2', 'Hessian estimators', 'Theorem 2']) {
      expect(stdout).toContain(section);
    }
    const report = JSON.parse(await readFile(join(out, 'checks.json'), 'utf8')) as ChecksReport;
    expect(report.table1.rows).toHaveLength(8);
    expect(report.scaleInvariantBias.rows.map((r) => r.method)).toContain('log damped determinant');
  });

  it('refuses, naming the fix, on a shard other than 0 (it used to exit 0 having done nothing)', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'usam-checks-')), 'out');
    const flag = await usam([
      'reproduce',
      '--experiments',
      'checks',
      '--shard',
      '1/2',
      '--out',
      out,
    ]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(
      /checks run on shard 0 only, and this is shard 1\/2 \(--shard '1\/2'\).*--shard 0\/2 or without sharding/,
    );
    const env = await usam(['reproduce', '--experiments', 'checks', '--out', out], {
      SLURM_ARRAY_TASK_ID: '1',
      SLURM_ARRAY_TASK_COUNT: '2',
    });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/this is shard 1\/2 \(Slurm array task 1\)/);
  });
});
