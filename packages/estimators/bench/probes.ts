/**
 * Benchmark (not a test): Hessian-vector products and estimator probes per
 * second on the paper's 6×128 MNIST MLP (784 → 128 ×6 ReLU → 10, softmax
 * cross-entropy, one batch of 128 seeded random inputs), on the cpu and wasm
 * backends. Also measures how far central differences are from the exact
 * HVP on this ReLU network. Writes bench-results/probes.json and prints it.
 *
 *     pnpm --filter @usam/estimators bench
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { type BackendName, initBackend } from '@usam/backend';
import { createRng } from '@usam/measures';
import { createHvp, EPSILON_SCALE, frobeniusNormSquared, hutchinsonTrace } from '../src/index';
import { paperMlp } from './mlp';

const PROBES: Record<string, number> = { cpu: 3, wasm: 12 };

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const start = performance.now();
  const value = await f();
  return { value, seconds: (performance.now() - start) / 1000 };
}

/** ‖a − b‖ / ‖b‖ for flat tensors. */
async function relativeDifference(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const r = tf.tidy(() => tf.div(tf.norm(tf.sub(a, b)), tf.norm(b)));
  const value = (await r.data())[0]!;
  r.dispose();
  return value;
}

async function benchBackend(backend: string) {
  await initBackend(backend as BackendName);
  const tensorsBefore = tf.memory().numTensors;
  const model = paperMlp();
  const probes = PROBES[backend]!;
  const central = createHvp({ variables: model.variables, loss: model.loss, data: model.data });
  const exact = createHvp({
    variables: model.variables,
    loss: model.lossTwice,
    data: model.data,
    method: 'exact',
  });

  // Warm-up (kernel compilation, first allocations), not timed.
  const ones = tf.ones([model.dimension]) as tf.Tensor1D;
  (await central.apply(ones)).dispose();
  (await exact.apply(ones)).dispose();
  ones.dispose();

  const perHvp = (hvp: typeof central, before: { g: number; p: number }) =>
    (hvp.gradientEvaluations - before.g) / (hvp.products - before.p);
  const mark = (hvp: typeof central) => ({ g: hvp.gradientEvaluations, p: hvp.products });

  const startCentral = mark(central);
  const trace = await timed(() => hutchinsonTrace(central, { probes, seed: 1 }));
  const frobenius = await timed(() => frobeniusNormSquared(central, { probes, seed: 2 }));
  const centralGradientsPerHvp = perHvp(central, startCentral);

  const startExact = mark(exact);
  const traceExact = await timed(() => hutchinsonTrace(exact, { probes, seed: 1 }));
  const frobeniusExact = await timed(() => frobeniusNormSquared(exact, { probes, seed: 2 }));
  const exactGradientsPerHvp = perHvp(exact, startExact);

  // Central vs exact HVP on this ReLU network, for a few step scales c.
  const rng = createRng(7);
  const v = tf.tensor1d(
    Float32Array.from(
      { length: model.dimension },
      () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()),
    ),
  );
  const reference = await exact.apply(v);
  const centralVsExact: Record<string, number> = {};
  for (const scale of [
    EPSILON_SCALE / 1000,
    EPSILON_SCALE / 30,
    EPSILON_SCALE,
    EPSILON_SCALE * 30,
  ]) {
    const hvp = createHvp({
      variables: model.variables,
      loss: model.loss,
      data: model.data,
      epsilonScale: scale,
    });
    const hv = await hvp.apply(v);
    centralVsExact[`c=${scale}`] = Number((await relativeDifference(hv, reference)).toPrecision(3));
    hv.dispose();
  }
  tf.dispose([v, reference]);
  model.dispose();
  const tensorsLeft = tf.memory().numTensors - tensorsBefore;

  const rate = (t: { seconds: number }) => Number((probes / t.seconds).toFixed(3));
  const round = (x: number) => Number(x.toPrecision(4));
  return {
    parameters: model.dimension,
    probes,
    central: {
      gradientEvaluationsPerHvp: centralGradientsPerHvp,
      traceProbesPerSecond: rate(trace),
      frobeniusProbesPerSecond: rate(frobenius),
      trace: {
        estimate: round(trace.value.estimate),
        standardError: round(trace.value.standardError),
      },
      frobeniusSquared: {
        estimate: round(frobenius.value.estimate),
        standardError: round(frobenius.value.standardError),
      },
    },
    exact: {
      gradientEvaluationsPerHvp: exactGradientsPerHvp,
      traceProbesPerSecond: rate(traceExact),
      frobeniusProbesPerSecond: rate(frobeniusExact),
      trace: {
        estimate: round(traceExact.value.estimate),
        standardError: round(traceExact.value.standardError),
      },
      frobeniusSquared: {
        estimate: round(frobeniusExact.value.estimate),
        standardError: round(frobeniusExact.value.standardError),
      },
    },
    centralVsExactRelativeDifference: centralVsExact,
    tensorsLeft,
  };
}

const results: Record<string, unknown> = {
  model: 'MLP 784 → 128 ×6 ReLU → 10, softmax cross-entropy, 1 batch of 128 random inputs (seed 1)',
  epsilonScale: EPSILON_SCALE,
  node: process.version,
  backends: {} as Record<string, unknown>,
};
const started = performance.now();
for (const backend of ['cpu', 'wasm']) {
  (results.backends as Record<string, unknown>)[backend] = await benchBackend(backend);
}
results.totalSeconds = Number(((performance.now() - started) / 1000).toFixed(1));

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench-results', 'probes.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
