import * as tf from '@tensorflow/tfjs-core';
import { ModelError } from './errors';

/**
 * A tfjs-layers `LayerVariable` (what `model.trainableWeights` holds),
 * duck-typed so that any tfjs-layers model works: `read()` returns the
 * underlying `tf.Variable` itself.
 */
export interface LayerVariableLike {
  read(): tf.Tensor;
}

/** A tfjs-layers model, or anything shaped like one. */
export interface ModelLike {
  readonly trainableWeights: readonly LayerVariableLike[];
  readonly nonTrainableWeights: readonly LayerVariableLike[];
}

/**
 * Duck-typed rather than `instanceof tf.Variable`: a bundler may load a second
 * copy of tfjs-core for tfjs-layers, whose Variables are then another class.
 */
const isVariable = (v: unknown): v is tf.Variable =>
  v instanceof tf.Variable ||
  (typeof v === 'object' &&
    v !== null &&
    typeof (v as tf.Variable).assign === 'function' &&
    typeof (v as tf.Variable).trainable === 'boolean');

function variablesOf(
  model: ModelLike,
  key: 'trainableWeights' | 'nonTrainableWeights',
  where: string,
): tf.Variable[] {
  const list = (model as unknown as Record<string, unknown> | null)?.[key];
  if (!Array.isArray(list)) {
    throw new ModelError(
      `${where}: expected a tfjs-layers model (with ${key}), got ${model === null ? 'null' : typeof model}; pass a tf.LayersModel.`,
    );
  }
  // A layer shared between two places of a model lists its weights once per
  // place in some containers; each variable counts once.
  const seen = new Set<tf.Variable>();
  (list as LayerVariableLike[]).forEach((w, i) => {
    const v = typeof w?.read === 'function' ? w.read() : w;
    if (!isVariable(v)) {
      throw new ModelError(
        `${where}: ${key}[${i}] is not a tfjs-layers weight (no read() giving a tf.Variable); pass a tf.LayersModel.`,
      );
    }
    seen.add(v);
  });
  return [...seen];
}

/** The model's trainable `tf.Variable`s, in `model.trainableWeights` order, each once. */
export function trainableVariables(model: ModelLike): tf.Variable[] {
  return variablesOf(model, 'trainableWeights', 'trainableVariables');
}

/**
 * The model's non-trainable `tf.Variable`s (BatchNorm moving mean and
 * variance), in `model.nonTrainableWeights` order, each once.
 */
export function nonTrainableVariables(model: ModelLike): tf.Variable[] {
  return variablesOf(model, 'nonTrainableWeights', 'nonTrainableVariables');
}

/** Saved values of a model's non-trainable state, restorable any number of times. */
export interface StateSnapshot {
  /** The variables saved, in `nonTrainableVariables` order. */
  readonly variables: readonly tf.Variable[];
  /** Assigns the saved values back: bit-exact, since nothing is recomputed. */
  restore(): void;
  /** Frees the saved values; idempotent. `restore` then throws. */
  dispose(): void;
  readonly isDisposed: boolean;
}

/**
 * Saves the non-trainable state of a model (BatchNorm running statistics):
 * a tfjs-layers BatchNormalization writes them on every training-mode
 * forward pass, and the perturbed passes of SAM-style optimizers must not
 * move them. Pass a variable list instead of a model to save other variables.
 *
 * Cheap: a saved value is a clone, which shares the variable's data until the
 * variable is assigned a new tensor (tfjs never writes variable data in
 * place). Saved values are kept, so they survive the `tf.tidy` they are made in.
 */
export function snapshotState(model: ModelLike | readonly tf.Variable[]): StateSnapshot {
  const variables = Array.isArray(model)
    ? [...(model as readonly tf.Variable[])]
    : nonTrainableVariables(model as ModelLike);
  variables.forEach((v, i) => {
    if (!isVariable(v)) {
      throw new ModelError(
        `snapshotState: entry ${i} is not a tf.Variable; pass a tfjs-layers model or tf.Variables.`,
      );
    }
    if (v.isDisposed) {
      throw new ModelError(
        `snapshotState: variable '${v.name}' is disposed; snapshot a live model.`,
      );
    }
  });
  const values = variables.map((v) => tf.keep(v.clone()));
  let disposed = false;
  return {
    variables,
    get isDisposed() {
      return disposed;
    },
    restore() {
      if (disposed) {
        throw new ModelError(
          'StateSnapshot.restore: the snapshot is disposed; take a new one with snapshotState(model).',
        );
      }
      variables.forEach((v, i) => {
        v.assign(values[i]!);
      });
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const t of values) t.dispose();
    },
  };
}

const isTensor = (t: unknown): t is tf.Tensor =>
  t instanceof tf.Tensor ||
  (typeof t === 'object' &&
    t !== null &&
    'dataId' in t &&
    typeof (t as tf.Tensor).dataSync === 'function');

/** Something with a tfjs-layers `apply`. */
export interface Applicable {
  apply(inputs: tf.Tensor | tf.Tensor[], kwargs?: { training?: boolean }): unknown;
}

/**
 * One forward pass. `training: true` runs BatchNorm (and dropout) in training
 * mode: batch statistics, and the running statistics are updated as a side
 * effect; `false` uses the running statistics and changes nothing. Returns
 * the single output (the models here output logits).
 */
export function forward(
  model: Applicable,
  x: tf.Tensor,
  options: { training: boolean },
): tf.Tensor {
  if (typeof options?.training !== 'boolean') {
    throw new ModelError(
      'forward: options.training must be true or false; pass { training: true } for a training pass, { training: false } for evaluation.',
    );
  }
  const out = model.apply(x, { training: options.training });
  const outputs = Array.isArray(out) ? out : [out];
  if (outputs.length !== 1 || !isTensor(outputs[0])) {
    tf.dispose(outputs.filter(isTensor));
    throw new ModelError(
      `forward: the model gave ${outputs.length} outputs; forward takes models with one tensor output.`,
    );
  }
  return outputs[0] as tf.Tensor;
}

/** Numbers of scalars in a model's weights. */
export interface ParameterCounts {
  /** Trainable scalars (what an optimizer updates). */
  readonly trainable: number;
  /** Non-trainable scalars (BatchNorm running mean and variance). */
  readonly nonTrainable: number;
  readonly total: number;
}

const size = (vs: readonly tf.Variable[]) => vs.reduce((n, v) => n + v.size, 0);

/** Scalars in the trainable and the non-trainable weights of a model. */
export function countParameters(model: ModelLike): ParameterCounts {
  const trainable = size(trainableVariables(model));
  const nonTrainable = size(nonTrainableVariables(model));
  return { trainable, nonTrainable, total: trainable + nonTrainable };
}

/** Trainable scalars of a model (what papers call its parameter count). */
export function parameterCount(model: ModelLike): number {
  return size(trainableVariables(model));
}
