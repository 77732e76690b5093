/**
 * Benchmark (not a test): Hutchinson trace and Frobenius probes per second on
 * the paper's 6×128 MNIST MLP (784 → 128 ×6 ReLU → 10, softmax cross-entropy)
 * over 1280 examples in batches of 128 (the paper's Hessian subset; seeded
 * random inputs), on wasm (BENCH_BACKENDS=cpu,wasm for both).
 *
 * Variants, timed interleaved (A, B, C, A, B, C, … per round; the figures are
 * medians of per-round ratios, robust to this shared machine's drift):
 * - `exact`: this package's default (exact HVP, twice-differentiable loss).
 * - `central`: central differences (what main defaulted to; wrong on ReLU nets).
 * - `main-exact` / `main-central`: the same through main's estimators, when
 *   their sources are in bench-results/main-src/ (see README, "Bench").
 * Writes bench-results/probes.json and prints it.
 *
 *     pnpm --filter @usam/estimators bench
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import * as current from '../src/index';
import { paperMlp } from './mlp';

type Estimators = Pick<typeof current, 'createHvp' | 'hutchinsonTrace' | 'frobeniusNormSquared'>;

const here = dirname(fileURLToPath(import.meta.url));
const mainSrc = join(here, '..', 'bench-results', 'main-src', 'index.ts');
const main: Estimators | undefined = existsSync(mainSrc) ? await import(mainSrc) : undefined;

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PROBES = Number(process.env.BENCH_PROBES ?? 4);
const backends = (process.env.BENCH_BACKENDS ?? 'wasm').split(',');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number) => Number(x.toPrecision(4));

async function benchBackend(backend: string) {
  await initBackend(backend);
  const tensorsBefore = tf.memory().numTensors;
  const model = paperMlp({ batch: 1280, batches: 10 });
  type Variant = [name: string, lib: Estimators, method: 'exact' | 'central'];
  const variants: Variant[] = [
    ['exact', current, 'exact'],
    ['central', current, 'central'],
  ];
  if (main) variants.push(['main-exact', main, 'exact'], ['main-central', main, 'central']);
  const operators = variants.map(([, lib, method]) =>
    lib.createHvp({
      variables: model.variables,
      loss: method === 'exact' ? model.lossTwice : model.loss,
      data: model.data,
      method,
    }),
  );
  // Warm-up (kernel compilation, first allocations), not timed.
  const ones = tf.ones([model.dimension]) as tf.Tensor1D;
  for (const H of operators) (await H.apply(ones)).dispose();
  ones.dispose();

  const rates: Record<string, { trace: number[]; frobenius: number[] }> = {};
  for (const [name] of variants) rates[name] = { trace: [], frobenius: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, [name, lib]] of variants.entries()) {
      let start = performance.now();
      await lib.hutchinsonTrace(operators[i]!, { probes: PROBES, seed: r });
      rates[name]!.trace.push(PROBES / ((performance.now() - start) / 1000));
      start = performance.now();
      await lib.frobeniusNormSquared(operators[i]!, { probes: PROBES, seed: r });
      rates[name]!.frobenius.push(PROBES / ((performance.now() - start) / 1000));
    }
  }
  model.dispose();
  const summary: Record<string, unknown> = {};
  for (const [name] of variants) {
    const { trace, frobenius } = rates[name]!;
    const ratio = (to: string, key: 'trace' | 'frobenius') =>
      round(median(rates[name]![key].map((x, k) => x / rates[to]![key][k]!)));
    summary[name] = {
      traceProbesPerSecond: round(median(trace)),
      frobeniusProbesPerSecond: round(median(frobenius)),
      ...(main && {
        traceRatioToMainCentral: ratio('main-central', 'trace'),
        frobeniusRatioToMainCentral: ratio('main-central', 'frobenius'),
        traceRatioToMainExact: ratio('main-exact', 'trace'),
        frobeniusRatioToMainExact: ratio('main-exact', 'frobenius'),
      }),
    };
  }
  return {
    parameters: model.dimension,
    rounds: ROUNDS,
    probesPerTiming: PROBES,
    variants: summary,
    tensorsLeft: tf.memory().numTensors - tensorsBefore,
  };
}

const results: Record<string, unknown> = {
  model:
    'MLP 784 → 128 ×6 ReLU → 10, softmax cross-entropy, 1280 seeded random examples in 10 batches of 128',
  mainBaseline: main !== undefined,
  node: process.version,
  backends: {} as Record<string, unknown>,
};
const started = performance.now();
for (const backend of backends) {
  (results.backends as Record<string, unknown>)[backend] = await benchBackend(backend);
}
results.totalSeconds = Number(((performance.now() - started) / 1000).toFixed(1));

const out = join(here, '..', 'bench-results', 'probes.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
