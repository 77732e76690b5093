/**
 * Benchmark (not a test): ms per step of every variant on the paper's MNIST
 * MLP (784 → 128 ×5 → 10, ReLU, softmax cross-entropy, batch 128) on the cpu
 * and wasm backends, and each variant's overhead ratio
 *
 *     ms per step / (gradient evaluations per step × ms per gradient evaluation)
 *
 * (target ≤ 1.10: the algorithm adds under 10% to the gradients it must
 * compute). A bare gradient evaluation is timed right before every timed step,
 * so load drift on a shared machine hits both alike; each figure is the
 * fastest of its repetitions, and one gradient evaluation is the fastest of
 * all of them (every variant computes the same gradient). `overheadBeyondBaseStep` first subtracts what the
 * plain step costs beyond its gradient (momentum, weight decay, finiteness
 * check), which every variant pays alike. Writes
 * bench-results/step.json and prints it.
 *
 *     pnpm --filter @usam/optimizer bench    (BENCH_BACKENDS=cpu for one backend)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { createModel, parameterCount } from '@usam/models';
import {
  asam,
  detSam,
  frobSam,
  type OptimizerOptions,
  plain,
  type SharpnessAwareOptimizer,
  sam,
  ssamF,
  traceSam,
} from '../src/index';

const STEPS: Record<string, number> = { cpu: 12, wasm: 20 };
// BENCH_BACKENDS=cpu runs one backend only.
const BACKENDS = (process.env.BENCH_BACKENDS ?? 'wasm,cpu').split(',');
const BATCH = 128;

// The least-disturbed repetition: on a shared machine, load only ever adds time.
const fastest = (xs: number[]) => Math.min(...xs);

async function benchBackend(backend: string) {
  await initBackend(backend);
  const model = createModel('mlp', { seed: 1 });
  const xs = tf.randomUniform([BATCH, 784], 0, 1, 'float32', 1);
  const ys = tf.tidy(() =>
    tf.cast(tf.oneHot(tf.randomUniform([BATCH], 0, 10, 'int32', 2), 10), 'float32'),
  );
  const loss = () =>
    tf.tidy(
      () =>
        tf.losses.softmaxCrossEntropy(
          ys,
          model.apply(xs, { training: true }) as tf.Tensor,
        ) as tf.Scalar,
    );
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const gradientTimes: number[] = [];
  const timeGradient = () => {
    const start = performance.now();
    const { value, grads } = tf.variableGrads(loss, variables);
    value.dataSync();
    tf.dispose([value, grads]);
    return performance.now() - start;
  };
  for (let i = 0; i < 3; i++) timeGradient(); // warm-up: kernel setup, first allocations
  const fisherLosses = (count: number) =>
    Array.from(
      { length: count },
      (_, i) => () =>
        tf.tidy(() => {
          const x = tf.slice(xs, [i, 0], [1, 784]);
          const y = tf.slice(ys, [i, 0], [1, 10]);
          return tf.losses.softmaxCrossEntropy(y, model.apply(x) as tf.Tensor) as tf.Scalar;
        }),
    );
  const variants: [string, (o: OptimizerOptions) => SharpnessAwareOptimizer][] = [
    ['plain', (o) => plain(o)],
    ['sam', (o) => sam(o)],
    ['asam', (o) => asam(o)],
    ['ssamF', (o) => ssamF({ ...o, fisherLosses })],
    ['traceSam', (o) => traceSam(o)],
    ['traceSam (sphere)', (o) => traceSam({ ...o, mu: 'sphere' })],
    ['detSam', (o) => detSam(o)],
    ['frobSam (n=2)', (o) => frobSam(o)],
  ];
  const rows = [];
  const tensorsBefore = tf.memory().numTensors;
  for (const [name, build] of variants) {
    // lr 0 keeps every variant on the same weights; the work per step is the same.
    const opt = build({ params: model, base: tf.train.momentum(0, 0.9), weightDecay: 5e-4 });
    await opt.step(loss); // warm-up (and SSAM-F's mask)
    const times: number[] = [];
    let evaluations = 0;
    for (let i = 0; i < STEPS[backend]!; i++) {
      gradientTimes.push(timeGradient());
      const start = performance.now();
      const stats = await opt.step(loss);
      times.push(performance.now() - start);
      evaluations = stats.gradientEvaluations;
    }
    opt.dispose();
    rows.push({ variant: name, msPerStep: fastest(times), gradientEvaluations: evaluations });
    console.error(backend, name, `${fastest(times).toFixed(1)} ms`);
  }
  const gradient = fastest(gradientTimes);
  // What the base step alone (momentum, weight decay, finiteness check) costs beyond its
  // gradient, so the last column shows what the sharpness-aware algorithm itself adds.
  const base = rows[0]!.msPerStep - gradient;
  const table = rows.map((row) => ({
    variant: row.variant,
    msPerStep: Number(row.msPerStep.toFixed(1)),
    gradientEvaluations: row.gradientEvaluations,
    overhead: Number((row.msPerStep / (row.gradientEvaluations * gradient)).toFixed(3)),
    overheadBeyondBaseStep: Number(
      ((row.msPerStep - base) / (row.gradientEvaluations * gradient)).toFixed(3),
    ),
  }));
  const leaked = tf.memory().numTensors - tensorsBefore;
  const parameters = parameterCount(model);
  model.dispose();
  tf.dispose([xs, ys]);
  // tfjs's MomentumOptimizer.dispose keeps one scalar: 1 per variant here, not ours.
  return {
    backend,
    parameters,
    steps: STEPS[backend],
    msPerGradient: Number(gradient.toFixed(2)),
    leakedTensors: leaked,
    rows: table,
  };
}

const results = [];
for (const backend of BACKENDS) results.push(await benchBackend(backend));
const report = {
  benchmark: 'optimizer step, 784-128x5-10 ReLU MLP, batch 128',
  parameters: results[0]!.parameters,
  target: 'overhead ≤ 1.10 for every variant',
  date: new Date().toISOString(),
  results,
};
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench-results', 'step.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(report, null, 2));
