/**
 * Trajectories on the toy losses (toy.ts): the real @usam/optimizer step on
 * one tf.Variable of shape [2], so what is drawn is what the library does,
 * and the Hessian's measures along the path from @usam/measures' closed forms.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  dampedDeterminant,
  determinant,
  exact,
  frobenius,
  type Measure,
  maxEigenvalue,
  trace,
} from '@usam/measures';
import { createOptimizer } from './optimizers';
import type { RunSettings } from './settings';
import {
  type Point,
  TOY_DEFAULTS,
  TOY_LOSSES,
  TOY_MEASURE_NAMES,
  TOY_RUNS,
  type ToyLoss,
  type ToyMeasures,
  type ToyOptimizer,
  type ToyOptions,
  type ToyRequest,
  type ToyResponse,
  type Trajectory,
} from './toy';

const component = (x: tf.Tensor, i: number) => tf.squeeze(tf.slice(x, [i], [1]));

/** The toy losses as tensor ops (differentiable), x = (x₁, x₂). */
export const TENSOR_LOSSES: Record<ToyLoss['name'], (x: tf.Tensor) => tf.Scalar> = {
  example1: (x) =>
    tf.tidy(() => tf.mul(0.5, tf.sub(tf.square(component(x, 0)), tf.square(component(x, 1))))),
  example2: (x) =>
    tf.tidy(() => tf.square(tf.sub(tf.mul(component(x, 0), component(x, 1)), 1)) as tf.Scalar),
};

const MEASURES = {
  // trace('gaussian') is S = tr(H)/2 (Table 1).
  halfTrace: trace('gaussian'),
  frobenius: frobenius(),
  lambdaMax: maxEigenvalue(),
  determinant: determinant(2),
};

export function toyMeasures(toy: ToyLoss, [x1, x2]: Point): ToyMeasures {
  const H = toy.hessian(x1, x2);
  return {
    loss: toy.value(x1, x2),
    trace: 2 * exact(MEASURES.halfTrace, H),
    frobenius: exact(MEASURES.frobenius, H),
    lambdaMax: exact(MEASURES.lambdaMax, H),
    // Divergent as an integral where H is not positive definite; the closed form is still det H.
    determinant: exact(MEASURES.determinant, H, { allowDivergent: true }),
  };
}

/** The log damped determinant in d = 2, f(p) = e^{−p²} (docs/scale-invariant.md). */
const TOY_MEASURE = (): Measure => dampedDeterminant(2, { logarithm: true });

/** Runs `optimizer` on `toy` from `start` for `options.steps` plain gradient steps of size lr. */
export async function toyTrajectory(
  toy: ToyLoss,
  optimizer: ToyOptimizer,
  start: Point,
  options: ToyOptions = TOY_DEFAULTS,
  run: RunSettings = TOY_RUNS[optimizer],
): Promise<Trajectory> {
  const loss = TENSOR_LOSSES[toy.name];
  const x = tf.variable(tf.tensor1d([start[0], start[1]]));
  const base = tf.train.sgd(options.lr);
  const measure = TOY_MEASURE_NAMES[optimizer] && TOY_MEASURE();
  const opt = createOptimizer(run, {
    params: [x],
    base,
    weightDecay: 0,
    seed: options.seed,
    ...(measure && { measure }),
  });
  const path: Point[] = [start];
  let left: number | undefined;
  try {
    for (let step = 0; step < options.steps; step++) {
      await opt.step(() => loss(x));
      const [a, b] = await x.data();
      path.push([a!, b!]);
      if (!(Math.abs(a!) < 10 * toy.extent && Math.abs(b!) < 10 * toy.extent)) {
        left = step + 1;
        break;
      }
    }
  } finally {
    opt.dispose();
    x.dispose();
  }
  const measures = path.map((p) => toyMeasures(toy, p));
  return { optimizer, path, measures, ...(left !== undefined && { left }) };
}

export async function toyTrajectories(request: ToyRequest): Promise<ToyResponse> {
  const toy = TOY_LOSSES[request.toy];
  if (toy === undefined) {
    throw new Error(
      `toy must be one of ${Object.keys(TOY_LOSSES).join(', ')}, got '${request.toy}'.`,
    );
  }
  const trajectories: Trajectory[] = [];
  for (const optimizer of request.optimizers) {
    const run = request.runs?.[optimizer] ?? TOY_RUNS[optimizer];
    trajectories.push(await toyTrajectory(toy, optimizer, request.start, request.options, run));
  }
  return { type: 'trajectories', id: request.id, trajectories };
}
