import * as tf from '@tensorflow/tfjs-core';
import { dimensionOf, tensorList } from '@usam/measures';
import { type DataSource, defaultBatchSize, openData } from './data';
import { EstimatorError, requireOptions, requirePositive } from './errors';
import { describe } from './operator';
import { customGradsOnPath, secondOrderGradientsRegistered, tapeLength } from './second-order';

/**
 * A symmetric linear operator v ↦ Hv on R^d: what every estimator needs.
 * `createHvp` builds one from a loss and data; tests and users can also wrap
 * an explicit matrix.
 */
export interface HessianOperator {
  /** d, the number of parameters. */
  readonly dimension: number;
  /**
   * Hv for a flat v of length d (the parameters concatenated in order, each
   * flattened row-major). The caller owns, and disposes, both v and the result.
   */
  apply(v: tf.Tensor1D): Promise<tf.Tensor1D>;
}

/**
 * How Hv is computed.
 *
 * `exact` (default): reverse over reverse, Hv = ∇(v · ∇L), exact to float32
 * rounding, one double-backward pass per batch. It needs the second-order
 * gradients `initBackend` (@usam/backend) registers (checked: without them
 * createHvp fails and says so). tfjs customGrad ops drop their second-order
 * terms (`tf.losses.softmaxCrossEntropy`, `tf.logSoftmax`, `tf.logSigmoid`,
 * any user customGrad): the first product inspects the ops the loss recorded
 * and refuses such a loss with a message naming the replacement
 * (`twiceDifferentiableSoftmaxCrossEntropy`).
 *
 * `central`: central differences of gradients, 2 gradient evaluations per
 * batch, ≈ 1e-4 relative error on smooth losses (tanh, softplus, …) and works
 * with any loss tfjs can differentiate once. **Wrong on ReLU networks**: every
 * activation that changes sign between x − εv and x + εv adds a gradient jump
 * divided by ε (on the paper's 6×128 ReLU MLP the trace comes out −25 where
 * the truth is 1). Only for smooth models; never chosen automatically.
 */
export type HvpMethod = 'central' | 'exact';

export interface HvpOptions<B = void> {
  /** The parameters x; H is the Hessian with respect to all of them, concatenated. */
  readonly variables: readonly tf.Variable[];
  /** The training loss on one batch (mean over its examples), as a scalar. */
  readonly loss: (batch: B) => tf.Scalar;
  /**
   * The batches H is accumulated over; default: none, `loss` is called once
   * with `undefined`. The paper's subset is `firstBatches(xs, ys)`.
   */
  readonly data?: DataSource<B>;
  /** A batch's weight in the mean; default: its number of examples (see `defaultBatchSize`). */
  readonly batchSize?: (batch: B) => number;
  /** Default `'exact'`. */
  readonly method?: HvpMethod;
  /** Fixed finite-difference step ε (central only); default: `centralDifferenceEpsilon`. */
  readonly epsilon?: number;
  /** The constant c in `centralDifferenceEpsilon`; default `EPSILON_SCALE`. */
  readonly epsilonScale?: number;
  /**
   * Variables the loss may write (a layers model's BatchNorm moving statistics,
   * `model.nonTrainableWeights.map((w) => w.read())`): saved before every
   * product and assigned back after it, so they are bit-identical afterwards
   * whatever the loss does (e.g. a `training: true` forward pass).
   */
  readonly preserve?: readonly tf.Variable[];
}

const HVP_OPTIONS = [
  'variables',
  'loss',
  'data',
  'batchSize',
  'method',
  'epsilon',
  'epsilonScale',
  'preserve',
];

/** The data-accumulated Hessian of a loss, with counters for benchmarks. */
export interface HvpOperator extends HessianOperator {
  readonly method: HvpMethod;
  /** The parameters' shapes, in order: how flat vectors are split. */
  readonly shapes: readonly (readonly number[])[];
  /** Hv for v split like the parameters (the form @usam/measures' evaluators take). */
  applyToParts(v: readonly tf.Tensor[]): Promise<tf.Tensor[]>;
  /**
   * Gradient evaluations so far: one per batch per gradient point, so a
   * central HVP over K batches costs 2K. An exact HVP counts one per batch
   * (a gradient pass and its own reverse pass).
   */
  readonly gradientEvaluations: number;
  /** Hessian-vector products so far. */
  readonly products: number;
  /** The ε the last central HVP used (NaN before the first). */
  readonly lastEpsilon: number;
}

/** Unit roundoff of float32, 2⁻²³. */
export const FLOAT32_EPSILON = 2 ** -23;

/**
 * c in ε = c·√eps·(1 + ‖x‖)/‖v‖. Central differences have truncation error
 * O(ε²‖v‖³‖∇⁴L‖) and rounding error O(eps·‖∇L‖/ε), so the best step ‖εv‖
 * is of order eps^{1/3} ≈ 5e-3 in the scale of x; c = 3 gives ‖εv‖ ≈ 1e-3·(1 + ‖x‖),
 * each weight moved by ≈ 1e-3 of its size (≈ 8000 float32 ulps, so the step
 * itself is represented to ≈ 1e-4). Measured on quartic losses and tiny
 * tanh/softplus MLPs against float64 Hessians, c ∈ [1, 10] gives relative
 * HVP errors 1e-5 to 1e-4 and c = 3 was best or near-best on every one;
 * hvp.test.ts checks c = 3 against c/1000 and c·1000.
 */
export const EPSILON_SCALE = 3;

/**
 * The central-difference step for parameters of norm `xNorm` and a direction
 * of norm `vNorm`: ε = c·√eps_f32·(1 + ‖x‖)/‖v‖, so that the perturbation εv
 * has norm c·√eps·(1 + ‖x‖) whatever v's scale.
 */
export function centralDifferenceEpsilon(
  xNorm: number,
  vNorm: number,
  scale: number = EPSILON_SCALE,
): number {
  return (scale * Math.sqrt(FLOAT32_EPSILON) * (1 + xNorm)) / vNorm;
}

const WHERE = 'createHvp';

/**
 * The Hessian of the data-accumulated loss, as Hessian-vector products (SPEC
 * §5). H is the batch-size-weighted mean of the per-batch Hessians, i.e. the
 * Hessian of the mean loss over all examples:
 *
 *     Hv = Σ_b n_b H_b v / Σ_b n_b
 *
 * `exact` (default): Hv = ∇(v · ∇L), see `HvpMethod`. `central`:
 * Hv ≈ (∇L(x + εv) − ∇L(x − εv)) / (2ε), with x ± εv assigned to the
 * variables from saved values and the saved values assigned back afterwards,
 * so the weights are bit-exactly restored after every product (also when the
 * loss throws). For a tfjs-layers model, `hessian(model, …)` builds this for you.
 */
export function createHvp<B = void>(options: HvpOptions<B>): HvpOperator {
  if (options === null || typeof options !== 'object') {
    throw new EstimatorError(
      `${WHERE}: options must be an object { variables, loss, data? }, got ${describe(options)}; e.g. createHvp({ variables, loss: (batch) => tf.Scalar, data }).`,
    );
  }
  requireOptions(WHERE, options, HVP_OPTIONS);
  const { variables, loss } = options;
  const method = options.method ?? 'exact';
  if (!Array.isArray(variables) || variables.length === 0) {
    throw new EstimatorError(
      `${WHERE}: variables must be a non-empty array of tf.Variables, got ${describe(variables)}; pass the trainable variables the loss reads (for a layers model, use hessian(model, …)).`,
    );
  }
  variables.forEach((v, i) => {
    if (!(v instanceof tf.Variable)) {
      throw new EstimatorError(
        `${WHERE}: variables[${i}] is not a tf.Variable; pass tf.variable(...) objects.`,
      );
    }
    if (!v.trainable) {
      throw new EstimatorError(
        `${WHERE}: variable '${v.name}' is not trainable, so tfjs gives it no gradient; pass only trainable variables.`,
      );
    }
    if (v.dtype !== 'float32') {
      throw new EstimatorError(
        `${WHERE}: variable '${v.name}' has dtype ${v.dtype}; pass float32 variables.`,
      );
    }
  });
  if (new Set(variables).size !== variables.length) {
    throw new EstimatorError(`${WHERE}: a variable is listed twice; pass each variable once.`);
  }
  if (typeof loss !== 'function') {
    throw new EstimatorError(
      `${WHERE}: loss must be a function (batch) => tf.Scalar, got ${describe(loss)}.`,
    );
  }
  if (method !== 'central' && method !== 'exact') {
    throw new EstimatorError(
      `${WHERE}: method must be 'exact' or 'central', got ${describe(method)}.`,
    );
  }
  if (method === 'exact' && !secondOrderGradientsRegistered()) {
    throw new EstimatorError(
      `${WHERE}: tfjs cannot differentiate gradients correctly until @usam/backend registers its second-order gradients; call await initBackend() from @usam/backend first (or pass method: 'central' for a smooth, non-ReLU model).`,
    );
  }
  const preserve = options.preserve ?? [];
  if (!Array.isArray(preserve) || !preserve.every((v) => v instanceof tf.Variable)) {
    throw new EstimatorError(
      `${WHERE}: preserve must be an array of tf.Variables, got ${describe(preserve)}; pass e.g. model.nonTrainableWeights.map((w) => w.read()).`,
    );
  }
  if (options.epsilon !== undefined) requirePositive(WHERE, 'epsilon', options.epsilon);
  const scale = requirePositive(WHERE, 'epsilonScale', options.epsilonScale ?? EPSILON_SCALE);
  const open = openData(WHERE, options.data);
  const weightOf = options.batchSize ?? defaultBatchSize;

  const shapes = tensorList.shapesOf(variables);
  const dimension = dimensionOf(shapes);
  let gradientEvaluations = 0;
  let products = 0;
  let lastEpsilon = Number.NaN;

  const split = (flat: tf.Tensor1D): tf.Tensor[] => tensorList.split(flat, shapes);
  const { flatten } = tensorList;

  /**
   * One pass over the data: acc += sign · Σ_b n_b g_b where g_b is `gradient`
   * on batch b. Returns the total weight Σ_b n_b.
   */
  async function pass(
    acc: tf.Tensor[],
    sign: number,
    point: string,
    gradient: (batch: B) => { value: tf.Scalar; grads: (tf.Tensor | undefined)[] },
  ): Promise<number> {
    let total = 0;
    let index = 0;
    const losses: tf.Scalar[] = [];
    try {
      for await (const batch of open()) {
        const weight = weightOf(batch);
        if (!(Number.isFinite(weight) && weight > 0)) {
          throw new EstimatorError(
            `${WHERE}: batch ${index} has weight ${weight}; batchSize(batch) must return a positive number of examples.`,
          );
        }
        const { value, grads } = gradient(batch);
        gradientEvaluations++;
        losses.push(value);
        for (let i = 0; i < acc.length; i++) {
          const g = grads[i];
          if (g === undefined) continue; // the loss does not read this variable: zero gradient
          const old = acc[i]!;
          [acc[i]] = tensorList.axpy(sign * weight, [g], [old]);
          old.dispose();
          g.dispose();
        }
        total += weight;
        index++;
      }
      if (index === 0) {
        throw new EstimatorError(
          `${WHERE}: data yielded no batches; pass at least one batch (e.g. firstBatches(xs, ys)).`,
        );
      }
      const stacked = tf.stack(losses);
      const values = await stacked.data();
      stacked.dispose();
      const bad = values.findIndex((l) => !Number.isFinite(l));
      if (bad >= 0) {
        throw new EstimatorError(
          `${WHERE}: the loss is ${values[bad]} on batch ${bad} at ${point}; check the model and data for overflow${method === 'central' ? ', or pass a smaller epsilon' : ''}.`,
        );
      }
      return total;
    } finally {
      tf.dispose(losses);
    }
  }

  /** ∇L_b as a list aligned with `variables` (undefined where not connected). */
  const gradientOf = (batch: B) => {
    const { value, grads } = withClearErrors(() =>
      tf.variableGrads(() => checkScalar(loss(batch)), [...variables]),
    );
    return { value, grads: variables.map((v) => grads[v.name] ?? undefined) };
  };

  async function central(v: tf.Tensor1D): Promise<tf.Tensor1D> {
    const norms = tf.tidy(() => tf.stack([tensorList.norm(variables), tf.norm(v)]));
    const [xNorm, vNorm] = await norms.data();
    norms.dispose();
    if (vNorm === 0) return tf.zeros([dimension]);
    const epsilon = options.epsilon ?? centralDifferenceEpsilon(xNorm!, vNorm!, scale);
    lastEpsilon = epsilon;
    // Keep the current values; assigning them back is exact (no x + εv − εv drift).
    const saved = variables.map((x) => tf.clone(x));
    const acc = variables.map((x) => tf.zeros(x.shape));
    const parts = split(v);
    try {
      const assignShifted = (sign: number) =>
        tf.tidy(() => {
          variables.forEach((x, i) => {
            x.assign(tf.add(saved[i]!, tf.mul(parts[i]!, sign * epsilon)));
          });
        });
      assignShifted(1);
      const plus = await pass(acc, 1, 'x + εv', gradientOf);
      assignShifted(-1);
      const minus = await pass(acc, -1, 'x − εv', gradientOf);
      if (plus !== minus) throw changedData(plus, minus);
      return tf.tidy(() => tf.div(flatten(acc), 2 * epsilon * plus) as tf.Tensor1D);
    } finally {
      variables.forEach((x, i) => {
        x.assign(saved[i]!);
      });
      tf.dispose([...saved, ...acc, ...parts]);
    }
  }

  async function exact(v: tf.Tensor1D): Promise<tf.Tensor1D> {
    const acc = variables.map((x) => tf.zeros(x.shape));
    const parts = split(v);
    try {
      // Hv = ∇(v · ∇L): the inner gradient is recorded on the tape and differentiated again.
      const total = await pass(acc, 1, 'x', (batch) => {
        let value: tf.Scalar | undefined;
        let inLoss = false; // errors from the user's loss pass through unchanged
        try {
          const outer = tf.variableGrads(() => {
            const inner = withClearErrors(() =>
              tf.variableGrads(() => {
                const start = tapeLength();
                inLoss = true;
                const l = checkScalar(loss(batch));
                inLoss = false;
                refuseCustomGrads(customGradsOnPath(start, variables));
                return l;
              }, [...variables]),
            );
            value = tf.keep(inner.value);
            // v · ∇L over the variables the loss reads (the others have zero gradient).
            const read = variables.flatMap((x, i) => (inner.grads[x.name] ? [i] : []));
            return tensorList.dot(
              read.map((i) => inner.grads[variables[i]!.name]!),
              read.map((i) => parts[i]!),
            );
          }, [...variables]);
          outer.value.dispose();
          return { value: value!, grads: variables.map((x) => outer.grads[x.name] ?? undefined) };
        } catch (error) {
          if (value !== undefined && isNoConnection(error)) {
            // v · ∇L does not depend on the variables: the loss is linear in them, H = 0.
            return { value, grads: variables.map(() => undefined) };
          }
          value?.dispose();
          if (inLoss || error instanceof EstimatorError) throw error;
          const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
          throw new EstimatorError(
            `${WHERE}: the exact HVP failed because tfjs cannot differentiate this loss's gradient (${reason}); use twiceDifferentiableSoftmaxCrossEntropy for softmax cross-entropy, or method: 'central'.`,
          );
        }
      });
      return tf.tidy(() => tf.div(flatten(acc), total) as tf.Tensor1D);
    } finally {
      tf.dispose([...acc, ...parts]);
    }
  }

  async function apply(v: tf.Tensor1D): Promise<tf.Tensor1D> {
    if (
      !(v instanceof tf.Tensor) ||
      v.rank !== 1 ||
      v.size !== dimension ||
      v.dtype !== 'float32'
    ) {
      throw new EstimatorError(
        `${WHERE}: apply(v) needs a float32 tensor of shape [${dimension}] (the parameters, flattened), got ${describe(v)}.`,
      );
    }
    const saved = preserve.map((x) => tf.clone(x));
    try {
      const hv = method === 'central' ? await central(v) : await exact(v);
      products++;
      return hv;
    } finally {
      preserve.forEach((x, i) => {
        x.assign(saved[i]!);
      });
      tf.dispose(saved);
    }
  }

  return {
    method,
    dimension,
    shapes,
    apply,
    async applyToParts(v) {
      if (v.length !== shapes.length) {
        throw new EstimatorError(
          `${WHERE}: v has ${v.length} parts but there are ${shapes.length} variables; pass one tensor per variable.`,
        );
      }
      const flat = flatten(v);
      try {
        const hv = await apply(flat);
        const out = split(hv);
        hv.dispose();
        return out;
      } finally {
        flat.dispose();
      }
    },
    get gradientEvaluations() {
      return gradientEvaluations;
    },
    get products() {
      return products;
    },
    get lastEpsilon() {
      return lastEpsilon;
    },
  };
}

/** Refuses a loss that goes through customGrad ops which drop second-order terms. */
function refuseCustomGrads(names: readonly string[]): void {
  if (names.length === 0) return;
  const softmax = names.some((n) => n === 'softmaxCrossEntropy' || n === 'logSoftmax');
  throw new EstimatorError(
    `${WHERE}: the loss goes through tfjs customGrad op${names.length > 1 ? 's' : ''} ${names.map((n) => `'${n}'`).join(', ')}, whose second derivative tfjs drops, so exact Hessian-vector products would be silently wrong; ${softmax ? 'use twiceDifferentiableSoftmaxCrossEntropy(labels, logits) instead (hessian(model) does), ' : 'rewrite it with plain ops, '}or pass method: 'central' if the model is smooth (no ReLU).`,
  );
}

function checkScalar(value: unknown): tf.Scalar {
  if (!(value instanceof tf.Tensor) || value.rank !== 0) {
    const got =
      value instanceof tf.Tensor ? `a tensor of shape [${value.shape.join(', ')}]` : typeof value;
    throw new EstimatorError(
      `${WHERE}: the loss returned ${got}; return a scalar tensor (e.g. tf.mean(...)).`,
    );
  }
  return value as tf.Scalar;
}

/** Rewords tfjs's "no connection" error, which talks about minimize(). */
function withClearErrors<T>(f: () => T): T {
  try {
    return f();
  } catch (error) {
    if (isNoConnection(error)) {
      throw new EstimatorError(
        `${WHERE}: the loss does not depend on any of the variables; pass the variables the loss reads, and read them inside the loss closure.`,
      );
    }
    throw error;
  }
}

const isNoConnection = (error: unknown): boolean =>
  error instanceof Error && error.message.startsWith('Cannot find a connection');

const changedData = (a: number, b: number) =>
  new EstimatorError(
    `${WHERE}: the data changed between passes (total weight ${a}, then ${b}); pass the same batches every time.`,
  );
