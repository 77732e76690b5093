import {
  decodeOptimizerState,
  disposeOptimizerState,
  encodeOptimizerState,
  type SharpnessAwareOptimizer,
} from '@usam/optimizer';

/** The optimizer's full state as two files' contents: JSON and raw bytes. */
export interface EncodedState {
  readonly json: string;
  readonly data: Uint8Array;
}

/**
 * The optimizer's full state (base optimizer slots, RNG position, SSAM-F's
 * mask, counters), encoded by @usam/optimizer.
 */
export async function encodeState(optimizer: SharpnessAwareOptimizer): Promise<EncodedState> {
  const state = await optimizer.getState();
  try {
    return await encodeOptimizerState(state);
  } finally {
    disposeOptimizerState(state);
  }
}

/** Restores what `encodeState` saved into a freshly built optimizer of the same run. */
export async function restoreState(
  optimizer: SharpnessAwareOptimizer,
  encoded: EncodedState,
): Promise<void> {
  const state = decodeOptimizerState(encoded.json, encoded.data);
  try {
    await optimizer.setState(state);
  } finally {
    disposeOptimizerState(state); // setState copies the tensors
  }
}
