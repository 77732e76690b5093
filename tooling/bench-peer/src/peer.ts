/**
 * `pnpm bench:peer`: usam on the wasm backend against PyTorch on the CPU, the
 * same workloads side by side (issue 16's table). PyTorch runs in a worker
 * process (peer.py) that stays warm; every round times PyTorch and usam back to
 * back, alternating which goes first, and the table gives medians of the
 * per-round ratios usam / PyTorch: on a shared machine load hits neighbours
 * alike, absolute times drift.
 *
 *     pnpm bench:peer                          (from the repository root)
 *     PEER_ONLY=mlp-gradient,hvp pnpm bench:peer
 *     PEER_THREADS=2 pnpm bench:peer           (PyTorch and wasm threads)
 *     PEER_PROFILE=1 pnpm bench:peer           (per-kernel profile of the usam side)
 *     USAM_PEER_PYTHON=/usr/bin/python3 …      (which Python has torch)
 *     PEER_BASELINE=1 pnpm bench:peer          (also tfjs 4.22's own kernels,
 *                                               gradients and backward pass for what
 *                                               @usam/backend replaces, same process,
 *                                               same rounds)
 *
 * Without a Python that imports torch (Debian: `apt install python3-torch`,
 * and `libopenblas0-pthread`, without which its matmuls use the reference
 * BLAS, ~10× slower), only the usam side runs, and says so. Writes
 * tooling/bench-peer/bench-results/peer.json and prints a markdown table.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@usam/backend';
import {
  createHvp,
  firstBatches,
  hutchinsonTrace,
  twiceDifferentiableSoftmaxCrossEntropy,
} from '@usam/estimators';
import { createModel } from '@usam/models';
import { frobSam, plain, type SharpnessAwareOptimizer, sam } from '@usam/optimizer';
import { BATCH, batch, trainingLoss } from './training';

const HERE = dirname(fileURLToPath(import.meta.url));
const THREADS = Number(process.env.PEER_THREADS ?? 1);
const PROFILE = process.env.PEER_PROFILE === '1';
const ONLY = process.env.PEER_ONLY?.split(',');
const BASELINE = process.env.PEER_BASELINE === '1';

/** A timed unit of work and how to free what it holds. */
interface Runner {
  run(): Promise<void>;
  dispose(): void;
}

interface Workload {
  readonly name: string;
  readonly label: string;
  /** Interleaved rounds, and runs per side per round (their median is the round's time). */
  readonly rounds: number;
  readonly reps: number;
  /** Each run does this many units of the row (the probe row runs 2 probes). */
  readonly per?: number;
  readonly build: () => Runner;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round = (x: number, digits = 2) => Number(x.toPrecision(digits + 1));

/** A step of `optimizer(model)` on one random batch. */
function stepWorkload(
  model: tfl.LayersModel,
  inputShape: number[],
  optimizer: (model: tfl.LayersModel) => SharpnessAwareOptimizer,
  n = BATCH,
): Runner {
  const { xs, ys } = batch(inputShape, n);
  const opt = optimizer(model);
  const loss = trainingLoss(model, xs, ys);
  return {
    run: async () => {
      await opt.step(loss);
    },
    dispose: () => {
      opt.dispose();
      model.dispose();
      tf.dispose([xs, ys]);
    },
  };
}

const sgd = (model: tfl.LayersModel) => plain({ params: model, base: tf.train.sgd(0.01) });
const mlp = () => createModel('mlp', { seed: 1 });

function gradientWorkload(): Runner {
  const model = mlp();
  const { xs, ys } = batch([784]);
  const loss = trainingLoss(model, xs, ys);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return {
    run: async () => {
      const { value, grads } = tf.variableGrads(loss, variables);
      await value.data();
      tf.dispose([value, grads]);
    },
    dispose: () => {
      model.dispose();
      tf.dispose([xs, ys]);
    },
  };
}

/** The exact HVP over the first 1280 examples (10 batches of 128), as @usam/estimators runs it. */
function hessianWorkload(kind: 'hvp' | 'probe'): Runner {
  const model = mlp();
  const { xs, ys } = batch([784], 1280);
  const batches = firstBatches(xs, ys);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const operator = createHvp({
    variables,
    method: 'exact',
    data: batches,
    loss: (b: { xs: tf.Tensor; ys: tf.Tensor }) =>
      tf.tidy(() => twiceDifferentiableSoftmaxCrossEntropy(b.ys, model.apply(b.xs) as tf.Tensor)),
  });
  const v = tf.randomNormal([operator.dimension], 0, 1, 'float32', 3) as tf.Tensor1D;
  return {
    run: async () => {
      if (kind === 'hvp') (await operator.apply(v)).dispose();
      else await hutchinsonTrace(operator, { probes: 2 });
    },
    dispose: () => {
      model.dispose();
      tf.dispose([xs, ys, v, ...batches.flatMap((b) => [b.xs, b.ys])]);
    },
  };
}

/** One 512×512 by 512×512 product: the dense kernel alone, XNNPACK against OpenBLAS. */
function matmulWorkload(): Runner {
  const a = tf.randomNormal([512, 512], 0, 1, 'float32', 1);
  const b = tf.randomNormal([512, 512], 0, 1, 'float32', 2);
  return {
    run: async () => {
      const c = tf.matMul(a, b);
      await c.data();
      c.dispose();
    },
    dispose: () => tf.dispose([a, b]),
  };
}

/** One 3×3 convolution, forward and both gradients (a ResNet-18 stage-1 layer, batch 32). */
function convWorkload(): Runner {
  const x = tf.randomUniform([32, 32, 32, 64], 0, 1, 'float32', 1) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 64, 64], 0, 1, 'float32', 2) as tf.Tensor4D;
  const grads = tf.grads((x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'));
  return {
    run: async () => {
      const [dx, dw] = grads([x, w]);
      await Promise.all([dx!.data(), dw!.data()]);
      tf.dispose([dx!, dw!]);
    },
    dispose: () => tf.dispose([x, w]),
  };
}

const cnn = (inputShape: number[]) => () =>
  stepWorkload(createModel('cnn', { inputShape, seed: 1 }), inputShape, sgd);

const resnet = (n: number) => () =>
  stepWorkload(createModel('resnet18', { seed: 1 }), [32, 32, 3], sgd, n);

const MLP = 'MLP 784-128×5-10, batch 128';
const WORKLOADS: Workload[] = [
  // The kernels alone: how close wasm's XNNPACK (128-bit SIMD) can get to
  // PyTorch's OpenBLAS / oneDNN (AVX-512) at all; a floor for the rows below.
  {
    name: 'matmul-512',
    label: 'kernel: matmul 512×512 · 512×512',
    rounds: 9,
    reps: 10,
    build: matmulWorkload,
  },
  {
    name: 'conv3x3',
    label: 'kernel: conv 3×3, 64→64, [32,32,32,64], forward + both gradients',
    rounds: 7,
    reps: 3,
    build: convWorkload,
  },
  {
    name: 'mlp-gradient',
    label: `${MLP}: one gradient`,
    rounds: 9,
    reps: 10,
    build: gradientWorkload,
  },
  {
    name: 'mlp-sgd',
    label: `${MLP}: SGD step`,
    rounds: 9,
    reps: 10,
    build: () => stepWorkload(mlp(), [784], sgd),
  },
  {
    name: 'mlp-sam',
    label: `${MLP}: SAM step`,
    rounds: 9,
    reps: 5,
    build: () =>
      stepWorkload(mlp(), [784], (m) => sam({ params: m, base: tf.train.sgd(0.01), rho: 0.05 })),
  },
  {
    name: 'mlp-frobsam',
    label: `${MLP}: Frob-SAM (n = 2) step`,
    rounds: 9,
    reps: 3,
    build: () =>
      stepWorkload(mlp(), [784], (m) => frobSam({ params: m, base: tf.train.sgd(0.01) })),
  },
  {
    name: 'hvp',
    label: 'exact HVP over 1280 examples (MLP)',
    rounds: 7,
    reps: 1,
    build: () => hessianWorkload('hvp'),
  },
  {
    name: 'probe',
    label: 'Hutchinson probe over 1280 examples (MLP)',
    rounds: 5,
    reps: 1,
    per: 2,
    build: () => hessianWorkload('probe'),
  },
  {
    name: 'cnn-28x28x1',
    label: 'small CNN, 28×28×1, batch 128: SGD step',
    rounds: 7,
    reps: 2,
    build: cnn([28, 28, 1]),
  },
  {
    name: 'cnn-32x32x3',
    label: 'small CNN, 32×32×3, batch 128: SGD step',
    rounds: 7,
    reps: 2,
    build: cnn([32, 32, 3]),
  },
  {
    name: 'resnet18-b32',
    label: 'ResNet-18 (width 1), batch 32: SGD step',
    rounds: 3,
    reps: 1,
    build: resnet(32),
  },
  {
    name: 'resnet18-b128',
    label: 'ResNet-18 (width 1), batch 128: SGD step',
    rounds: 1,
    reps: 1,
    build: resnet(128),
  },
];

// --- PyTorch worker -----------------------------------------------------------

/** The first Python that imports torch, or undefined with the reasons. */
function findPython(): { python?: string; tried: string[] } {
  const candidates = [process.env.USAM_PEER_PYTHON, 'python3', '/usr/bin/python3'].filter(
    (c): c is string => Boolean(c),
  );
  for (const python of candidates) {
    const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.status === 0) return { python, tried: candidates };
  }
  return { tried: candidates };
}

class TorchWorker {
  private readonly lines: AsyncIterator<string>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    child.stderr.on('data', (d) => process.stderr.write(`[torch] ${d}`));
  }

  static async start(python: string): Promise<{ worker: TorchWorker; info: unknown }> {
    const child = spawn(python, [join(HERE, 'peer.py')], {
      env: {
        ...process.env,
        PEER_THREADS: String(THREADS),
        // OpenBLAS keeps its own thread pool; hold it to the same count.
        OPENBLAS_NUM_THREADS: String(THREADS),
        OMP_NUM_THREADS: String(THREADS),
      },
    });
    const worker = new TorchWorker(child);
    return { worker, info: await worker.next() };
  }

  private async next(): Promise<Record<string, unknown>> {
    const { value, done } = await this.lines.next();
    if (done) throw new Error('the PyTorch worker exited');
    return JSON.parse(value) as Record<string, unknown>;
  }

  /** Milliseconds of each of `reps` runs of `workload` (built and warmed up on first use). */
  async time(workload: string, reps: number, last: boolean): Promise<number[]> {
    this.child.stdin.write(`${JSON.stringify({ workload, reps, last })}\n`);
    const answer = await this.next();
    if (typeof answer.error === 'string') throw new Error(`PyTorch: ${answer.error}`);
    return answer.ms as number[];
  }

  stop(): void {
    this.child.stdin.end();
  }
}

// --- usam side ------------------------------------------------------------------

/** The wasm heap's size: it only grows, so this is the high-water mark so far. */
function wasmHeapBytes(): number | undefined {
  const module = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm;
  return module?.HEAPU8?.buffer.byteLength;
}

async function timeUsam(runner: Runner, reps: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    await runner.run();
    ms.push(performance.now() - start);
  }
  return ms;
}

/** Time per kernel over one run, summed by kernel name, and the time outside kernels. */
async function profile(runner: Runner) {
  const start = performance.now();
  const info = await tf.profile(() => runner.run());
  const wallMs = performance.now() - start;
  const byKernel = new Map<string, number>();
  for (const k of info.kernels) {
    // Ops built with customGrad are listed too ('…__op'), their kernels again inside.
    if (k.name.endsWith('__op')) continue;
    const time = Number(k.kernelTimeMs) || 0;
    byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + time);
  }
  const kernelMs = [...byKernel.values()].reduce((a, b) => a + b, 0);
  const rows = [...byKernel.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([kernel, ms]) => ({ kernel, share: round(ms / wallMs) }));
  return {
    wallMs: round(wallMs, 3),
    outsideKernels: round(1 - kernelMs / wallMs),
    // Tensors tfjs tracks at the step's peak (kernel-internal scratch not included).
    peakTensorMiB: Math.round(info.peakBytes / 2 ** 20),
    wasmHeapMiB: Math.round((wasmHeapBytes() ?? 0) / 2 ** 20),
    rows,
  };
}

// --- main ---------------------------------------------------------------------------

// tfjs 4.22's own kernels and gradients for what @usam/backend replaces,
// captured before initBackend does, for the in-process baseline (PEER_BASELINE=1).
await import('@tensorflow/tfjs'); // tfjs's gradients, as @usam/backend's Node entry loads them
await import('@tensorflow/tfjs-backend-wasm');
const REPLACED_KERNELS = [
  'BatchMatMul',
  '_FusedMatMul',
  'MaxPoolGrad',
  'Sum',
  'Mean',
  'Identity',
  'Cast',
  'Add',
  'Slice',
  'SplitV',
];
const REPLACED_GRADIENTS = ['FusedBatchNorm', 'Mean', 'Sum'];
// The engine's backward pass, which initBackend makes lean.
const engine = tf.engine() as unknown as { gradients: unknown };
const capture = () => ({
  kernels: REPLACED_KERNELS.map((name) => tf.getKernel(name, 'wasm')!),
  gradients: REPLACED_GRADIENTS.map((name) => tf.getGradient(name)!),
  backward: engine.gradients,
});
const tfjsOwn = capture();
const { name: backend } = await initBackend('wasm', { threads: THREADS });
const usamOwn = capture();

type Variant = 'usam' | 'tfjs';
/** Registers our kernels, gradients and backward pass, or tfjs's own. */
function use(variant: Variant): void {
  const { kernels, gradients, backward } = variant === 'usam' ? usamOwn : tfjsOwn;
  engine.gradients = backward;
  for (const kernel of kernels) {
    tf.unregisterKernel(kernel.kernelName, 'wasm');
    tf.registerKernel(kernel);
    // The engine set up only the kernels registered when wasm started.
    kernel.setupFunc?.(tf.backend());
  }
  for (const gradient of gradients) tf.registerGradient(gradient);
}
const found = PROFILE ? { tried: [] } : findPython();
let torch: TorchWorker | undefined;
let torchInfo: unknown;
if (found.python) {
  ({ worker: torch, info: torchInfo } = await TorchWorker.start(found.python));
} else if (!PROFILE) {
  console.error(
    `bench:peer: no Python with PyTorch (tried ${found.tried.join(', ')}); timing the usam side only. Install Debian's python3-torch (and libopenblas0-pthread), or set USAM_PEER_PYTHON.`,
  );
}

const rows: Record<string, unknown>[] = [];
for (const workload of WORKLOADS) {
  if (ONLY && !ONLY.includes(workload.name)) continue;
  const per = workload.per ?? 1;
  const tensorsBefore = tf.memory().numTensors;
  let runner: Runner | undefined;
  try {
    runner = workload.build();
    // Warm-up: V8 keeps tiering up tfjs's JavaScript and our wasm for the first second or so of a
    // workload (the MLP rows' per-round ratios fell 7 → 2.8 over 9 rounds after 2 warm-up runs).
    const warm = performance.now();
    for (let i = 0; i < 2 || (workload.rounds > 1 && performance.now() - warm < 2000); i++) {
      await runner.run();
    }
    if (PROFILE) {
      const result = await profile(runner);
      rows.push({ workload: workload.name, label: workload.label, ...result });
      console.error(workload.name, JSON.stringify(result));
      continue;
    }
    const usamMs: number[] = [];
    const tfjsMs: number[] = [];
    const torchMs: number[] = [];
    const ratios: number[] = [];
    const tfjsRatios: number[] = [];
    // tfjs's own ResNet-18 step at batch 128 runs out of wasm memory, which kills the module
    // (bench:memory measures both in separate processes).
    const baseline = BASELINE && workload.name !== 'resnet18-b128';
    const timeVariant = async (variant: Variant, into: number[]) => {
      use(variant);
      into.push(median(await timeUsam(runner!, workload.reps)) / per);
      use('usam');
    };
    for (let r = 0; r < workload.rounds; r++) {
      const last = r === workload.rounds - 1;
      const sides = [
        () => timeVariant('usam', usamMs),
        async () => {
          if (torch)
            torchMs.push(median(await torch.time(workload.name, workload.reps, last)) / per);
        },
        ...(baseline ? [() => timeVariant('tfjs', tfjsMs)] : []),
      ];
      // Rotate who goes first, so that slow spells on the machine hit all alike.
      for (let i = 0; i < sides.length; i++) await sides[(i + r) % sides.length]!();
      if (torch) ratios.push(usamMs.at(-1)! / torchMs.at(-1)!);
      if (torch && baseline) tfjsRatios.push(tfjsMs.at(-1)! / torchMs.at(-1)!);
    }
    const row = {
      workload: workload.name,
      label: workload.label,
      rounds: workload.rounds,
      torchMs: torch ? round(median(torchMs)) : null,
      usamMs: round(median(usamMs)),
      ratio: torch ? round(median(ratios)) : null,
      ratios: ratios.map((x) => round(x)),
      ...(baseline
        ? {
            tfjsKernelsMs: round(median(tfjsMs)),
            tfjsKernelsRatio: torch ? round(median(tfjsRatios)) : null,
            speedup: round(median(tfjsMs.map((ms, i) => ms / usamMs[i]!))),
          }
        : {}),
      wasmHeapMiB: Math.round((wasmHeapBytes() ?? 0) / 2 ** 20),
    };
    rows.push(row);
    console.error(JSON.stringify(row));
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    rows.push({ workload: workload.name, label: workload.label, error: reason });
    console.error(workload.name, 'failed:', reason);
  } finally {
    runner?.dispose();
    const leaked = tf.memory().numTensors - tensorsBefore;
    if (leaked !== 0) console.error(`${workload.name}: ${leaked} tensors not freed`);
  }
}
torch?.stop();

const report = {
  benchmark: PROFILE
    ? 'usam wasm: share of wall time per kernel (tf.profile), one run after warm-up'
    : 'usam (wasm) / PyTorch (CPU), medians of interleaved per-round ratios',
  date: new Date().toISOString(),
  backend,
  threads: THREADS,
  torch: torchInfo ?? null,
  cpus: cpus().length,
  loadavg: loadavg().map((x) => round(x)),
  rows,
};
const out = join(HERE, '..', 'bench-results', PROFILE ? 'profile.json' : 'peer.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(report, null, 2));
if (!PROFILE) {
  const cells = (row: Record<string, unknown>) =>
    'error' in row
      ? ['–', `failed: ${row.error}`, '–', ...(BASELINE ? ['–', '–'] : []), '–']
      : [
          row.torchMs ?? '–',
          row.usamMs,
          row.ratio === null ? '–' : `${row.ratio}×`,
          ...(BASELINE
            ? [row.tfjsKernelsRatio == null ? '–' : `${row.tfjsKernelsRatio}×`, row.speedup ?? '–']
            : []),
          row.wasmHeapMiB,
        ];
  const head = [
    'workload',
    'PyTorch ms',
    'usam wasm ms',
    'usam / PyTorch',
    ...(BASELINE ? ['with tfjs 4.22 kernels / PyTorch', 'speed-up'] : []),
    'wasm heap MiB',
  ];
  console.log(`\n| ${head.join(' | ')} |`);
  console.log(`|${head.map(() => '---').join('|')}|`);
  for (const row of rows) console.log(`| ${[row.label, ...cells(row)].join(' | ')} |`);
}
