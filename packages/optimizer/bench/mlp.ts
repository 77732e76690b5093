/**
 * The benches' problem: the paper's MNIST MLP (784 → 128 ×5 → 10, ReLU,
 * softmax cross-entropy, 167,818 parameters in 12 tensors) on one fixed random
 * batch of 128, and every variant as the benches build it. Call after
 * `initBackend`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { tensorList } from '@usam/measures';
import { createModel } from '@usam/models';
import {
  asam,
  detSam,
  frobSam,
  type OptimizerOptions,
  plain,
  type SharpnessAwareOptimizer,
  sam,
  ssamF,
  traceSam,
} from '../src/index';

export const BATCH = 128;

export function mlpProblem() {
  const model = createModel('mlp', { seed: 1 });
  const xs = tf.randomUniform([BATCH, 784], 0, 1, 'float32', 1);
  const ys = tf.tidy(() =>
    tf.cast(tf.oneHot(tf.randomUniform([BATCH], 0, 10, 'int32', 2), 10), 'float32'),
  );
  const loss = () =>
    tf.tidy(
      () =>
        tf.losses.softmaxCrossEntropy(
          ys,
          model.apply(xs, { training: true }) as tf.Tensor,
        ) as tf.Scalar,
    );
  const fisherLosses = (count: number) =>
    Array.from(
      { length: count },
      (_, i) => () =>
        tf.tidy(() => {
          const x = tf.slice(xs, [i, 0], [1, 784]);
          const y = tf.slice(ys, [i, 0], [1, 10]);
          return tf.losses.softmaxCrossEntropy(y, model.apply(x) as tf.Tensor) as tf.Scalar;
        }),
    );
  const variants: [string, (o: OptimizerOptions) => SharpnessAwareOptimizer][] = [
    ['plain', (o) => plain(o)],
    ['sam', (o) => sam(o)],
    ['asam', (o) => asam(o)],
    ['ssamF', (o) => ssamF({ ...o, fisherLosses })],
    ['traceSam', (o) => traceSam(o)],
    ['traceSam (sphere)', (o) => traceSam({ ...o, mu: 'sphere' })],
    ['detSam', (o) => detSam(o)],
    ['frobSam (n=2)', (o) => frobSam(o)],
  ];
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return {
    model,
    variables,
    loss,
    variants,
    dispose() {
      model.dispose();
      tf.dispose([xs, ys]);
    },
  };
}

/**
 * Takes the list kernels (docs/optimizer-kernels.md) off the current backend
 * (`false`: tensorList, the base step and the samplers run tfjs's ops and
 * JavaScript, as before they existed) or puts them back, for interleaved
 * before/after runs. Call after `initBackend`.
 */
export function listKernelSwitch(): { available: boolean; use(on: boolean): void } {
  const kernels = Object.values(tensorList.LIST_KERNELS)
    .map((name) => tf.getKernel(name, tf.getBackend()))
    .filter((k) => k !== undefined);
  return {
    available: kernels.length > 0,
    use(on) {
      for (const k of kernels) {
        const has = tf.getKernel(k.kernelName, k.backendName) !== undefined;
        if (on && !has) tf.registerKernel(k);
        if (!on && has) tf.unregisterKernel(k.kernelName, k.backendName);
      }
    },
  };
}
