/**
 * What a step does beyond its gradients, piece by piece (not a test): each
 * piece of the step engine run alone on the bench's MLP (784 → 128 ×5 → 10,
 * 12 parameter tensors, 168k entries), in this process's CPU time (what other
 * processes' load on a shared host inflates least), as a fraction of one
 * gradient evaluation timed in the same rounds. Medians over rounds.
 *
 * On wasm the pieces that tensorList and the base step run as list kernels
 * (docs/optimizer-kernels.md) run twice per round, with the kernels and with
 * them unregistered (tfjs's ops, what every other backend runs), and
 * `kernelsOverOps` is the median of the per-round ratio of the two: an
 * interleaved before/after. Prints a table and writes bench-results/pieces.json.
 *
 *     BENCH_BACKENDS=wasm npx tsx bench/pieces.ts      (BENCH_STEPS=n rounds)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { type BackendName, initBackend } from '@usam/backend';
import {
  createRng,
  frobenius,
  gaussian,
  hypercube,
  hypercubeDeterminant,
  sphere,
  summarizeDraws,
  tensorList,
} from '@usam/measures';
import { applyBaseStep } from '../src/base-step';
import { readNumbers, regularised } from '../src/composite';
import { asamDirection } from '../src/sam';
import { Snapshot } from '../src/variables';
import { listKernelSwitch, mlpProblem } from './mlp';

const ROUNDS = Number(process.env.BENCH_STEPS) || 40;
const BACKEND = (process.env.BENCH_BACKENDS ?? 'wasm') as BackendName;
await initBackend(BACKEND);
const { variables, loss } = mlpProblem();
const shapes = tensorList.shapesOf(variables);
const base = tf.train.momentum(0, 0.9);
const adamBase = tf.train.adam(0);
const rng = createRng(0);
const normal = gaussian();
const cube = hypercube(0.01);
const ball = sphere();
const asam = asamDirection(0.5, 0.01);
const det = hypercubeDeterminant(0.01);
const frob = frobenius();
const g = tf.tidy(() => tf.variableGrads(loss, variables).grads);
const grads = variables.map((v) => tf.keep(g[v.name]!));
// A second gradient, for the composites of two and three gradients.
const other = tf.tidy(() => grads.map((t) => tf.mul(t, 0.5)));
const losses = [tf.scalar(2.3), tf.scalar(2.31), tf.scalar(2.32)];
const cpu = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** x ← x + s·e as the engine's evaluateAt does, then x restored by assignment. */
function moveAndRestore(e: readonly tf.Tensor[], scale = 1) {
  const s = new Snapshot(variables);
  const moved = scale === 1 ? tensorList.add(s.values, e) : tensorList.axpy(scale, e, s.values);
  variables.forEach((v, k) => {
    v.assign(moved[k]!);
  });
  tensorList.dispose(moved);
  s.restore();
  s.dispose();
}

const listKernels = listKernelSwitch();
const useListKernels = listKernels.use;

/** [name, run, whether it has a list-kernel path] */
const pieces: [string, () => void, boolean][] = [
  [
    'one gradient (tf.variableGrads + loss read)',
    () => {
      const { value, grads } = tf.variableGrads(loss, variables);
      value.dataSync();
      tf.dispose([value, grads]);
    },
    false,
  ],
  [
    'base step: momentum (applyBaseStep; tfjs: 48 kernels)',
    () => {
      applyBaseStep(base, variables, grads);
    },
    true,
  ],
  [
    'base step: Adam (applyBaseStep; tfjs: 12 kernels per tensor)',
    () => {
      applyBaseStep(adamBase, variables, grads);
    },
    true,
  ],
  [
    'composite g + wd·x with its finiteness count + read (checkedCombination; tfjs: 72 kernels)',
    () => {
      const { sum, nonFinite } = tensorList.checkedCombination(
        [
          { tensors: grads, weight: 1 },
          { tensors: variables, weight: 5e-4 },
        ],
        variables,
      );
      readNumbers([nonFinite, nonFinite]);
      tensorList.dispose([...sum, nonFinite]);
    },
    true,
  ],
  [
    'finiteness probe countNonFinite + read (tfjs: 48 kernels)',
    () => {
      const probe = tensorList.countNonFinite(grads);
      readNumbers([probe, probe]);
      probe.dispose();
    },
    true,
  ],
  [
    'snapshot x and restore by assign (12 Identity)',
    () => {
      const s = new Snapshot(variables);
      s.restore();
      s.dispose();
    },
    false,
  ],
  [
    'SAM direction ρg/‖g‖ and x + e assign',
    () => {
      const e = tf.tidy(() =>
        tensorList.scale(grads, tf.div(0.05, tf.add(tensorList.norm(grads), 1e-12)) as tf.Scalar),
      );
      moveAndRestore(e);
      tensorList.dispose(e);
    },
    true,
  ],
  [
    'N(0, I) draw (gaussian sampler; tfjs: JS + upload)',
    () => {
      tensorList.dispose(normal.sample(shapes, rng));
    },
    true,
  ],
  [
    'uniform hypercube draw (tfjs: JS + upload)',
    () => {
      tensorList.dispose(cube.sample(shapes, rng));
    },
    true,
  ],
  [
    'x + ρv (one axpy: evaluateAt(v, ρ)) and assign',
    () => {
      const v = normal.sample(shapes, rng);
      const t = cpu();
      moveAndRestore(v, 0.01);
      tensorList.dispose(v);
      offset = cpu() - t;
    },
    true,
  ],
  [
    'sphere draw (JS normals, float64 norm, upload)',
    () => {
      tensorList.dispose(ball.sample(shapes, rng));
    },
    true,
  ],
  [
    'ASAM direction ρT²g/‖Tg‖, T = |x| + η',
    () => {
      tensorList.dispose(tf.tidy(() => asam(variables, grads)));
    },
    true,
  ],
  [
    'losses read back (3 scalars, one download)',
    () => {
      readNumbers(losses);
    },
    false,
  ],
  [
    'coefficients (summarizeDraws: Det-SAM n = 1, Frob-SAM n = 2)',
    () => {
      summarizeDraws(det, { q: [[0.013]], logWeights: [[0]] });
      summarizeDraws(frob, { q: [[0.4, 0.5]], logWeights: [[0, 0]] });
    },
    false,
  ],
  [
    'composite of 2 gradients + wd·x (regularised + linearCombination)',
    () => {
      const owned: tf.Tensor[] = [];
      const clean = { loss: losses[0]!, gradient: grads };
      const { terms } = regularised(1, clean, [{ loss: losses[1]!, gradient: other }], [1], owned);
      const g = tensorList.linearCombination(
        [...terms, { tensors: variables, weight: 5e-4 }],
        variables,
      );
      tensorList.dispose([...g, ...owned]);
    },
    true,
  ],
];
let offset: number | undefined;
// One column per mode: with the list kernels, and (where a piece has them) without.
const modes = listKernels.available ? [true, false] : [true];
const times = modes.map(() => pieces.map(() => [] as number[]));
for (let r = -5; r < ROUNDS; r++) {
  pieces.forEach(([, f, listed], i) => {
    // The first of a pair finds colder caches (these passes are memory-bound): alternate.
    const order = r % 2 === 0 ? modes : [...modes].reverse();
    order.forEach((on) => {
      const m = modes.indexOf(on);
      if (!on && !listed) return;
      useListKernels(on);
      offset = undefined;
      const t = cpu();
      f();
      const ms = offset ?? cpu() - t;
      if (r >= 0) times[m]![i]!.push(ms);
    });
  });
}
useListKernels(true);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const round3 = (x: number) => Number(x.toFixed(3));
// Ratios per round to the gradient of the same round, then the median.
const gradient = times[0]![0]!;
const rows = pieces.map(([name, , listed], i) => {
  const withKernels = times[0]![i]!;
  const ops = times[1]?.[i];
  return {
    piece: name,
    cpuMs: round3(median(withKernels)),
    perGradient: round3(median(withKernels.map((t, r) => t / gradient[r]!))),
    ...(listed &&
      ops !== undefined && {
        tfjsOpsPerGradient: round3(median(ops.map((t, r) => t / gradient[r]!))),
        kernelsOverOps: round3(median(withKernels.map((t, r) => t / ops[r]!))),
      }),
  };
});
console.table(rows);
const report = {
  benchmark: 'step pieces, 784-128x5-10 ReLU MLP, batch 128, CPU time per gradient',
  backend: BACKEND,
  rounds: ROUNDS,
  load: (await import('node:os')).loadavg(),
  date: new Date().toISOString(),
  rows,
};
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench-results', 'pieces.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
console.log(JSON.stringify(report, null, 2));
tensorList.dispose([...grads, ...other, ...losses]);
base.dispose();
adamBase.dispose();
