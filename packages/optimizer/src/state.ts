import * as tf from '@tensorflow/tfjs-core';
import type { RngState } from '@usam/measures';
import { describe, OptimizerError } from './errors';
import type { Counters } from './types';

/**
 * Everything an optimizer needs to continue a run bit for bit (`getState`,
 * `setState`): the base optimizer's slots (momentum, Adam's moments, its
 * iteration count), the perturbation stream's position, the perturbation's
 * own state (SSAM-F's mask and the epoch it was made at), the learning rate
 * and the running counters. Tensors are named:
 *
 * - `base/iter`: the base optimizer's iteration count;
 * - `base/<i>/<slot>`: a slot of the i-th trained variable (by position, so a
 *   fresh model with other variable names takes it; `<slot>` is tfjs's suffix,
 *   e.g. `momentum`, `m`, `v`);
 * - `base/@<name>`: a slot of a variable not trained when saved (a frozen layer);
 * - `perturbation/<k>`: the perturbation's tensors, in its order.
 *
 * The tensors are copies owned by whoever holds the state: dispose them
 * (`disposeOptimizerState`) when done.
 */
export interface OptimizerState {
  readonly format: 'usam-optimizer-state';
  readonly version: 1;
  /** The variant that saved it ('frobSam', 'sam', …); `setState` checks it. */
  readonly optimizer: string;
  readonly counters: Counters;
  readonly learningRate: number | null;
  readonly rng: RngState;
  /** The perturbation's JSON state (null where it has none). */
  readonly perturbation: Record<string, unknown> | null;
  readonly tensors: readonly NamedState[];
}

/** One named tensor of a state. */
export interface NamedState {
  readonly name: string;
  readonly tensor: tf.Tensor;
}

/**
 * The base optimizer's weights (tfjs's `getWeights`, slots named
 * `<variable>/<slot>`) as the state's tensors: keyed by the position of their
 * variable among the trained `names`, as documented on `OptimizerState`.
 * Slot tensors are cloned, the fresh `iter` scalar is taken as it is.
 */
export function encodeBaseSlots(
  weights: readonly NamedState[],
  names: readonly string[],
): NamedState[] {
  return weights.map(({ name, tensor }) => {
    if (name === 'iter') return { name: 'base/iter', tensor }; // a fresh scalar: ours
    const cut = name.lastIndexOf('/');
    const i = names.indexOf(name.slice(0, cut));
    const key = i >= 0 ? `base/${i}/${name.slice(cut + 1)}` : `base/@${name}`;
    return { name: key, tensor: tensor.clone() };
  });
}

/**
 * The inverse of `encodeBaseSlots` for the variables trained now: the state's
 * `base/…` tensors renamed for tfjs's `setWeights` (`iter` first). Fails when
 * the state has slots for more variables than are trained, or a slot whose
 * shape is not its variable's (every tfjs optimizer's slots are shaped like
 * the variable), before anything is restored.
 */
export function decodeBaseSlots(
  state: OptimizerState,
  variables: readonly { readonly name: string; readonly shape: readonly number[] }[],
  where: string,
): NamedState[] {
  const base: NamedState[] = [];
  for (const { name, tensor } of state.tensors) {
    if (!name.startsWith('base/')) continue;
    if (!(tensor instanceof tf.Tensor)) {
      throw new OptimizerError(
        `${where}: the state's '${name}' is ${describe(tensor)}, not a tensor; pass what getState or decodeOptimizerState returned.`,
      );
    }
    const key = name.slice('base/'.length);
    if (key === 'iter') {
      if (tensor.rank !== 0) {
        throw new OptimizerError(
          `${where}: the state's 'base/iter' has shape [${tensor.shape}], expected a scalar (the base optimizer's iteration count); pass what getState returned.`,
        );
      }
      base.unshift({ name: 'iter', tensor });
    } else if (key.startsWith('@')) base.push({ name: key.slice(1), tensor });
    else {
      const cut = key.indexOf('/');
      const index = Number(key.slice(0, cut));
      const owner = variables[index];
      if (owner === undefined) {
        throw new OptimizerError(
          `${where}: the state has slots for variable ${key.slice(0, cut)} but ${variables.length} variables are trained; restore into the same architecture.`,
        );
      }
      if (!sameShape(tensor.shape, owner.shape)) {
        throw new OptimizerError(
          `${where}: the state's slot '${name}' has shape [${tensor.shape}] but trained variable ${index} ('${owner.name}') has shape [${owner.shape}]; restore a state saved over the same architecture.`,
        );
      }
      base.push({ name: `${owner.name}/${key.slice(cut + 1)}`, tensor });
    }
  }
  return base;
}

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((n, i) => n === b[i]);

/** The perturbation's tensors as the state names them (`perturbation/<k>`). */
export const encodePerturbationTensors = (tensors: readonly tf.Tensor[]): NamedState[] =>
  tensors.map((tensor, k) => ({ name: `perturbation/${k}`, tensor }));

/** The perturbation's tensors of a state, in order. */
export const decodePerturbationTensors = (state: OptimizerState): tf.Tensor[] =>
  state.tensors.filter((t) => t.name.startsWith('perturbation/')).map((t) => t.tensor);

/** Disposes a state's tensors. */
export function disposeOptimizerState(state: OptimizerState): void {
  for (const { tensor } of state.tensors) tensor.dispose();
}

interface TensorSpec {
  readonly name: string;
  readonly dtype: 'float32' | 'int32';
  readonly shape: number[];
  readonly offset: number;
  readonly length: number;
}

/**
 * The state as JSON text (everything but tensor values, plus where each tensor
 * lies in `data`) and one binary blob of the values, little-endian as the
 * platform's typed arrays (every JavaScript engine in use). Browser-safe.
 */
export async function encodeOptimizerState(
  state: OptimizerState,
): Promise<{ json: string; data: Uint8Array }> {
  checkState(state, 'encodeOptimizerState');
  const parts: Uint8Array[] = [];
  const specs: TensorSpec[] = [];
  let offset = 0;
  for (const { name, tensor } of state.tensors) {
    if (tensor.dtype !== 'float32' && tensor.dtype !== 'int32') {
      throw new OptimizerError(
        `encodeOptimizerState: tensor '${name}' has dtype ${tensor.dtype}; only float32 and int32 states are saved.`,
      );
    }
    const values = (await tensor.data()) as Float32Array | Int32Array;
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
    specs.push({
      name,
      dtype: tensor.dtype,
      shape: [...tensor.shape],
      offset,
      length: bytes.length,
    });
    parts.push(bytes);
    offset += bytes.length;
  }
  const data = new Uint8Array(offset);
  let at = 0;
  for (const part of parts) {
    data.set(part, at);
    at += part.length;
  }
  const { tensors: _, ...rest } = state;
  return { json: JSON.stringify({ ...rest, tensors: specs }), data };
}

/** Reads `encodeOptimizerState`'s output back into a state (new tensors, owned by the caller). */
export function decodeOptimizerState(json: string, data: Uint8Array): OptimizerState {
  let parsed: Omit<OptimizerState, 'tensors'> & { tensors: TensorSpec[] };
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new OptimizerError(
      'decodeOptimizerState: json is not valid JSON; pass the json string encodeOptimizerState returned.',
      { cause: error },
    );
  }
  if (!(data instanceof Uint8Array)) {
    throw new OptimizerError(
      `decodeOptimizerState: data must be the Uint8Array encodeOptimizerState returned, got ${describe(data)}.`,
    );
  }
  checkState(parsed as unknown as OptimizerState, 'decodeOptimizerState');
  parsed.tensors.forEach((spec, i) => {
    checkSpec(spec, i);
  });
  const tensors = parsed.tensors.map((spec) => {
    if (spec.offset + spec.length > data.length) {
      throw new OptimizerError(
        `decodeOptimizerState: tensor '${spec.name}' lies past the end of data (${data.length} bytes); pass the data saved with this json.`,
      );
    }
    const bytes = data.slice(spec.offset, spec.offset + spec.length);
    const values =
      spec.dtype === 'int32' ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer);
    return { name: spec.name, tensor: tf.tensor(values, spec.shape, spec.dtype) };
  });
  return { ...parsed, tensors };
}

/**
 * Throws unless the i-th tensor spec of a json is one `encodeOptimizerState`
 * could have written: a name, float32 or int32, a shape of natural numbers, and
 * a byte range of exactly 4 bytes per entry.
 */
function checkSpec(spec: TensorSpec, i: number): void {
  const where = 'decodeOptimizerState';
  const natural = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
  if (spec === null || typeof spec !== 'object' || typeof spec.name !== 'string') {
    throw new OptimizerError(
      `${where}: tensors[${i}] in json is ${describe(spec)}, expected { name, dtype, shape, offset, length }; pass the json encodeOptimizerState returned.`,
    );
  }
  const bad = (field: string, got: unknown, accepted: string) =>
    new OptimizerError(
      `${where}: tensor '${spec.name}' has ${field} ${JSON.stringify(got) ?? String(got)}, expected ${accepted}; pass the json encodeOptimizerState returned.`,
    );
  if (spec.dtype !== 'float32' && spec.dtype !== 'int32') {
    throw bad('dtype', spec.dtype, "'float32' or 'int32'");
  }
  if (!Array.isArray(spec.shape) || !spec.shape.every(natural)) {
    throw bad('shape', spec.shape, 'a list of non-negative integers');
  }
  if (!natural(spec.offset)) throw bad('offset', spec.offset, 'a non-negative integer');
  const entries = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.length !== 4 * entries) {
    throw bad('length', spec.length, `${4 * entries} bytes (4 per entry of shape [${spec.shape}])`);
  }
}

/** Throws unless `state` looks like an `OptimizerState`. */
export function checkState(state: OptimizerState, where: string): void {
  const ok =
    typeof state === 'object' &&
    state !== null &&
    state.format === 'usam-optimizer-state' &&
    state.version === 1 &&
    Array.isArray(state.tensors);
  if (!ok) {
    throw new OptimizerError(
      `${where}: not an optimizer state (format 'usam-optimizer-state', version 1); pass what getState or decodeOptimizerState returned.`,
    );
  }
}
