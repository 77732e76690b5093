/**
 * Milliseconds per SGD training step on the cpu and wasm backends, batch 128:
 * (a) a small CNN (28×28×1 → conv 3×3×8 → maxPool → conv 3×3×16 → maxPool →
 * dense 10), which needs the wasm training kernels of this package, and (b) the
 * paper's MLP (784 → 6 hidden layers of 128, ReLU → 10). Median of the timed
 * steps after warm-up. A cpu conv step takes tens of seconds (its filter gradient is
 * a scalar JS loop), so cpu gets few steps and the CNN is kept small.
 *
 * Also an A/B of this package's Conv2DBackpropInput against the wasm backend's
 * own (which it replaces), in the same process and interleaved so that load on
 * the machine hits both alike: per kernel call on typical shapes, and per wasm
 * training step of the CNN above and of a wider one (conv 3×3×16, conv 3×3×32).
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

// wasm's own Conv2DBackpropInput, kept before initBackend replaces it with ours.
await import('@tensorflow/tfjs-backend-wasm');
const ORIGINAL = tf.getKernel('Conv2DBackpropInput', 'wasm');

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

function cnn(filters = [8, 16]): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: [28, 28, 1],
        filters: filters[0]!,
        kernelSize: 3,
        activation: 'relu',
      }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.conv2d({ filters: filters[1]!, kernelSize: 3, activation: 'relu' }),
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
  cnn: { build: () => cnn(), input: [BATCH, 28, 28, 1] },
  mlp: { build: mlp, input: [BATCH, 784] },
} as const;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const round = (x: number) => Math.round(x * 100) / 100;
const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;

/** An SGD step on random data, and a way to free what it uses. */
function trainer(net: tfl.Sequential, input: readonly number[]) {
  const optimizer = tf.train.sgd(0.01);
  const xs = tf.randomUniform([...input], 0, 1, 'float32', 1);
  const ys = tf.oneHot(tf.randomUniform([BATCH], 0, 10, 'int32', 2) as tf.Tensor1D, 10);
  const step = (): number => {
    const start = performance.now();
    const loss = optimizer.minimize(
      () => tf.losses.softmaxCrossEntropy(ys, net.apply(xs) as tf.Tensor),
      true,
    );
    loss!.dataSync(); // cpu and wasm are synchronous, but be sure the step is done
    loss!.dispose();
    return performance.now() - start;
  };
  const dispose = () => {
    net.dispose();
    optimizer.dispose();
    tf.dispose([xs, ys]);
  };
  return { step, dispose };
}

async function time(modelName: keyof typeof MODELS, backend: string): Promise<Timing> {
  await tf.setBackend(backend);
  const { build, input } = MODELS[modelName];
  const plan = PLANS[modelName]![backend]!;
  const { step, dispose } = trainer(build(), input);
  for (let i = 0; i < plan.warmup; i++) step();
  const samplesMs = Array.from({ length: plan.timed }, step);
  dispose();
  return { msPerStep: round(median(samplesMs)), samplesMs: samplesMs.map(round) };
}

// --- Conv2DBackpropInput: wasm's own against ours ---------------------------

type Variant = 'original' | 'ours';

/** Makes `variant` the registered wasm Conv2DBackpropInput. */
function use(variant: Variant, ours: tf.KernelConfig): void {
  const config = variant === 'ours' ? ours : ORIGINAL!;
  tf.unregisterKernel(config.kernelName, 'wasm');
  tf.registerKernel(config);
  // The engine sets up kernels only when the backend starts; wasm's needs its setup to run.
  config.setupFunc?.(tf.backend());
}

/**
 * Runs `sample` for both variants, alternating which goes first in each of
 * `rounds` rounds, so that slow spells on the machine hit both alike.
 */
function interleaved(rounds: number, sample: (variant: Variant) => number) {
  const samples: Record<Variant, number[]> = { original: [], ours: [] };
  for (let r = 0; r < rounds; r++) {
    const order: Variant[] = r % 2 === 0 ? ['original', 'ours'] : ['ours', 'original'];
    for (const variant of order) samples[variant].push(sample(variant));
  }
  const originalMs = round(median(samples.original));
  const oursMs = round(median(samples.ours));
  return { originalMs, oursMs, speedup: ratio(originalMs, oursMs) };
}

/** One kernel call per sample: dx of a 3×3 'same' convolution of [batch,size,size,cin] to cout. */
function kernelAB(ours: tf.KernelConfig) {
  const backend = tf.backend();
  const rows: Record<string, unknown>[] = [];
  for (const batch of [32, 128]) {
    for (const [size, cin, cout] of [
      [28, 1, 16],
      [32, 16, 32],
      [16, 16, 32],
      [16, 64, 64],
    ] as const) {
      for (const stride of [1, 2]) {
        const inputShape = [batch, size, size, cin] as [number, number, number, number];
        const filterShape = [3, 3, cin, cout] as [number, number, number, number];
        const info = tf.backend_util.computeConv2DInfo(inputShape, filterShape, stride, 1, 'same');
        const dy = tf.randomNormal(info.outShape, 0, 1, 'float32', 3);
        const filter = tf.randomNormal(filterShape, 0, 1, 'float32', 4);
        const attrs = { strides: stride, pad: 'same', dataFormat: 'NHWC', inputShape };
        const call = (variant: Variant): number => {
          const config = variant === 'ours' ? ours : ORIGINAL!;
          const start = performance.now();
          const out = config.kernelFunc({
            inputs: { dy, filter },
            backend,
            attrs: attrs as unknown as tf.NamedAttrMap,
          }) as tf.TensorInfo;
          const ms = performance.now() - start;
          backend.disposeData(out.dataId);
          return ms;
        };
        call('original');
        call('ours');
        const result = interleaved(5, call);
        tf.dispose([dy, filter]);
        const row = { batch, size, inChannels: cin, outChannels: cout, stride, ...result };
        process.stderr.write(`Conv2DBackpropInput ${JSON.stringify(row)}\n`);
        rows.push(row);
      }
    }
  }
  return rows;
}

/** ms per wasm training step with each Conv2DBackpropInput, steps interleaved in blocks of 3. */
function stepAB(filters: number[], ours: tf.KernelConfig) {
  const { step, dispose } = trainer(cnn(filters), [BATCH, 28, 28, 1]);
  const samples: Record<Variant, number[]> = { original: [], ours: [] };
  for (const variant of ['original', 'ours'] as const) {
    use(variant, ours);
    step();
    step();
  }
  const result = interleaved(6, (variant) => {
    use(variant, ours);
    const block = [step(), step(), step()];
    samples[variant].push(...block);
    return median(block);
  });
  use('ours', ours);
  dispose();
  const timing = (variant: Variant): Timing => ({
    msPerStep: round(median(samples[variant])),
    samplesMs: samples[variant].map(round),
  });
  return {
    filters,
    original: timing('original'),
    ours: timing('ours'),
    speedup: ratio(median(samples.original), median(samples.ours)),
    blockMediansMs: { original: result.originalMs, ours: result.oursMs },
  };
}

async function conv2DBackpropInputAB() {
  await tf.setBackend('wasm');
  const ours = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (ORIGINAL === undefined || ours === undefined || ours.kernelFunc === ORIGINAL.kernelFunc) {
    throw new Error('expected wasm to have its own Conv2DBackpropInput, replaced by ours');
  }
  const steps: Record<string, unknown> = {};
  for (const [name, filters] of [
    ['cnn', [8, 16]],
    ['cnnWide', [16, 32]],
  ] as const) {
    const ab = stepAB([...filters], ours);
    process.stderr.write(
      `${name} wasm step: original ${ab.original.msPerStep} ms, ours ${ab.ours.msPerStep} ms\n`,
    );
    steps[name] = ab;
  }
  return {
    description:
      "wasm Conv2DBackpropInput: tfjs-backend-wasm's own (a C++ loop) against this package's (XNNPACK convolutions), same process, interleaved; median ms. kernels: dx of a 3x3 'same' conv per call; steps: ms per SGD step, batch 128, of cnn and of cnnWide (conv3x3x16-maxpool-conv3x3x32-maxpool-dense10).",
    steps,
    kernels: kernelAB(ours),
  };
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
  results.conv2DBackpropInput = await conv2DBackpropInputAB();
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
