import * as tf from '@tensorflow/tfjs-core';
import { tensorList } from '@usam/measures';

/**
 * The base optimizer's step, x ← base(x, g), for every trained variable.
 * tfjs's SGD, momentum and Adam optimizers run 2–12 kernels per variable (48
 * for momentum on the bench MLP's 12 tensors); where the backend has the list
 * kernels (@usam/measures' `tensorList.weightedSum`, `momentum`, `adam`: one
 * dispatch over the whole list) the same update runs in one dispatch, with the
 * same rounding, the same slots and the same iteration count, so the result,
 * getWeights and a resume are bit for bit tfjs's (docs/optimizer-kernels.md). Any other optimizer, a
 * subclass, another copy of tfjs-core, or a backend without the kernels: the
 * base's own applyGradients.
 */
export function applyBaseStep(
  base: tf.Optimizer,
  variables: readonly tf.Variable[],
  gradients: readonly tf.Tensor[],
): void {
  const apply = base.applyGradients;
  const { LIST_KERNELS, hasListKernels } = tensorList;
  const fast = hasListKernels();
  if (
    apply === tf.MomentumOptimizer.prototype.applyGradients &&
    hasListKernels(LIST_KERNELS.momentum)
  ) {
    momentumStep(base as unknown as MomentumFields, variables, gradients);
  } else if (fast && apply === tf.SGDOptimizer.prototype.applyGradients) {
    sgdStep(base as unknown as SgdFields, variables, gradients);
  } else if (
    apply === tf.AdamOptimizer.prototype.applyGradients &&
    hasListKernels(LIST_KERNELS.adam)
  ) {
    adamStep(base as unknown as AdamFields, variables, gradients);
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

/** A slot as tfjs's optimizers keep it. */
type Slot = { originalName: string; variable: tf.Variable } | null | undefined;

/** tfjs-core 4.22's AdamOptimizer fields this reads and writes. */
interface AdamFields {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: Slot[];
  accumulatedSecondMoment: Slot[];
  incrementIterations(): void;
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
 * MomentumOptimizer, in one pass per tensor (tensorList.momentum), with its
 * slots created as it creates them.
 */
function momentumStep(
  base: MomentumFields,
  variables: readonly tf.Variable[],
  gradients: readonly tf.Tensor[],
) {
  const slots = variables.map((v, i) => {
    base.accumulations[i] ??= {
      originalName: `${v.name}/momentum`,
      variable: tf.tidy(() => tf.zerosLike(v).variable(false)),
    };
    return base.accumulations[i]!.variable;
  });
  const next = tensorList.momentum(variables, gradients, slots, {
    m: scalarValue(base.m),
    c: scalarValue(base.c),
    nesterov: base.useNesterov,
  });
  assignAll(slots, next.a);
  assignAll(variables, next.x);
  base.incrementIterations();
}

/**
 * Adam's step as tfjs's AdamOptimizer.applyGradients takes it, in one pass per
 * tensor (tensorList.adam): the slots `name/m` and `name/v` created as it
 * creates them (m then v, variable by variable: the same auto-generated
 * names), 1 − βᵢᵗ from its accBeta variables in float32, which then advance
 * by its own ops. Values, getWeights and a resume are bit for bit tfjs's.
 */
function adamStep(
  base: AdamFields,
  variables: readonly tf.Variable[],
  gradients: readonly tf.Tensor[],
) {
  const slot = (slots: Slot[], i: number, v: tf.Variable, suffix: string) => {
    slots[i] ??= {
      originalName: `${v.name}/${suffix}`,
      variable: tf.tidy(() => tf.zerosLike(v).variable(false)),
    };
    return slots[i]!.variable;
  };
  const first: tf.Variable[] = [];
  const second: tf.Variable[] = [];
  variables.forEach((v, i) => {
    first.push(slot(base.accumulatedFirstMoment, i, v, 'm'));
    second.push(slot(base.accumulatedSecondMoment, i, v, 'v'));
  });
  // tfjs: sub(1, accBeta) in float32; the variables change every step, so read each time.
  const [a1, a2] = [base.accBeta1, base.accBeta2].map((acc) => Math.fround(1 - acc.dataSync()[0]!));
  const { learningRate, beta1, beta2, epsilon } = base;
  const next = tensorList.adam(variables, gradients, first, second, {
    learningRate,
    beta1,
    beta2,
    epsilon,
    a1: a1!,
    a2: a2!,
  });
  assignAll(first, next.m);
  assignAll(second, next.v);
  assignAll(variables, next.x);
  tf.tidy(() => {
    base.accBeta1.assign(tf.mul(base.accBeta1, beta1));
    base.accBeta2.assign(tf.mul(base.accBeta2, beta2));
  });
  base.incrementIterations();
}
