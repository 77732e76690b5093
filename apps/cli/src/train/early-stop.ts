/**
 * The stopping rule of `usam train --patience W --min-delta δ` (docs/early-stopping.md):
 * train until test accuracy stops moving. An epoch *improves* when its test
 * accuracy exceeds the reference by more than δ; the reference starts at epoch
 * 1's accuracy and becomes each improving epoch's. The run stops after epoch e
 * once W epochs have passed since the last improvement (e − last ≥ W). Epochs
 * before the first improvement do not count: a model still on its initial
 * plateau (test accuracy flat at chance) has not started, it has not converged.
 */
export interface EarlyStop {
  /** The epoch (1-based) after which training stops. */
  readonly epoch: number;
  /** The last epoch that improved, and its test accuracy. */
  readonly bestEpoch: number;
  readonly bestTestAccuracy: number;
}

/**
 * Where the rule stops a run whose test accuracies per epoch are `accuracies`
 * (index 0 = epoch 1): the first epoch at which it fires, or undefined when it
 * has not fired by the last one.
 */
export function earlyStopEpoch(
  accuracies: readonly number[],
  patience: number,
  minDelta: number,
): EarlyStop | undefined {
  if (accuracies.length === 0) return undefined;
  let reference = accuracies[0]!;
  let last: number | undefined;
  for (let e = 2; e <= accuracies.length; e++) {
    const accuracy = accuracies[e - 1]!;
    if (accuracy > reference + minDelta) {
      reference = accuracy;
      last = e;
    } else if (last !== undefined && e - last >= patience) {
      return { epoch: e, bestEpoch: last, bestTestAccuracy: reference };
    }
  }
  return undefined;
}
