import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it, vi } from 'vitest';

/**
 * The README's usage example, type-checked under the repository's strict
 * settings and run as written (only the backend is cpu and this package's
 * import points at its source), so the documented usage cannot rot.
 */
it('the README example type-checks and runs: trace, Frobenius, top-2 eigenvalues, density', async () => {
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
  const code = /^```js\n([\s\S]*?)^```/m.exec(readme)?.[1];
  expect(code).toContain("from '@usam/estimators'");
  const file = join(import.meta.dirname, `readme-example-${process.pid}.tmp.ts`);
  const config = join(import.meta.dirname, '..', `tsconfig.readme-${process.pid}.tmp.json`);
  writeFileSync(
    file,
    `${code!.replace("from '@usam/estimators'", "from './index'").replace("initBackend('wasm')", "initBackend('cpu')")}\nexport { density, frob, top, trace };\n`,
  );
  writeFileSync(config, JSON.stringify({ extends: './tsconfig.json', files: [file], include: [] }));
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    execFileSync('npx', ['tsc', '--noEmit', '-p', config], { stdio: 'pipe' });
    const { density, frob, top, trace } = await import(/* @vite-ignore */ file);
    expect(Number.isFinite(trace.estimate) && trace.standardError > 0).toBe(true);
    expect(frob.estimate).toBeGreaterThan(0);
    expect(top.eigenvalues).toHaveLength(2);
    expect(density.grid).toHaveLength(density.values.length);
    expect(log).toHaveBeenCalledTimes(1);
  } finally {
    log.mockRestore();
    rmSync(file, { force: true });
    rmSync(config, { force: true });
  }
}, 600_000); // tsc and 250 products: slow on a loaded machine
