/**
 * The issue-12 table (not a test): trace, ‖H‖_F² and λ_max of the paper's
 * 6×128 ReLU MLP at initialisation over 512 examples (4 batches of 128),
 * computed the default way, `hessian(model, { data })` on a tfjs-layers copy
 * of the network (exact HVPs, 100 probes each, power iteration at tolerance
 * 1e-3), next to what main's default did: central differences through
 * `tf.losses.softmaxCrossEntropy`. Also shows that an exact HVP through
 * `tf.losses.softmaxCrossEntropy` is now refused. Writes bench-results/table.json.
 *
 *     pnpm --filter @usam/estimators bench:table
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '@usam/backend';
import {
  createHvp,
  frobeniusNormSquared,
  hessian,
  hutchinsonTrace,
  topEigenvalues,
} from '../src/index';
import { paperMlp } from './mlp';

const PROBES = Number(process.env.BENCH_PROBES ?? 100);
const backend = process.env.BENCH_BACKENDS ?? 'wasm';
await initBackend(backend);

const net = paperMlp({ batch: 512, batches: 4 });
// The same network as a tfjs-layers model (Dense kernels are [in, out], like the variables).
const model = tfl.sequential();
net.variables.forEach((v, i) => {
  if (i % 2 === 1) return;
  const last = i + 2 === net.variables.length;
  model.add(
    tfl.layers.dense({
      units: v.shape[1]!,
      activation: last ? 'linear' : 'relu',
      ...(i === 0 && { inputShape: [v.shape[0]!] }),
    }),
  );
});
model.setWeights(net.variables);

const round = (x: number) => Number(x.toPrecision(4));
const started = performance.now();
const H = hessian(model, { data: net.data, seed: 1 });
const trace = await H.trace({ probes: PROBES });
const frob = await H.frobenius({ probes: PROBES });
const top = await H.eigenvalues();
const exactSeconds = (performance.now() - started) / 1000;

const central = createHvp({
  variables: net.variables,
  loss: net.loss,
  data: net.data,
  method: 'central',
});
const centralTrace = await hutchinsonTrace(central, { probes: PROBES, seed: 1 });
const centralFrob = await frobeniusNormSquared(central, { probes: PROBES, seed: 1 });
const centralTop = await topEigenvalues(central, { seed: 1 });

const refused = await createHvp({ variables: net.variables, loss: net.loss, data: net.data })
  .apply(tf.ones([H.dimension]) as tf.Tensor1D)
  .then(
    () => 'not refused',
    (error: Error) => error.message,
  );

const results = {
  model: 'MLP 784 → 128 ×6 ReLU → 10 at He initialisation, 512 seeded random examples, 4 batches',
  backend,
  probes: PROBES,
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
net.dispose();
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench-results', 'table.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
