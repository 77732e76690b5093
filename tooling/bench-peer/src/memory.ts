/**
 * `pnpm --filter @usam/bench-peer bench:memory`: the memory of a ResNet-18
 * (width 1, 32×32×3) SGD step on wasm, with and without @usam/backend's lean
 * backward pass and shared clones (issue 16). The wasm heap only grows, so each batch size
 * and variant runs in a fresh process: its heap after warm-up and 2 steps is
 * the step's high-water mark. Also reports tf.profile's peakBytes (the bytes of
 * the tensors tfjs tracks; saved clones count again even where they share
 * memory). Then times `after` against `before` at batch 32 in one process,
 * interleaved rounds.
 *
 *     pnpm --filter @usam/bench-peer bench:memory      (after the build, as bench:peer)
 *     MEMORY_BATCHES=32,64 MEMORY_VARIANTS=before,after MEMORY_ROUNDS=0 …
 *
 * Writes tooling/bench-peer/bench-results/memory.json and prints a table.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { createModel } from '@usam/models';
import { plain } from '@usam/optimizer';
import { batch, trainingLoss } from './training';

const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * `after`: @usam/backend as `initBackend` sets it up (lean backward pass, wasm
 * clones and same-dtype casts sharing their buffer); `before`: tfjs's own
 * backward pass, Identity and Cast;
 * `lean-only` and `share-only`: one of the two changes.
 */
const VARIANTS = ['before', 'lean-only', 'share-only', 'after'] as const;
type Variant = (typeof VARIANTS)[number];

// tfjs's own Identity and Cast on wasm (both copy), captured before initBackend wraps them.
await import('@tensorflow/tfjs-backend-wasm');
const SHARING = ['Identity', 'Cast'];
const captureSharing = () => SHARING.map((name) => tf.getKernel(name, 'wasm')!);
const tfjsKernels = captureSharing();
const engine = tf.engine() as unknown as { gradients: unknown };

interface Ours {
  gradients: unknown;
  kernels: tf.KernelConfig[];
}

function use(variant: Variant, ours: Ours): void {
  const lean = variant === 'after' || variant === 'lean-only';
  const share = variant === 'after' || variant === 'share-only';
  if (lean) engine.gradients = ours.gradients;
  else delete engine.gradients; // tfjs's own is the prototype's method
  for (const kernel of share ? ours.kernels : tfjsKernels) {
    tf.unregisterKernel(kernel.kernelName, 'wasm');
    tf.registerKernel(kernel);
  }
}

async function setUp(n: number) {
  await initBackend('wasm');
  const ours: Ours = { gradients: engine.gradients, kernels: captureSharing() };
  const model = createModel('resnet18', { seed: 1 });
  const { xs, ys } = batch([32, 32, 3], n);
  const opt = plain({ params: model, base: tf.train.sgd(0.01) });
  const loss = trainingLoss(model, xs, ys);
  const step = async () => {
    await opt.step(loss);
  };
  return { ours, step };
}

const heapMiB = () => {
  const wasm = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm;
  return Math.round(wasm.HEAPU8.buffer.byteLength / 2 ** 20);
};

/** One batch size and variant, in this (fresh) process. */
async function child(n: number, variant: Variant) {
  const { ours, step } = await setUp(n);
  use(variant, ours);
  const tensors = tf.memory().numTensors;
  await step(); // warm-up
  const { peakBytes } = await tf.profile(step);
  await step();
  const leaked = tf.memory().numTensors - tensors;
  return {
    batch: n,
    variant,
    peakTensorMiB: Math.round(peakBytes / 2 ** 20),
    heapMiB: heapMiB(),
    leaked,
  };
}

/** `after` and `before` at batch `n`, interleaved; median of per-round time ratios. */
async function timing(n: number, rounds: number) {
  const { ours, step } = await setUp(n);
  const ms: Record<'after' | 'before', number[]> = { after: [], before: [] };
  await step();
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? (['after', 'before'] as const) : (['before', 'after'] as const);
    for (const variant of order) {
      use(variant, ours);
      const start = performance.now();
      await step();
      ms[variant].push(performance.now() - start);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  return {
    batch: n,
    rounds,
    afterMs: Math.round(median(ms.after)),
    beforeMs: Math.round(median(ms.before)),
    ratio: Number(median(ms.after.map((x, i) => x / ms.before[i]!)).toFixed(3)),
  };
}

const [mode, batchArg, variantArg] = process.argv.slice(2);
if (mode === 'child' || mode === 'timing') {
  const result =
    mode === 'child'
      ? await child(Number(batchArg), variantArg as Variant)
      : await timing(Number(batchArg), Number(variantArg));
  console.log(JSON.stringify(result));
} else {
  const batches = (process.env.MEMORY_BATCHES ?? '32,64,128').split(',').map(Number);
  const rounds = Number(process.env.MEMORY_ROUNDS ?? 5);
  const run = (...args: string[]) => {
    const out = spawnSync(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), ...args],
      {
        encoding: 'utf8',
      },
    );
    const last = out.stdout.trim().split('\n').at(-1);
    if (out.status === 0 && last) return JSON.parse(last) as Record<string, unknown>;
    const reason = `${out.stderr}`.split('\n').find((l) => /Aborted\(|RangeError|Error:/.test(l));
    return { args, error: (reason ?? `exit ${out.status}`).trim().slice(0, 200) };
  };
  const memory = batches.flatMap((n) =>
    (process.env.MEMORY_VARIANTS?.split(',') ?? VARIANTS).map((variant) => {
      const row = run('child', String(n), variant);
      console.error(JSON.stringify(row));
      return row;
    }),
  );
  const time = rounds > 0 ? run('timing', '32', String(rounds)) : null;
  console.error(JSON.stringify(time));
  const report = {
    benchmark:
      'ResNet-18 w1 SGD step on wasm: peak memory with and without the lean backward pass and shared clones',
    date: new Date().toISOString(),
    memory,
    time,
  };
  const out = join(HERE, '..', 'bench-results', 'memory.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log('| batch | variant | peak tensors MiB (tf.profile) | wasm heap MiB |');
  console.log('|---|---|---|---|');
  for (const row of memory) {
    console.log(
      'error' in row
        ? `| ${row.args} | – | failed: ${row.error} | – |`
        : `| ${row.batch} | ${row.variant} | ${row.peakTensorMiB} | ${row.heapMiB} |`,
    );
  }
  if (time && !('error' in time)) {
    console.log(
      `\nbatch 32 step: after ${time.afterMs} ms, before ${time.beforeMs} ms, after/before ${time.ratio}`,
    );
  }
}
