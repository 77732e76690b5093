import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import {
  createHvp,
  firstBatches,
  frobeniusNormSquared,
  hutchinsonTrace,
  measureMonteCarlo,
  spectralDensity,
  topEigenvalues,
  twiceDifferentiableSoftmaxCrossEntropy,
} from '@usam/estimators';
import type { Measure } from '@usam/measures';
import { forward, trainableVariables } from '@usam/models';
import type { HessianQuantity } from './options';

/** An estimate with its standard error, as metrics.jsonl and sharpness.json hold them. */
export interface Estimated {
  readonly estimate: number;
  readonly standardError: number;
}

/**
 * The exact Hessian of a model's softmax cross-entropy over fixed data (eval
 * mode, exact double-backward HVPs), with the estimators of SPEC §5: the
 * `hessian(model, …)` API of @usam/estimators' interface.
 */
export interface ModelHessian {
  readonly dimension: number;
  trace(options: { probes: number; seed: number | string }): Promise<Estimated>;
  frobenius(options: { probes: number; seed: number | string }): Promise<Estimated>;
  eigenvalues(options: {
    k: number;
    seed: number | string;
  }): Promise<{ eigenvalues: number[]; residualNorms: number[]; converged: boolean[] }>;
  density(options: {
    iterations: number;
    probes: number;
    seed: number | string;
  }): Promise<
    Estimated & { grid: number[]; values: number[]; nodes: number[][]; weights: number[][] }
  >;
  measure(
    measure: Measure,
    options: { samples: number; seed: number | string },
  ): Promise<Estimated>;
  /** HVPs so far. */
  readonly products: number;
  dispose(): void;
}

/**
 * `ModelHessian` of `model` on `xs`/`ys` in batches of `batchSize`. The model
 * runs in eval mode (BatchNorm uses and keeps its running statistics) and the
 * loss is written to be twice differentiable (tfjs's softmaxCrossEntropy
 * silently drops second-order terms, SPEC §5).
 */
export function modelHessian(
  model: LayersModel,
  data: { xs: tf.Tensor; ys: tf.Tensor },
  batchSize = 128,
): ModelHessian {
  const examples = data.xs.shape[0]!;
  const batches = firstBatches(data.xs, data.ys, { examples, batchSize });
  const H = createHvp({
    variables: trainableVariables(model),
    data: batches,
    method: 'exact',
    loss: ({ xs, ys }) =>
      tf.tidy(() =>
        twiceDifferentiableSoftmaxCrossEntropy(ys, forward(model, xs, { training: false })),
      ),
  });
  const pick = ({ estimate, standardError }: Estimated): Estimated => ({ estimate, standardError });
  return {
    dimension: H.dimension,
    get products() {
      return H.products;
    },
    trace: async (o) => pick(await hutchinsonTrace(H, o)),
    frobenius: async (o) => pick(await frobeniusNormSquared(H, o)),
    eigenvalues: async (o) => topEigenvalues(H, o),
    density: async ({ iterations, probes, seed }) => {
      const slq = await spectralDensity(H, { steps: iterations, probes, seed });
      return {
        ...pick(slq),
        grid: slq.grid,
        values: slq.density,
        nodes: slq.nodes,
        weights: slq.weights,
      };
    },
    measure: async (measure, o) => pick(await measureMonteCarlo(H, measure, o)),
    dispose: () => tf.dispose(batches.flatMap((b) => [b.xs, b.ys])),
  };
}

/** The Hessian quantities `--hessian` asks for, each with its standard error. */
export async function measureHessian(
  H: ModelHessian,
  quantities: readonly HessianQuantity[],
  options: { probes: number; seed: string },
): Promise<Partial<Record<HessianQuantity, Estimated>>> {
  const result: Partial<Record<HessianQuantity, Estimated>> = {};
  for (const quantity of quantities) {
    const seed = `${options.seed}:${quantity}`;
    if (quantity === 'trace') result.trace = await H.trace({ probes: options.probes, seed });
    if (quantity === 'frobenius') {
      result.frobenius = await H.frobenius({ probes: options.probes, seed });
    }
    if (quantity === 'topEigenvalue') {
      const top = await H.eigenvalues({ k: 1, seed });
      // The residual ‖Hv − λv‖ bounds the distance to H's spectrum: reported as the error.
      result.topEigenvalue = {
        estimate: top.eigenvalues[0]!,
        standardError: top.residualNorms[0]!,
      };
    }
  }
  return result;
}
