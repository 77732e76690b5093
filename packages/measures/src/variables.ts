import * as tf from '@tensorflow/tfjs-core';
import { describeValue, type UsamError } from './errors';

/**
 * A tfjs-layers `LayerVariable` (what `model.trainableWeights` holds), duck-typed
 * so that no usam library needs a tfjs-layers dependency: `read()` returns the
 * underlying `tf.Variable` itself.
 */
export interface LayerVariableLike {
  read(): tf.Tensor;
}

/** A tfjs-layers model (or anything shaped like one): its trainable and non-trainable weights. */
export interface ModelLike {
  readonly trainableWeights: readonly LayerVariableLike[];
  readonly nonTrainableWeights: readonly LayerVariableLike[];
}

/** Whether `value` has a model's weight lists (a `ModelLike`) rather than being a list itself. */
export const isModelLike = (value: unknown): value is ModelLike =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  'trainableWeights' in value;

/** How `checkVariables` reports: the caller's error class, and its fixes where they differ. */
export interface VariableCheck {
  /** The error to throw, e.g. `(message) => new OptimizerError(message)`. */
  readonly fail: (message: string) => UsamError;
  /** What to do with a non-trainable variable; default: pass only trainable ones. */
  readonly notTrainable?: string;
  /** What the list is, in messages; default 'variables'. */
  readonly what?: string;
  /**
   * Default true. False for variables that are only saved and restored
   * (BatchNorm statistics): then only live `tf.Variable`s are required.
   */
  readonly trained?: boolean;
}

/**
 * The variables a gradient is taken with respect to, checked once for the
 * estimators and the optimizer: each a live, trainable float32 `tf.Variable`
 * (or a tfjs-layers weight, whose `read()` gives one), none listed twice. tfjs
 * gives a non-trainable variable no gradient and a repeated one a doubled
 * gradient, so both would be silently wrong. Whether an empty list is allowed,
 * and what to pass instead, is the caller's to say.
 */
export function checkVariables(
  where: string,
  list: readonly unknown[],
  {
    fail,
    notTrainable = 'pass only trainable variables',
    what = 'variables',
    trained = true,
  }: VariableCheck,
): tf.Variable[] {
  const names = new Set<string>();
  return list.map((p: unknown, i) => {
    const v =
      p instanceof tf.Variable
        ? p
        : typeof (p as LayerVariableLike | null)?.read === 'function'
          ? (p as LayerVariableLike).read()
          : p;
    if (!(v instanceof tf.Variable)) {
      throw fail(
        `${where}: ${what}[${i}] is not a tf.Variable or a tfjs-layers weight, got ${describeValue(p)}; pass tf.variable(...)s or model.trainableWeights.`,
      );
    }
    if (v.isDisposed) {
      throw fail(`${where}: ${what}[${i}] ('${v.name}') is disposed; pass live variables.`);
    }
    if (!trained) return v;
    if (!v.trainable) {
      throw fail(
        `${where}: variable '${v.name}' is not trainable, so tfjs gives it no gradient; ${notTrainable}.`,
      );
    }
    if (v.dtype !== 'float32') {
      throw fail(
        `${where}: variable '${v.name}' has dtype ${v.dtype}; only float32 variables can be differentiated.`,
      );
    }
    if (names.has(v.name)) {
      throw fail(`${where}: variable '${v.name}' is listed twice; list each variable once.`);
    }
    names.add(v.name);
    return v;
  });
}
