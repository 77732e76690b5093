import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { beforeAll, expect, it } from 'vitest';

/**
 * The README's usage examples, run as written (only the import of this package
 * is pointed at its source), so the documented usage cannot rot.
 */
beforeAll(async () => {
  await initBackend('cpu'); // the first example picks the fastest backend itself
});

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
// The top-level JavaScript blocks (the TypeScript form and indented blocks are package-checks').
const examples = [...readme.matchAll(/^```js\n([\s\S]*?)^```/gm)].map((m) => m[1]!);

async function run(code: string, exports: string[], name: string) {
  expect(code).toContain("from '@usam/optimizer'");
  const file = join(import.meta.dirname, `readme-${name}-${process.pid}.tmp.ts`);
  writeFileSync(
    file,
    `${code.replace("from '@usam/optimizer'", "from './index'")}\nexport { ${exports.join(', ')} };\n`,
  );
  try {
    return await import(file);
  } finally {
    rmSync(file, { force: true });
  }
}

it('the README has its three top-level examples (own loop, model.fit, a variant of your own)', () => {
  expect(examples).toHaveLength(3);
});

it('the first README example trains a tfjs-layers model with Frob-SAM and the loss falls', async () => {
  const example = await run(examples[0]!, ['history', 'model', 'optimizer'], 'loop');
  const history: number[] = example.history;
  expect(history).toHaveLength(100);
  expect(history.every(Number.isFinite)).toBe(true);
  expect(history.at(-1)!).toBeLessThan(0.5 * history[0]!);
  expect(example.optimizer.counters).toMatchObject({ steps: 100, refused: 0 });
  expect(example.optimizer.counters.gradientEvaluations).toBe(300);
  expect(example.optimizer.state.length).toBe(2); // BatchNorm's moving mean and variance
  expect(tf.getBackend()).toBeDefined();
});

it('the second README example fits with SAM under a schedule and restores a checkpoint', async () => {
  const example = await run(examples[1]!, ['fitted', 'optimizer', 'resumed'], 'fit');
  const losses: number[] = example.fitted.history.loss;
  expect(losses).toHaveLength(3);
  expect(losses.every(Number.isFinite)).toBe(true);
  expect(example.optimizer.counters.steps).toBe(3 * 4); // 64 examples in batches of 16
  expect(example.resumed.counters).toEqual(example.optimizer.counters);
  expect(example.resumed.learningRate).toBeCloseTo(0.005, 12); // epoch 2 is past the milestone
});
