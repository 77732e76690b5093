/**
 * Benchmark (not a test): ms per step of every variant on the paper's MNIST
 * MLP (784 → 128 ×5 → 10, ReLU, softmax cross-entropy, batch 128) on the cpu
 * and wasm backends, and each variant's overhead ratio
 *
 *     ms per step / (gradient evaluations per step × ms per gradient evaluation)
 *
 * (target ≤ 1.10: the algorithm adds under 10% to the gradients it must
 * compute). The variants take turns, one step each per round, and a bare
 * gradient evaluation is timed right before every timed step,
 * and the ratio is the median over steps of step / (evaluations × that
 * gradient): this machine's speed drifts by ±30% over minutes (a shared host),
 * a step and its neighbouring gradient drift together. ms figures are the
 * fastest repetition. `overheadBeyondBaseStep` first subtracts what the
 * plain step costs beyond its gradient (momentum, weight decay, finiteness
 * check), which every variant pays alike. `cpuTimeOverhead` is the same ratio
 * in this process's CPU time, which other processes' load on a shared host
 * does not inflate (tfjs wasm runs single-threaded under Node). Writes
 * bench-results/step.json and prints it.
 *
 *     pnpm --filter @usam/optimizer bench    (BENCH_BACKENDS=cpu for one backend, BENCH_STEPS=n,
 *                                             BENCH_LIST_KERNELS=both for an interleaved before/after)
 *
 * (leakedTensors must be 0: every optimizer is disposed.)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { type BackendName, initBackend } from '@usam/backend';
import { parameterCount } from '@usam/models';
import { listKernelSwitch, mlpProblem } from './mlp';

// BENCH_LIST_KERNELS=both also runs every variant without the list kernels (tfjs's ops, the
// code before them), interleaved: an in-process before/after. 'off' runs only without.
const LIST_KERNELS = process.env.BENCH_LIST_KERNELS ?? 'on';
// BENCH_STEPS=60 takes more pairs on a noisy host.
const steps = Number(process.env.BENCH_STEPS) || undefined;
const STEPS: Record<string, number> = { cpu: steps ?? 12, wasm: steps ?? 20 };
// BENCH_BACKENDS=cpu runs one backend only.
const BACKENDS = (process.env.BENCH_BACKENDS ?? 'wasm,cpu').split(',');

/** CPU time of this process in ms (user + system): not inflated by other processes' load. */
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
let lastCpu = 0;

// The least-disturbed repetition: on a shared machine, load only ever adds time.
const fastest = (xs: number[]) => Math.min(...xs);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function benchBackend(backend: string) {
  await initBackend(backend as BackendName);
  const { model, variables, loss, variants, dispose } = mlpProblem();
  const timeGradient = () => {
    const cpu = cpuMs();
    const start = performance.now();
    const { value, grads } = tf.variableGrads(loss, variables);
    value.dataSync();
    tf.dispose([value, grads]);
    const wall = performance.now() - start;
    lastCpu = cpuMs() - cpu;
    return wall;
  };
  for (let i = 0; i < 10; i++) timeGradient(); // warm-up: kernel setup, JIT, wasm heap growth
  interface Row {
    variant: string;
    steps: number[];
    gradients: number[];
    /** The same in CPU time of this process (what other processes on the host cannot inflate). */
    stepsCpu: number[];
    gradientsCpu: number[];
    evaluations: number;
  }
  const rows: Row[] = [];
  const tensorsBefore = tf.memory().numTensors;
  const kernels = listKernelSwitch();
  const modes = !kernels.available
    ? [true]
    : LIST_KERNELS === 'both'
      ? [true, false]
      : [LIST_KERNELS !== 'off'];
  const runs = modes.flatMap((on) => variants.map(([name, build]) => ({ name, build, on })));
  // lr 0 keeps every variant on the same weights; the work per step is the same.
  const optimizers = runs.map(({ build }) =>
    build({ params: model, base: tf.train.momentum(0, 0.9), weightDecay: 5e-4 }),
  );
  for (const [k, opt] of optimizers.entries()) {
    kernels.use(runs[k]!.on);
    await opt.step(loss); // warm-up (and SSAM-F's mask)
  }
  for (const { name, on } of runs)
    rows.push({
      variant: on || !kernels.available ? name : `${name} (tfjs ops)`,
      steps: [],
      gradients: [],
      stepsCpu: [],
      gradientsCpu: [],
      evaluations: 0,
    });
  // Round robin over the variants, so that a burst of load on the shared host falls on all of
  // them alike instead of on whichever was running.
  for (let i = 0; i < STEPS[backend]!; i++) {
    for (const [k, opt] of optimizers.entries()) {
      const row = rows[k]!;
      row.gradients.push(timeGradient());
      row.gradientsCpu.push(lastCpu);
      kernels.use(runs[k]!.on);
      const cpu = cpuMs();
      const start = performance.now();
      const stats = await opt.step(loss);
      row.steps.push(performance.now() - start);
      row.stepsCpu.push(cpuMs() - cpu);
      row.evaluations = stats.gradientEvaluations;
    }
  }
  kernels.use(true);
  for (const [k, opt] of optimizers.entries()) {
    opt.dispose();
    console.error(backend, rows[k]!.variant, `${fastest(rows[k]!.steps).toFixed(1)} ms`);
  }
  // Each step is divided by the gradient timed just before it, and the median of those
  // ratios kept: the machine's speed drifts (shared hosts), a pair of neighbours does not.
  const ratios = (row: Row, minus = 0, steps = row.steps, gradients = row.gradients) =>
    median(steps.map((ms, i) => (ms - minus * gradients[i]!) / (row.evaluations * gradients[i]!)));
  const cpuRatios = (row: Row) => ratios(row, 0, row.stepsCpu, row.gradientsCpu);
  // What the base step alone (momentum, weight decay, finiteness check) costs beyond its
  // gradient, in gradients, so the last column shows what the sharpness-aware algorithm adds.
  // (the plain step of the same mode: with or without the list kernels).
  const baseStep = (k: number) =>
    ratios(rows[runs.findIndex((r) => r.name === runs[0]!.name && r.on === runs[k]!.on)]!) - 1;
  const table = rows.map((row, k) => ({
    variant: row.variant,
    msPerStep: Number(fastest(row.steps).toFixed(1)),
    msPerGradient: Number(fastest(row.gradients).toFixed(1)),
    gradientEvaluations: row.evaluations,
    overhead: Number(ratios(row).toFixed(3)),
    overheadBeyondBaseStep: Number(ratios(row, baseStep(k)).toFixed(3)),
    cpuTimeOverhead: Number(cpuRatios(row).toFixed(3)),
  }));
  const leaked = tf.memory().numTensors - tensorsBefore;
  const parameters = parameterCount(model);
  dispose();
  return {
    backend,
    parameters,
    steps: STEPS[backend],
    listKernels: kernels.available ? LIST_KERNELS : 'none on this backend',
    load: loadavg(),
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
