/**
 * Benchmark (not a test): ms per SGD training step (softmax cross-entropy on
 * the logits, forward in training mode, batch 128, random data) of the models
 * `createModel` builds, on the wasm and cpu backends. Median of the timed
 * steps after warm-up.
 *
 * Each case runs in its own child process: a wasm step that runs out of the
 * wasm heap (4 GiB) aborts its process, and a fresh heap per case keeps one
 * case's memory growth from weighing on the next.
 *
 * cpu convolutions are slow (tfjs-backend-cpu's filter gradient is a scalar JS
 * loop), so a conv net on cpu is first probed at a small batch; the step at
 * batch 128 is extrapolated linearly and measured only when under
 * CPU_LIMIT_MS, otherwise the case is recorded as skipped with the estimate.
 *
 * Run: `pnpm bench` in packages/models. Writes bench-results/train-step.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import {
  createModel,
  forward,
  type ModelName,
  parameterCount,
  trainableVariables,
} from '../src/index';

const BATCH = 128;
const CPU_LIMIT_MS = 30_000;

interface Case {
  readonly model: ModelName;
  readonly inputShape: number[];
  readonly width: number;
  readonly backend: 'wasm' | 'cpu';
  readonly batch: number;
  readonly warmup: number;
  readonly timed: number;
  /** Split the batch into this many micro-batches whose gradients are summed (memory). */
  readonly microBatches?: number;
}

interface Timing {
  readonly msPerStep: number;
  readonly samplesMs: number[];
  readonly parameters: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number) => Math.round(x * 10) / 10;

/** Runs one case in this process and prints its timing as JSON. */
async function runCase(c: Case): Promise<void> {
  await initBackend(c.backend);
  const model = createModel(c.model, { inputShape: c.inputShape, width: c.width, seed: 1 });
  const variables = trainableVariables(model);
  const parts = c.microBatches ?? 1;
  const size = c.batch / parts;
  const xs = Array.from({ length: parts }, (_, i) =>
    tf.randomUniform([size, ...c.inputShape], 0, 1, 'float32', 10 + i),
  );
  const ys = xs.map((_, i) =>
    tf.oneHot(tf.randomUniform([size], 0, 10, 'int32', 20 + i) as tf.Tensor1D, 10),
  );
  const optimizer = tf.train.sgd(0.01);
  const loss = (i: number) => () =>
    tf.losses.softmaxCrossEntropy(ys[i]!, forward(model, xs[i]!, { training: true })) as tf.Scalar;
  const step = (): number => {
    const start = performance.now();
    if (parts === 1) {
      const value = optimizer.minimize(loss(0), true, variables)!;
      value.dataSync(); // cpu and wasm are synchronous, but be sure the step is done
      value.dispose();
    } else {
      // Mean of the micro-batch means = the batch mean (equal sizes); BatchNorm
      // statistics are per micro-batch.
      let sum: tf.NamedTensorMap | undefined;
      for (let i = 0; i < parts; i++) {
        const { value, grads } = tf.variableGrads(loss(i), variables);
        value.dispose();
        if (sum === undefined) {
          sum = grads;
        } else {
          const previous: tf.NamedTensorMap = sum;
          sum = Object.fromEntries(
            Object.entries(grads).map(([name, g]) => [name, tf.add(previous[name]!, g)]),
          );
          tf.dispose([Object.values(previous), Object.values(grads)]);
        }
      }
      const mean = Object.fromEntries(
        Object.entries(sum!).map(([name, g]) => [name, tf.div(g, parts)]),
      );
      tf.dispose(Object.values(sum!));
      optimizer.applyGradients(mean);
      tf.dispose(Object.values(mean));
      variables[0]!.dataSync();
    }
    return performance.now() - start;
  };
  for (let i = 0; i < c.warmup; i++) step();
  const samplesMs = Array.from({ length: c.timed }, step);
  const timing: Timing = {
    msPerStep: round(median(samplesMs)),
    samplesMs: samplesMs.map(round),
    parameters: parameterCount(model),
  };
  process.stdout.write(`\n${JSON.stringify(timing)}\n`);
}

/** Runs a case in a child process: its timing, or why it failed. */
function spawnCase(c: Case): Timing | { error: string } {
  const script = fileURLToPath(import.meta.url);
  const child = spawnSync(
    process.execPath,
    [...process.execArgv, script, '--case', JSON.stringify(c)],
    { encoding: 'utf8', maxBuffer: 1 << 28 },
  );
  const last = child.stdout.trim().split('\n').at(-1) ?? '';
  if (child.status === 0 && last.startsWith('{')) return JSON.parse(last) as Timing;
  const text = `${child.stderr}\n${child.stdout}`;
  // The wasm module prints its whole source on an abort; keep the error line.
  const reason =
    /Aborted\(\)|RuntimeError: [^\n]{0,200}|Error: [^\n]{0,200}/.exec(text)?.[0] ??
    `exit ${child.status ?? child.signal}`;
  return {
    error: reason.startsWith('Aborted')
      ? 'wasm aborted (out of its 4 GiB memory: the step needs more for activations)'
      : reason,
  };
}

function log(label: string, result: unknown): void {
  process.stderr.write(`${label}: ${JSON.stringify(result)}\n`);
}

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0]!;
  const mnist = [784];
  const mnistImage = [28, 28, 1];
  const cifar = [32, 32, 3];
  const results: Record<string, Record<string, unknown>> = {};
  const record = (key: string, backend: string, value: unknown) => {
    results[key] ??= {};
    results[key][backend] = value;
    log(`${key} ${backend}`, value);
  };
  const base = { batch: BATCH, width: 1 };

  // mlp and cnn on wasm and cpu.
  record(
    'mlp',
    'wasm',
    spawnCase({ ...base, model: 'mlp', inputShape: mnist, backend: 'wasm', warmup: 5, timed: 20 }),
  );
  record(
    'mlp',
    'cpu',
    spawnCase({ ...base, model: 'mlp', inputShape: mnist, backend: 'cpu', warmup: 2, timed: 8 }),
  );
  for (const [key, inputShape] of [
    ['cnn-mnist', mnistImage],
    ['cnn-cifar', cifar],
  ] as const) {
    const shape = [...inputShape];
    record(
      key,
      'wasm',
      spawnCase({
        ...base,
        model: 'cnn',
        inputShape: shape,
        backend: 'wasm',
        warmup: 3,
        timed: 10,
      }),
    );
    record(
      key,
      'cpu',
      cpuConv({ ...base, model: 'cnn', inputShape: shape, backend: 'cpu', warmup: 1, timed: 2 }, 8),
    );
  }

  // resnet18 at width 0.25 and 1.
  record(
    'resnet18-w0.25',
    'wasm',
    spawnCase({
      model: 'resnet18',
      inputShape: cifar,
      width: 0.25,
      backend: 'wasm',
      batch: BATCH,
      warmup: 1,
      timed: 3,
    }),
  );
  record(
    'resnet18-w0.25',
    'cpu',
    cpuConv(
      {
        model: 'resnet18',
        inputShape: cifar,
        width: 0.25,
        backend: 'cpu',
        batch: BATCH,
        warmup: 1,
        timed: 1,
      },
      1,
    ),
  );
  const w1 = {
    model: 'resnet18',
    inputShape: cifar,
    width: 1,
    backend: 'wasm',
    batch: BATCH,
  } as const;
  const full = spawnCase({ ...w1, warmup: 0, timed: 1 });
  record('resnet18-w1', 'wasm', full);
  if ('error' in full) {
    // Two micro-batches of 64: the same gradient (up to BatchNorm's per-micro-batch statistics).
    record('resnet18-w1', 'wasm-2x64', spawnCase({ ...w1, warmup: 1, timed: 2, microBatches: 2 }));
  }
  record('resnet18-w1', 'cpu', {
    skipped:
      'about 16× the convolution work of width 0.25, itself skipped on cpu (see resnet18-w0.25.cpu)',
  });

  const report = {
    benchmark: 'train-step',
    description:
      'ms per SGD step (softmax cross-entropy on logits, forward in training mode), batch 128, random data, median after warm-up; each case in a fresh process. mlp: 784 → 128 ×5 → 10. cnn-mnist: cnn on 28×28×1; cnn-cifar: cnn on 32×32×3; resnet18-w*: CIFAR ResNet-18 on 32×32×3 at that width.',
    batch: BATCH,
    date: new Date().toISOString(),
    node: process.version,
    cpuCores: cpus().length,
    // Other work on the machine slows every case; a load above the core count means noise.
    loadAverage1m: {
      start: Math.round(loadAtStart * 100) / 100,
      end: Math.round(loadavg()[0]! * 100) / 100,
    },
    tfjs: tf.version_core,
    ...results,
  };
  const json = JSON.stringify(report, null, 2);
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train-step.json'), `${json}\n`);
  process.stdout.write(`${json}\n`);
}

/**
 * A cpu conv case: probes one step at `probeBatch`, extrapolates to the full
 * batch, and measures only when the estimate is under CPU_LIMIT_MS.
 */
function cpuConv(c: Case, probeBatch: number) {
  const probe = spawnCase({ ...c, batch: probeBatch, warmup: 0, timed: 1 });
  if ('error' in probe) return probe;
  const estimateMs = Math.round((probe.msPerStep * c.batch) / probeBatch);
  if (estimateMs > CPU_LIMIT_MS) {
    return {
      skipped: `estimated ${Math.round(estimateMs / 1000)} s per step (> ${CPU_LIMIT_MS / 1000} s), from one step at batch ${probeBatch} scaled linearly`,
      probe: { batch: probeBatch, msPerStep: probe.msPerStep },
      estimatedMsPerStep: estimateMs,
    };
  }
  return spawnCase(c);
}

const caseArg = process.argv.indexOf('--case');
if (caseArg >= 0) await runCase(JSON.parse(process.argv[caseArg + 1]!) as Case);
else await main();
