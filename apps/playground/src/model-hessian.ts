/**
 * The Hessian quantities the playground shows, from @usam/estimators' model
 * API: exact Hessian-vector products (reverse over reverse; the MLP and CNN
 * are ReLU nets, where central differences are badly wrong, SPEC §5) of the
 * twice-differentiable softmax cross-entropy, in eval mode, over a fixed
 * subset of training examples.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { type HessianModel, hessian } from '@usam/estimators';
import type { EstimateWithError } from './protocol';

export interface PlaygroundHessian {
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

const pick = ({ estimate, standardError }: EstimateWithError) => ({ estimate, standardError });

/** The Hessian of the mean loss over `xs`, `ys` (the caller keeps and disposes those). */
export function modelHessian(
  model: HessianModel,
  data: { xs: tf.Tensor; ys: tf.Tensor },
): PlaygroundHessian {
  const H = hessian(model, { data, loss: 'softmaxCrossEntropy', batchSize: 128 });
  return {
    trace: async ({ probes, seed }) => pick(await H.trace({ probes, seed })),
    frobenius: async ({ probes, seed }) => pick(await H.frobenius({ probes, seed })),
    topEigenvalue: async ({ seed }) => pick(await H.eigenvalues({ k: 1, seed })),
    density: async ({ steps, probes, seed }) => {
      const slq = await H.density({ iterations: steps, probes, seed });
      return { grid: slq.grid, density: slq.values, trace: pick(slq) };
    },
    dispose: () => H.dispose(),
  };
}
