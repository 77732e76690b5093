/**
 * The differential harness in CI (docs/kernels.md): 2,400 fixed cases of
 * every kernel and gradient this package replaces or adds on wasm, against
 * the cpu backend, in worker processes that restart after each failure (see
 * differential-runner.ts). Each failure prints its one-line reproduction.
 */
import { describe, expect, it } from 'vitest';
import { makeCase } from './differential';
import { runDifferential } from './differential-runner';

const SEEDS = [1, 2, 3];
const CASES = 800;

describe('wasm against cpu on random shapes', () => {
  it('draws every op, dimensions of 1 and 0, transposes, broadcasts and small chunks', () => {
    const cases = SEEDS.flatMap((seed) =>
      Array.from({ length: CASES }, (_, i) => makeCase(seed, i)),
    );
    const ops = new Set(cases.map((c) => c.op));
    for (const op of [
      'matMul',
      'fused.matMul',
      'conv2d',
      'depthwiseConv2d',
      'maxPool',
      'avgPool',
      'sum',
      'mean',
      'add',
      'slice',
      'split',
      'moments+batchNorm',
      'cast/clone',
    ]) {
      expect(ops, op).toContain(op);
    }
    const text = cases.map((c) => c.description).join('\n');
    expect(text).toMatch(/\[1,|,1\]|,1,/);
    expect(text).toMatch(/\b0,|,0\]/);
    expect(text).toMatch(/transposeA=true transposeB=true/);
    expect(text).toMatch(/chunk=1\b/);
    expect(cases.filter((c) => c.secondOrder).length).toBeGreaterThan(500);
  });

  for (const seed of SEEDS) {
    it(`agrees on ${CASES} cases of seed ${seed}`, async () => {
      const { failures } = await runDifferential({ seed, cases: CASES });
      const lines = failures.map(
        (f) =>
          `${f.reproduction}: ${f.failure}${f.alone ? '' : ' (only after the cases before it)'}`,
      );
      expect(lines).toEqual([]);
    });
  }
});
