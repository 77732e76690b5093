/**
 * The issue-12 table (not a test): trace, ‖H‖_F² and λ_max of the paper's
 * MNIST MLP (@usam/models' `createModel('mlp')`, seed 0, at initialisation)
 * over the first 512 training examples of the embedded MNIST, computed the
 * default way, `hessian(model, { data })` (exact HVPs, 100 probes each, power
 * iteration at tolerance 1e-3), next to what main's default did: central
 * differences through `tf.losses.softmaxCrossEntropy` (BENCH_CENTRAL_PROBES,
 * default 30, because each costs two gradients). Also shows that an exact HVP
 * through `tf.losses.softmaxCrossEntropy` is now refused. Writes
 * bench-results/table.json.
 *
 *     pnpm --filter @usam/estimators bench:table
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { firstExamples } from '@usam/datasets';
import { loadMnist } from '@usam/datasets/mnist';
import { createModel } from '@usam/models';
import {
  createHvp,
  frobeniusNormSquared,
  hessian,
  hutchinsonTrace,
  topEigenvalues,
} from '../src/index';

const PROBES = Number(process.env.BENCH_PROBES ?? 100);
const CENTRAL_PROBES = Number(process.env.BENCH_CENTRAL_PROBES ?? 30);
const backend = process.env.BENCH_BACKENDS ?? 'wasm';
await initBackend(backend);

const model = createModel('mlp', { seed: 0 });
const mnist = await loadMnist('mnist');
const { xs, ys } = firstExamples(mnist.train, 512, { flatten: true });
const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
const batches = Array.from({ length: 4 }, (_, b) => ({
  xs: tf.slice(xs, [128 * b], [128]),
  ys: tf.slice(ys, [128 * b], [128]),
}));
const tfLoss = ({ xs, ys }: { xs: tf.Tensor; ys: tf.Tensor }) =>
  tf.tidy(
    () =>
      tf.losses.softmaxCrossEntropy(
        ys,
        model.apply(xs, { training: false }) as tf.Tensor,
      ) as tf.Scalar,
  );

const round = (x: number) => Number(x.toPrecision(4));
const started = performance.now();
const H = hessian(model, { data: { xs, ys }, seed: 1 });
const trace = await H.trace({ probes: PROBES });
const frob = await H.frobenius({ probes: PROBES });
const top = await H.eigenvalues();
const exactSeconds = (performance.now() - started) / 1000;

const central = createHvp({ variables, loss: tfLoss, data: batches, method: 'central' });
const centralTrace = await hutchinsonTrace(central, { probes: CENTRAL_PROBES, seed: 1 });
const centralFrob = await frobeniusNormSquared(central, { probes: CENTRAL_PROBES, seed: 1 });
const centralTop = await topEigenvalues(central, { seed: 1 });

const refused = await createHvp({ variables, loss: tfLoss, data: batches })
  .apply(tf.ones([H.dimension]) as tf.Tensor1D)
  .then(
    () => 'not refused',
    (error: Error) => error.message,
  );

const results = {
  model:
    "createModel('mlp', { seed: 0 }) at initialisation, first 512 embedded-MNIST training examples",
  backend,
  probes: PROBES,
  centralProbes: CENTRAL_PROBES,
  default: {
    call: 'hessian(model, { data }) — exact HVP, twice-differentiable softmax cross-entropy',
    trace: { estimate: round(trace.estimate), standardError: round(trace.standardError) },
    frobeniusSquared: { estimate: round(frob.estimate), standardError: round(frob.standardError) },
    lambdaMax: {
      estimate: round(top.estimate),
      residual: round(top.standardError),
      converged: top.converged[0],
      iterations: top.iterations[0],
    },
    seconds: round(exactSeconds),
  },
  mainDefault: {
    call: "createHvp({ …, loss: tf.losses.softmaxCrossEntropy }) with method 'central' (main's default)",
    trace: {
      estimate: round(centralTrace.estimate),
      standardError: round(centralTrace.standardError),
    },
    frobeniusSquared: {
      estimate: round(centralFrob.estimate),
      standardError: round(centralFrob.standardError),
    },
    lambdaMax: { estimate: round(centralTop.estimate), converged: centralTop.converged[0] },
  },
  exactThroughTfLosses: refused,
};
H.dispose();
tf.dispose([xs, ys, batches]);
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench-results', 'table.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
