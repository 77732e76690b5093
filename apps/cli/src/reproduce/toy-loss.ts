import * as tf from '@tensorflow/tfjs-core';
import type { SharpnessAwareOptimizer } from '@usam/optimizer';

/**
 * The scale-invariant toy loss L = (x₁x₂ − 1)² of the explicit-bias checks
 * (explicit-bias.ts, scale-invariant-bias.ts): its Hessian and one training run.
 */

/** H of (x₁x₂ − 1)²: [[2x₂², 4p − 2], [4p − 2, 2x₁²]], p = x₁x₂. */
export const toyHessian = ([a, b]: [number, number]) => [
  [2 * b * b, 4 * a * b - 2],
  [4 * a * b - 2, 2 * a * a],
];

/** tr H of the toy loss at a point. */
export const toyTrace = ([a, b]: [number, number]) => 2 * (a * a + b * b);

/** What a toy run's optimizer is built from: x, SGD at the toy learning rate, the seed. */
export interface ToyContext {
  readonly params: tf.Variable[];
  readonly base: tf.Optimizer;
  readonly seed: number;
}

/** One method on the toy loss: its name, its settings as printed, how to build it. */
export type ToyMethod = [
  method: string,
  settings: string,
  build: (context: ToyContext) => SharpnessAwareOptimizer,
];

/** The toy runs' learning rate (plain SGD as the base optimizer). */
export const TOY_LEARNING_RATE = 0.01;

/** `steps` steps of `build`'s optimizer on L from `start`; where x ended. */
export async function trainToy(
  start: [number, number],
  build: ToyMethod[2],
  seed: number,
  steps: number,
): Promise<[number, number]> {
  const x = tf.variable(tf.tensor1d(start));
  const loss = () => tf.tidy(() => tf.square(tf.sub(tf.prod(x), 1)) as tf.Scalar);
  const optimizer = build({ params: [x], base: tf.train.sgd(TOY_LEARNING_RATE), seed });
  try {
    for (let i = 0; i < steps; i++) await optimizer.step(loss);
    return Array.from(await x.data()) as [number, number];
  } finally {
    optimizer.dispose();
    x.dispose();
  }
}
