import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';

/**
 * The README's usage example, run as written (only the import of this package
 * is pointed at its source), so the documented usage cannot rot.
 */
it('the README example trains a tfjs-layers model with Frob-SAM and the loss falls', async () => {
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  expect(code).toContain("from '@usam/optimizer'");
  const file = join(import.meta.dirname, `readme-example-${process.pid}.tmp.ts`);
  writeFileSync(
    file,
    `${code!.replace("from '@usam/optimizer'", "from './index'")}\nexport { history, model, optimizer };\n`,
  );
  try {
    const example = await import(file);
    const history: number[] = example.history;
    expect(history).toHaveLength(100);
    expect(history.every(Number.isFinite)).toBe(true);
    expect(history.at(-1)!).toBeLessThan(0.5 * history[0]!);
    expect(example.optimizer.counters).toMatchObject({ steps: 100, refused: 0 });
    expect(example.optimizer.counters.gradientEvaluations).toBe(300);
    expect(example.optimizer.state.length).toBe(2); // BatchNorm's moving mean and variance
    expect(tf.getBackend()).toBeDefined();
  } finally {
    rmSync(file, { force: true });
  }
});
