/**
 * Milliseconds per SGD training step on the cpu and wasm backends, batch 128:
 * (a) a small CNN (28×28×1 → conv 3×3×8 → maxPool → conv 3×3×16 → maxPool →
 * dense 10), which needs the wasm training kernels of this package, and (b) the
 * paper's MLP (784 → 6 hidden layers of 128, ReLU → 10). Median of the timed
 * steps after warm-up. A cpu conv step takes tens of seconds (its filter gradient is
 * a scalar JS loop), so cpu gets few steps and the CNN is kept small.
 *
 * Run: `pnpm bench` in packages/backend. Writes bench-results/train-step.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../src/node';

const BATCH = 128;

interface Plan {
  readonly warmup: number;
  readonly timed: number;
}

interface Timing {
  readonly msPerStep: number;
  readonly samplesMs: number[];
}

const PLANS: Record<string, Record<string, Plan>> = {
  cnn: { cpu: { warmup: 1, timed: 2 }, wasm: { warmup: 3, timed: 15 } },
  mlp: { cpu: { warmup: 2, timed: 8 }, wasm: { warmup: 5, timed: 30 } },
};

function cnn(): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: [28, 28, 1],
        filters: 8,
        kernelSize: 3,
        activation: 'relu',
      }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu' }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 10 }),
    ],
  });
}

function mlp(): tfl.Sequential {
  const hidden = Array.from({ length: 6 }, (_, i) =>
    tfl.layers.dense({
      units: 128,
      activation: 'relu',
      ...(i === 0 ? { inputShape: [784] } : {}),
    }),
  );
  return tfl.sequential({ layers: [...hidden, tfl.layers.dense({ units: 10 })] });
}

const MODELS = {
  cnn: { build: cnn, input: [BATCH, 28, 28, 1] },
  mlp: { build: mlp, input: [BATCH, 784] },
} as const;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function time(modelName: keyof typeof MODELS, backend: string): Promise<Timing> {
  await tf.setBackend(backend);
  const { build, input } = MODELS[modelName];
  const plan = PLANS[modelName]![backend]!;
  const net = build();
  const optimizer = tf.train.sgd(0.01);
  const xs = tf.randomUniform([...input], 0, 1, 'float32', 1);
  const ys = tf.oneHot(tf.randomUniform([BATCH], 0, 10, 'int32', 2) as tf.Tensor1D, 10);
  const step = () => {
    const loss = optimizer.minimize(
      () => tf.losses.softmaxCrossEntropy(ys, net.apply(xs) as tf.Tensor),
      true,
    );
    loss!.dataSync(); // cpu and wasm are synchronous, but be sure the step is done
    loss!.dispose();
  };
  for (let i = 0; i < plan.warmup; i++) step();
  const samplesMs: number[] = [];
  for (let i = 0; i < plan.timed; i++) {
    const start = performance.now();
    step();
    samplesMs.push(performance.now() - start);
  }
  net.dispose();
  optimizer.dispose();
  tf.dispose([xs, ys]);
  const round = (x: number) => Math.round(x * 100) / 100;
  return { msPerStep: round(median(samplesMs)), samplesMs: samplesMs.map(round) };
}

async function main(): Promise<void> {
  await initBackend('wasm'); // registers gradients and the wasm training kernels
  await initBackend('cpu');
  const results: Record<string, unknown> = {};
  for (const modelName of Object.keys(MODELS) as (keyof typeof MODELS)[]) {
    const wasm = await time(modelName, 'wasm');
    process.stderr.write(`${modelName} wasm: ${wasm.msPerStep} ms/step\n`);
    const cpu = await time(modelName, 'cpu');
    process.stderr.write(`${modelName} cpu: ${cpu.msPerStep} ms/step\n`);
    results[modelName] = {
      cpu,
      wasm,
      wasmSpeedup: Math.round((cpu.msPerStep / wasm.msPerStep) * 10) / 10,
    };
  }
  const report = {
    benchmark: 'train-step',
    description:
      'ms per SGD step (median after warm-up), batch 128. cnn: 28x28x1 conv3x3x8-maxpool-conv3x3x16-maxpool-dense10; mlp: 784-6x128 relu-10.',
    batch: BATCH,
    date: new Date().toISOString(),
    node: process.version,
    cpuCores: cpus().length,
    // Other work on the machine slows both backends; a load above the core count means noise.
    loadAverage1m: Math.round(loadavg()[0]! * 100) / 100,
    tfjs: tf.version_core,
    ...results,
  };
  const json = JSON.stringify(report, null, 2);
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train-step.json'), `${json}\n`);
  process.stdout.write(`${json}\n`);
}

await main();
