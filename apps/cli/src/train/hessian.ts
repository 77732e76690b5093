import type { ModelHessian } from '@usam/estimators';
import type { Estimated, HessianQuantity } from './schema';

export type { Estimated } from './schema';

/**
 * The Hessian quantities `--hessian` asks for, each with its standard error
 * (for the top eigenvalue: the residual ‖Hv − λv‖, which bounds the distance
 * to H's spectrum). `H` is @usam/estimators' exact `hessian(model, …)`.
 */
export async function measureHessian(
  H: ModelHessian,
  quantities: readonly HessianQuantity[],
  options: { probes: number; seed: string; signal?: AbortSignal | undefined },
): Promise<Partial<Record<HessianQuantity, Estimated>>> {
  const result: Partial<Record<HessianQuantity, Estimated>> = {};
  for (const quantity of quantities) {
    // Signals are seen between quantities (each runs without yielding to the event loop).
    await new Promise((resolve) => setImmediate(resolve));
    if (options.signal?.aborted) break;
    const seed = `${options.seed}:${quantity}`;
    if (quantity === 'topEigenvalue') {
      const top = await H.eigenvalues({ k: 1, seed });
      // Whether power iteration settled: if not, the value is only a Rayleigh quotient.
      result.topEigenvalue = {
        estimate: top.estimate,
        standardError: top.standardError,
        converged: top.converged[0]!,
      };
    } else {
      const probes = { probes: options.probes, seed };
      const e = quantity === 'trace' ? await H.trace(probes) : await H.frobenius(probes);
      result[quantity] = { estimate: e.estimate, standardError: e.standardError };
    }
  }
  return result;
}
