/**
 * Where a step's time goes beyond its gradients (not a test): for each variant
 * on the bench's MLP, the wall and CPU time inside `tf.variableGrads` against
 * the rest, and the kernels run outside the gradients (count, ms by kernel).
 *
 *     BENCH_BACKENDS=wasm npx tsx bench/profile.ts
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendName, initBackend } from '@usam/backend';
import { mlpProblem } from './mlp';

const STEPS = Number(process.env.BENCH_STEPS) || 20;
await initBackend((process.env.BENCH_BACKENDS ?? 'wasm') as BackendName);
tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false);
const { model, loss, variants } = mlpProblem();
const only = process.env.ONLY?.split(',');

// Time inside the engine's gradients (every variableGrads goes through it).
const engine = tf.engine() as unknown as {
  gradients: (...a: unknown[]) => unknown;
  state: { profiling: boolean; activeProfile: { kernels: unknown[] } };
};
const original = engine.gradients.bind(engine);
let gradientMs = 0;
const ranges: [number, number][] = [];
engine.gradients = (...args: unknown[]) => {
  const t = performance.now();
  const k = engine.state.profiling ? engine.state.activeProfile.kernels.length : 0;
  try {
    return original(...args);
  } finally {
    gradientMs += performance.now() - t;
    if (engine.state.profiling) ranges.push([k, engine.state.activeProfile.kernels.length]);
  }
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
};

for (const [name, build] of variants) {
  if (only && !only.includes(name)) continue;
  const opt = build({ params: model, base: tf.train.momentum(0, 0.9), weightDecay: 5e-4 });
  for (let i = 0; i < 5; i++) await opt.step(loss);
  const rest: number[] = [];
  const grads: number[] = [];
  const alone: number[] = [];
  const variables = opt.variables;
  for (let i = 0; i < STEPS; i++) {
    const t0 = performance.now();
    const { value, grads: g } = tf.variableGrads(loss, variables);
    value.dataSync();
    tf.dispose([value, g]);
    alone.push(performance.now() - t0);
    gradientMs = 0;
    const t = performance.now();
    opt.stepNow(loss);
    const total = performance.now() - t;
    grads.push(gradientMs);
    rest.push(total - gradientMs);
  }
  ranges.length = 0;
  const profile = await tf.profile(() => {
    opt.stepNow(loss);
  });
  const outside = new Map<string, { n: number; ms: number }>();
  let count = 0;
  profile.kernels.forEach((k, i) => {
    if (ranges.some(([a, b]) => i >= a && i < b)) return;
    count++;
    const e = outside.get(k.name) ?? { n: 0, ms: 0 };
    e.n++;
    e.ms += k.kernelTimeMs as number;
    outside.set(k.name, e);
  });
  const kernelMs = [...outside.values()].reduce((a, b) => a + b.ms, 0);
  console.log(
    `${name}: one gradient alone ${median(alone).toFixed(2)} ms, in the step ${median(grads).toFixed(2)} ms, rest ${median(rest).toFixed(2)} ms (min ${Math.min(...rest).toFixed(2)}); ${count} kernels outside gradients, ${kernelMs.toFixed(2)} ms in them`,
  );
  console.log(
    '   ',
    [...outside.entries()]
      .sort((a, b) => b[1].ms - a[1].ms)
      .map(([k, v]) => `${k} ×${v.n} ${v.ms.toFixed(2)}`)
      .join(', '),
  );
  opt.dispose();
}
