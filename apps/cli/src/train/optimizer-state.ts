import * as tf from '@tensorflow/tfjs-core';
import type { SharpnessAwareOptimizer } from '@usam/optimizer';
import * as optimizerPackage from '@usam/optimizer';
import { UsageError } from '../cli/errors';

/** The optimizer's full state as two files' contents: JSON and raw bytes. */
export interface EncodedState {
  readonly json: string;
  readonly data: Uint8Array;
}

/** @usam/optimizer 1.0's savable state (getState/setState and their encoding). */
interface StatefulPackage {
  encodeOptimizerState(state: unknown): Promise<EncodedState>;
  decodeOptimizerState(json: string, data: Uint8Array): unknown;
}
interface Stateful {
  getState(): Promise<unknown>;
  setState(state: unknown): Promise<void>;
}

const pkg = optimizerPackage as unknown as Partial<StatefulPackage>;
const stateful = (o: SharpnessAwareOptimizer): o is SharpnessAwareOptimizer & Stateful =>
  typeof (o as Partial<Stateful>).getState === 'function' &&
  typeof pkg.encodeOptimizerState === 'function';

/**
 * Optimizers with state beyond the base slots: the RNG position of random
 * perturbations, SSAM-F's mask.
 */
const BEYOND_SLOTS = new Set(['universalSam', 'frobSam', 'traceSam', 'detSam', 'ssamF']);

const FALLBACK = 'usam-cli/base-slots@1';

/**
 * Saves the optimizer's full state: with @usam/optimizer's `getState` when it
 * has one (base slots, RNG position, masks, counters); otherwise the base
 * optimizer's slots and the counters, which is all SGD, SAM and ASAM hold.
 */
export async function encodeState(optimizer: SharpnessAwareOptimizer): Promise<EncodedState> {
  if (stateful(optimizer)) return pkg.encodeOptimizerState!(await optimizer.getState());
  const slots = await optimizer.base.getWeights();
  const { data, specs } = await tf.io.encodeWeights(slots);
  const json = JSON.stringify({ format: FALLBACK, counters: optimizer.counters, specs });
  return { json, data: new Uint8Array(data) };
}

/** Restores what `encodeState` saved into a freshly built optimizer of the same run. */
export async function restoreState(
  optimizer: SharpnessAwareOptimizer,
  encoded: EncodedState,
): Promise<void> {
  const parsed = JSON.parse(encoded.json) as { format?: string };
  if (parsed.format !== FALLBACK) {
    if (!stateful(optimizer)) {
      throw new UsageError(
        'the checkpoint holds an optimizer state this @usam/optimizer cannot read; resume with the usam version that wrote it.',
      );
    }
    await optimizer.setState(pkg.decodeOptimizerState!(encoded.json, encoded.data));
    return;
  }
  if (BEYOND_SLOTS.has(optimizer.name)) {
    throw new UsageError(
      `cannot resume ${optimizer.name} exactly: this @usam/optimizer does not save its random-number position or mask; start the run over with --force.`,
    );
  }
  const { counters, specs } = JSON.parse(encoded.json) as {
    counters: SharpnessAwareOptimizer['counters'];
    specs: tf.io.WeightsManifestEntry[];
  };
  const buffer = encoded.data.buffer.slice(
    encoded.data.byteOffset,
    encoded.data.byteOffset + encoded.data.byteLength,
  ) as ArrayBuffer;
  const named = tf.io.decodeWeights(buffer, specs);
  try {
    await optimizer.base.setWeights(specs.map((s) => ({ name: s.name, tensor: named[s.name]! })));
  } finally {
    tf.dispose(Object.values(named)); // setWeights copies them into new variables
  }
  Object.assign(optimizer.counters, counters);
}
