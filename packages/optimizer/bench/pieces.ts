/**
 * What a step does beyond its gradients, piece by piece (not a test): each
 * piece of the step engine run alone on the bench's MLP (784 → 128 ×5 → 10,
 * 12 parameter tensors, 168k entries), in this process's CPU time (what other
 * processes' load on a shared host inflates least), as a fraction of one
 * gradient evaluation timed in the same rounds. Medians over rounds.
 *
 *     BENCH_BACKENDS=wasm npx tsx bench/pieces.ts      (BENCH_STEPS=n rounds)
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendName, initBackend } from '@usam/backend';
import { createRng, gaussian, hypercube, tensorList } from '@usam/measures';
import { readNumbers } from '../src/composite';
import { Snapshot } from '../src/variables';
import { mlpProblem } from './mlp';

const ROUNDS = Number(process.env.BENCH_STEPS) || 40;
await initBackend((process.env.BENCH_BACKENDS ?? 'wasm') as BackendName);
const { variables, loss } = mlpProblem();
const shapes = tensorList.shapesOf(variables);
const base = tf.train.momentum(0, 0.9);
const rng = createRng(0);
const normal = gaussian();
const cube = hypercube(0.01);
const g = tf.tidy(() => tf.variableGrads(loss, variables).grads);
const grads = variables.map((v) => tf.keep(g[v.name]!));
const cpu = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** x ← x + e as the engine's evaluateAt does, then x restored by assignment. */
function moveAndRestore(e: readonly tf.Tensor[]) {
  const s = new Snapshot(variables);
  tf.tidy(() => {
    variables.forEach((v, k) => {
      v.assign(tf.add(s.values[k]!, e[k]!));
    });
  });
  s.restore();
  s.dispose();
}

const pieces: [string, () => void][] = [
  [
    'one gradient (tf.variableGrads + loss read)',
    () => {
      const { value, grads } = tf.variableGrads(loss, variables);
      value.dataSync();
      tf.dispose([value, grads]);
    },
  ],
  [
    'base step: tfjs momentum applyGradients (48 kernels)',
    () => {
      base.applyGradients(variables.map((v, k) => ({ name: v.name, tensor: grads[k]! })));
    },
  ],
  [
    'composite g + wd·x (linearCombination, 24 kernels)',
    () => {
      tensorList.dispose(
        tensorList.linearCombination(
          [
            { tensors: grads, weight: 1 },
            { tensors: variables, weight: 5e-4 },
          ],
          variables,
        ),
      );
    },
  ],
  [
    'finiteness probe Σ sum(g) + read (13 kernels + Pack)',
    () => {
      const probe = tensorList.sum(grads);
      readNumbers([probe, probe]);
      probe.dispose();
    },
  ],
  [
    'snapshot x and restore by assign (12 Identity)',
    () => {
      const s = new Snapshot(variables);
      s.restore();
      s.dispose();
    },
  ],
  [
    'SAM direction ρg/‖g‖ (38 kernels) and x + e assign (12)',
    () => {
      const e = tf.tidy(() =>
        tensorList.scale(grads, tf.div(0.05, tf.add(tensorList.norm(grads), 1e-12)) as tf.Scalar),
      );
      moveAndRestore(e);
      tensorList.dispose(e);
    },
  ],
  [
    'N(0, I) draw in JS + upload (gaussian sampler)',
    () => {
      tensorList.dispose(normal.sample(shapes, rng));
    },
  ],
  [
    'uniform hypercube draw in JS + upload',
    () => {
      tensorList.dispose(cube.sample(shapes, rng));
    },
  ],
  [
    'ρv (12 Mul) and x + ρv assign (12 Add)',
    () => {
      const v = normal.sample(shapes, rng);
      const t = cpu();
      const e = tensorList.scale(v, 0.01);
      moveAndRestore(e);
      tensorList.dispose([...e, ...v]);
      offset = cpu() - t;
    },
  ],
];
let offset: number | undefined;
const times = pieces.map(() => [] as number[]);
for (let r = -5; r < ROUNDS; r++) {
  pieces.forEach(([, f], i) => {
    offset = undefined;
    const t = cpu();
    f();
    const ms = offset ?? cpu() - t;
    if (r >= 0) times[i]!.push(ms);
  });
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
// Ratios per round to the gradient of the same round, then the median.
const rows = pieces.map(([name], i) => ({
  piece: name,
  cpuMs: Number(median(times[i]!).toFixed(3)),
  perGradient: Number(median(times[i]!.map((t, r) => t / times[0]![r]!)).toFixed(3)),
}));
console.table(rows);
tensorList.dispose(grads);
base.dispose();
