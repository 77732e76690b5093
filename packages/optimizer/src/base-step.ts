import * as tf from '@tensorflow/tfjs-core';
import { tensorList } from '@usam/measures';

/**
 * The base optimizer's step, x ← base(x, g), for every trained variable.
 * tfjs's SGD and momentum optimizers run 2–4 kernels per variable (48 for the
 * bench MLP's 12 tensors); where the backend has the list kernels
 * (@usam/measures' `tensorList.weightedSum`, one dispatch over the whole list)
 * the same update runs in 2–3 dispatches, with the same rounding, the same
 * slots and the same iteration count, so the result, getWeights and a resume
 * are bit for bit tfjs's (docs/optimizer-kernels.md). Any other optimizer, a
 * subclass, another copy of tfjs-core, or a backend without the kernels: the
 * base's own applyGradients.
 */
export function applyBaseStep(
  base: tf.Optimizer,
  variables: readonly tf.Variable[],
  gradients: readonly tf.Tensor[],
): void {
  const apply = base.applyGradients;
  const fast = tensorList.hasListKernels();
  if (fast && apply === tf.MomentumOptimizer.prototype.applyGradients) {
    momentumStep(base as unknown as MomentumFields, variables, gradients);
  } else if (fast && apply === tf.SGDOptimizer.prototype.applyGradients) {
    sgdStep(base as unknown as SgdFields, variables, gradients);
  } else {
    const named: tf.NamedTensorMap = {};
    variables.forEach((v, k) => {
      named[v.name] = gradients[k]!;
    });
    base.applyGradients(named);
  }
}

/** tfjs-core 4.22's SGDOptimizer fields this reads (c = −lr as a float32 scalar). */
interface SgdFields {
  c: tf.Scalar;
  incrementIterations(): void;
}

/** tfjs-core 4.22's MomentumOptimizer fields this reads and writes. */
interface MomentumFields extends SgdFields {
  m: tf.Scalar;
  useNesterov: boolean;
  accumulations: ({ originalName: string; variable: tf.Variable } | null | undefined)[];
}

/**
 * A scalar tensor's value, read once per tensor (tensors are immutable; tfjs
 * replaces c on setLearningRate). The tensor's own value, not the optimizer's
 * number: tfjs's setMomentum changes `momentum` but keeps multiplying by m.
 */
const scalars = new WeakMap<tf.Tensor, number>();
function scalarValue(t: tf.Scalar): number {
  let v = scalars.get(t);
  if (v === undefined) {
    v = t.dataSync()[0]!;
    scalars.set(t, v);
  }
  return v;
}

function assignAll(variables: readonly tf.Variable[], values: tf.Tensor[]) {
  variables.forEach((v, k) => {
    v.assign(values[k]!);
  });
  tensorList.dispose(values);
}

/** x ← x + c·g, as tfjs's add(mul(c, g), x). */
function sgdStep(
  base: SgdFields,
  variables: readonly tf.Variable[],
  gradients: readonly tf.Tensor[],
) {
  assignAll(variables, tensorList.weightedSum([gradients, variables], [scalarValue(base.c), 1]));
  base.incrementIterations();
}

/**
 * a ← m·a + g, then x ← x + c·a (Nesterov: x ← x + c·(g + m·a)), as tfjs's
 * MomentumOptimizer, with its slots created as it creates them.
 */
function momentumStep(
  base: MomentumFields,
  variables: readonly tf.Variable[],
  gradients: readonly tf.Tensor[],
) {
  const [m, c] = [scalarValue(base.m), scalarValue(base.c)];
  const slots = variables.map((v, i) => {
    base.accumulations[i] ??= {
      originalName: `${v.name}/momentum`,
      variable: tf.tidy(() => tf.zerosLike(v).variable(false)),
    };
    return base.accumulations[i]!.variable;
  });
  const accumulated = tensorList.weightedSum([slots, gradients], [m, 1]);
  const step = base.useNesterov
    ? tensorList.weightedSum([gradients, accumulated], [1, m])
    : accumulated;
  const values = tensorList.weightedSum([step, variables], [c, 1]);
  if (step !== accumulated) tensorList.dispose(step);
  assignAll(slots, accumulated);
  assignAll(variables, values);
  base.incrementIterations();
}
