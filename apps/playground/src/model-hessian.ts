/**
 * The Hessian quantities the playground shows, from @usam/estimators' model
 * API: exact Hessian-vector products (reverse over reverse; the MLP and CNN
 * are ReLU nets, where central differences are badly wrong) of the
 * twice-differentiable softmax cross-entropy, in eval mode, over a fixed
 * subset of training examples. The seeds are `usam train`'s, so that the
 * exported command measures the same probes (docs/playground.md).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { type HessianModel, hessian } from '@usam/estimators';
import type { EpochMetrics, EstimateWithError } from './protocol';

/** usam train's seed of the measurements at the end of `epoch` (1-based) of a run seeded `seed`. */
export const hessianSeed = (seed: number, epoch: number) => `${seed}:epoch${epoch}`;

export interface PlaygroundHessian {
  /**
   * tr H and ‖H‖_F² (Hutchinson, `probes` each, ± standard error) and the
   * eigenvalue of largest magnitude (power iteration, ± the residual
   * ‖Hv − λv‖, which bounds its error), each seeded `${seed}:${quantity}`.
   */
  measure(options: { probes: number; seed: string }): Promise<NonNullable<EpochMetrics['hessian']>>;
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
    async measure({ probes, seed }) {
      const trace = pick(await H.trace({ probes, seed: `${seed}:trace` }));
      const frobenius = pick(await H.frobenius({ probes, seed: `${seed}:frobenius` }));
      const top = await H.eigenvalues({ k: 1, seed: `${seed}:topEigenvalue` });
      return {
        trace,
        frobenius,
        topEigenvalue: {
          estimate: top.estimate,
          standardError: top.standardError,
          converged: top.converged[0]!,
        },
      };
    },
    density: async ({ steps, probes, seed }) => {
      const slq = await H.density({ iterations: steps, probes, seed });
      return { grid: slq.grid, density: slq.values, trace: pick(slq) };
    },
    dispose: () => H.dispose(),
  };
}
