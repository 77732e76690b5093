import * as tf from '@tensorflow/tfjs-core';

/** The parts of tfjs-core 4's engine state a failed gradient leaves behind (internals). */
interface TapeState {
  gradientDepth?: number;
  activeTape?: { saved?: tf.Tensor[] }[] | null;
}

/**
 * `tf.variableGrads(f, variables)`, leaving no tensor behind when it throws.
 * tfjs keeps a copy of every tensor a recorded op saves for its backward pass
 * and frees them only when the gradient completes, so a loss that throws
 * (or returns a tensor the caller then refuses) leaks them, and its
 * "Cannot find a connection" error leaks the loss value. On a throw this frees
 * the loss value and, once no outer gradient is recording (the outermost
 * call of a nested, second-order one), the abandoned tape's saved tensors.
 * The one gradient entry point of @usam/optimizer and @usam/estimators.
 */
export function variableGrads(
  f: () => tf.Scalar,
  variables: readonly tf.Variable[],
): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  let value: tf.Scalar | undefined;
  // Tensor ids only grow: a value with an id below this was made before the call (the caller's).
  const firstId = (tf.engine() as unknown as { nextTensorId?: () => number }).nextTensorId?.();
  try {
    return tf.variableGrads(() => {
      value = f();
      return value;
    }, [...variables]);
  } catch (error) {
    const made = value instanceof tf.Tensor && firstId !== undefined && value.id >= firstId;
    if (made && !value!.isDisposed) value!.dispose();
    freeAbandonedTape();
    throw error;
  }
}

function freeAbandonedTape(): void {
  const state = tf.engine().state as unknown as TapeState;
  if (state.gradientDepth !== 0 || !Array.isArray(state.activeTape)) return;
  for (const node of state.activeTape) for (const t of node.saved ?? []) t.dispose();
  state.activeTape = null;
}
