/**
 * The Hessian of a model's training loss over a fixed subset of examples, in
 * eval mode, from exact Hessian-vector products (reverse over reverse): the
 * MLP and CNN are ReLU nets, where central differences are badly wrong (SPEC
 * §5). The loss is written with `twiceDifferentiableSoftmaxCrossEntropy`
 * because tfjs's own softmax cross-entropy silently drops second-order terms.
 *
 * This is the shape of @usam/estimators' model API (`hessian(model, …)`,
 * issue 12) over the functional estimators main has today, so switching to
 * that API is a change of this file only.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  createHvp,
  firstBatches,
  frobeniusNormSquared,
  hutchinsonTrace,
  spectralDensity,
  topEigenvalues,
  twiceDifferentiableSoftmaxCrossEntropy,
} from '@usam/estimators';
import { forward, type ModelLike, trainableVariables } from '@usam/models';
import type { EstimateWithError } from './protocol';

export interface ModelHessian {
  trace(options: { probes: number; seed: number }): Promise<EstimateWithError>;
  frobenius(options: { probes: number; seed: number }): Promise<EstimateWithError>;
  /** λ_max by power iteration; the error bar is the residual ‖Hv − λv‖, which bounds the error. */
  topEigenvalue(options: { seed: number }): Promise<EstimateWithError>;
  density(options: { steps: number; probes: number; seed: number }): Promise<{
    grid: number[];
    density: number[];
    trace: EstimateWithError;
  }>;
  dispose(): void;
}

type Model = ModelLike & { apply(x: tf.Tensor, kwargs?: { training?: boolean }): unknown };

/** The Hessian of the mean loss over `xs`, `ys` (the caller keeps and disposes those). */
export function modelHessian(
  model: Model,
  data: { xs: tf.Tensor; ys: tf.Tensor },
  options: { batchSize?: number } = {},
): ModelHessian {
  const batches = firstBatches(data.xs, data.ys, {
    examples: data.xs.shape[0]!,
    batchSize: options.batchSize ?? 128,
  });
  const H = createHvp({
    variables: trainableVariables(model),
    data: batches,
    method: 'exact',
    loss: ({ xs, ys }) =>
      tf.tidy(() =>
        twiceDifferentiableSoftmaxCrossEntropy(ys, forward(model, xs, { training: false })),
      ),
  });
  const pick = ({ estimate, standardError }: EstimateWithError) => ({ estimate, standardError });
  return {
    trace: async ({ probes, seed }) => pick(await hutchinsonTrace(H, { probes, seed })),
    frobenius: async ({ probes, seed }) => pick(await frobeniusNormSquared(H, { probes, seed })),
    topEigenvalue: async ({ seed }) => pick(await topEigenvalues(H, { k: 1, seed })),
    density: async ({ steps, probes, seed }) => {
      const slq = await spectralDensity(H, { steps, probes, seed });
      return { grid: slq.grid, density: slq.density, trace: pick(slq) };
    },
    dispose: () => tf.dispose(batches.flatMap((b) => [b.xs, b.ys])),
  };
}
