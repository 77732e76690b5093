import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it, vi } from 'vitest';

/**
 * The README's usage example, run as written (only the imports of this package
 * are pointed at its source), so the documented usage cannot rot.
 */
it('the README example loads mnist-s-c, runs two epochs of batches and takes the first examples', async () => {
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
  const code = /^```js\n([\s\S]*?)^```/m.exec(readme)?.[1];
  expect(code).toContain("from '@usam/datasets/node'");
  const file = join(import.meta.dirname, `readme-example-${process.pid}.tmp.ts`);
  writeFileSync(
    file,
    `${code!.replace("from '@usam/datasets/node'", "from './node'").replace("from '@usam/datasets'", "from './index'")}\nexport { count, ds, seen };\n`,
  );
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    const { count, ds, seen } = await import(/* @vite-ignore */ file);
    // What the example's comment says it prints.
    expect(log).toHaveBeenCalledWith(857, { fraction: 0.2, seed: 1, flipped: 172 });
    expect(seen).toBe(2 * ds.train.count);
    expect(count).toBe(857);
  } finally {
    log.mockRestore();
    rmSync(file, { force: true });
  }
});
