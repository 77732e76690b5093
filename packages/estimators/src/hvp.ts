import * as tf from '@tensorflow/tfjs-core';
import { checkVariables, dimensionOf, tensorList, variableGrads } from '@usam/measures';
import { type DataSource, defaultBatchSize, openData } from './data';
import { describe, EstimatorError, requireOptions, requirePositive } from './errors';
import type { HessianOperator } from './operator';
import { customGradsOnPath, secondOrderGradientsRegistered, tapeLength } from './second-order';

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
  /**
   * Hv for v split like the parameters (the form @usam/measures' evaluators take),
   * with no concatenation or split of the whole vector (the estimators use it for
   * this operator). The caller owns, and disposes, v and the result.
   */
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
 * The Hessian of the data-accumulated loss, as Hessian-vector products
 * (docs/hessian-estimators.md). H is the batch-size-weighted mean of the
 * per-batch Hessians, i.e. the
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
  return new DataHessian(checkHvpOptions(options));
}

/** `HvpOptions` checked, with defaults filled in. */
interface CheckedHvpOptions<B> {
  readonly variables: readonly tf.Variable[];
  readonly loss: (batch: B) => tf.Scalar;
  readonly method: HvpMethod;
  readonly preserve: readonly tf.Variable[];
  readonly epsilon: number | undefined;
  readonly epsilonScale: number;
  readonly open: () => AsyncIterable<B> | Iterable<B>;
  readonly weightOf: (batch: B) => number;
}

function checkHvpOptions<B>(options: HvpOptions<B>): CheckedHvpOptions<B> {
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
  const checked = checkVariables(WHERE, variables, {
    fail: (message) => new EstimatorError(message),
  });
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
  return {
    variables: checked,
    loss,
    method,
    preserve,
    epsilon: options.epsilon,
    epsilonScale: requirePositive(WHERE, 'epsilonScale', options.epsilonScale ?? EPSILON_SCALE),
    open: openData(WHERE, options.data),
    weightOf: options.batchSize ?? defaultBatchSize,
  };
}

/** A batch's weighted gradient: the loss, and n_b·g_b per variable (undefined: not connected, zero). */
type WeightedGradient<B> = (
  batch: B,
  weight: number,
) => { value: tf.Scalar; grads: (tf.Tensor | undefined)[] };

/** `createHvp`'s operator: one data pass per gradient point, accumulated in batch-size-weighted sums. */
class DataHessian<B> implements HvpOperator {
  readonly method: HvpMethod;
  readonly dimension: number;
  readonly shapes: tensorList.Shapes;
  #gradientEvaluations = 0;
  #products = 0;
  #lastEpsilon = Number.NaN;

  constructor(private readonly options: CheckedHvpOptions<B>) {
    this.method = options.method;
    this.shapes = tensorList.shapesOf(options.variables);
    this.dimension = dimensionOf(this.shapes);
  }

  get gradientEvaluations(): number {
    return this.#gradientEvaluations;
  }

  get products(): number {
    return this.#products;
  }

  get lastEpsilon(): number {
    return this.#lastEpsilon;
  }

  async apply(v: tf.Tensor1D): Promise<tf.Tensor1D> {
    const { dimension } = this;
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
    const parts = tensorList.split(v, this.shapes);
    try {
      const [hv] = await this.product(parts, () => tf.norm(v) as tf.Scalar, true);
      return hv as tf.Tensor1D;
    } finally {
      tf.dispose(parts);
    }
  }

  async applyToParts(v: readonly tf.Tensor[]): Promise<tf.Tensor[]> {
    const { shapes } = this;
    if (!tensorList.hasShapes(v, shapes) || v.some((t) => t.dtype !== 'float32')) {
      throw new EstimatorError(
        `${WHERE}: applyToParts(v) needs one float32 tensor per variable, shaped [${shapes.map((s) => `[${s.join(', ')}]`).join(', ')}], got ${describe(v)}.`,
      );
    }
    return this.product(v, () => tensorList.norm(v), false);
  }

  /** Hv for v given flat or as parts, in the same form; weights and `preserve` restored. */
  private async product(
    parts: readonly tf.Tensor[],
    vNorm: () => tf.Scalar,
    flat: boolean,
  ): Promise<tf.Tensor[]> {
    const { preserve } = this.options;
    const saved = preserve.map((x) => tf.clone(x));
    try {
      const hv =
        this.method === 'central'
          ? await this.central(parts, vNorm, flat)
          : await this.exact(parts, flat);
      this.#products++;
      return hv;
    } finally {
      preserve.forEach((x, i) => {
        x.assign(saved[i]!);
      });
      tf.dispose(saved);
    }
  }

  /**
   * (∇L(x + εv) − ∇L(x − εv))/(2ε) over the data, as `finish` returns it;
   * `vNorm` is ‖v‖ (from the form v was given in).
   */
  private async central(
    parts: readonly tf.Tensor[],
    vNorm: () => tf.Scalar,
    flat: boolean,
  ): Promise<tf.Tensor[]> {
    const { variables } = this.options;
    const norms = tf.tidy(() => tf.stack([tensorList.norm(variables), vNorm()]));
    const [xNorm, normOfV] = await norms.data();
    norms.dispose();
    if (normOfV === 0) return this.finish([], 1, flat);
    const epsilon =
      this.options.epsilon ?? centralDifferenceEpsilon(xNorm!, normOfV!, this.options.epsilonScale);
    this.#lastEpsilon = epsilon;
    // Keep the current values; assigning them back is exact (no x + εv − εv drift).
    const saved = variables.map((x) => tf.clone(x));
    const sums: (tf.Tensor | undefined)[] = [];
    try {
      const assignShifted = (sign: number) =>
        tf.tidy(() => {
          variables.forEach((x, i) => {
            x.assign(tf.add(saved[i]!, tf.mul(parts[i]!, sign * epsilon)));
          });
        });
      assignShifted(1);
      const plus = await this.pass(sums, 'x + εv', this.scaledGradient(1));
      assignShifted(-1);
      const minus = await this.pass(sums, 'x − εv', this.scaledGradient(-1));
      if (plus !== minus) throw changedData(plus, minus);
      return this.finish(sums, 2 * epsilon * plus, flat);
    } finally {
      variables.forEach((x, i) => {
        x.assign(saved[i]!);
      });
      tf.dispose([...saved, ...sums.filter((t) => t !== undefined)]);
    }
  }

  /** Σ_b n_b ∇(v · ∇L_b) / Σ_b n_b, as `finish` returns it. */
  private async exact(parts: readonly tf.Tensor[], flat: boolean): Promise<tf.Tensor[]> {
    const { variables, loss } = this.options;
    const sums: (tf.Tensor | undefined)[] = [];
    try {
      // Hv = ∇(v · ∇L): the inner gradient is recorded on the tape and differentiated again.
      const total = await this.pass(sums, 'x', (batch, weight) => {
        let value: tf.Scalar | undefined;
        let inLoss = false; // errors from the user's loss pass through unchanged
        try {
          const outer = variableGrads(() => {
            const inner = withClearErrors(() =>
              variableGrads(() => {
                const start = tapeLength();
                inLoss = true;
                const l = checkScalar(loss(batch));
                inLoss = false;
                refuseCustomGrads(customGradsOnPath(start, variables));
                return l;
              }, [...variables]),
            );
            value = tf.keep(inner.value);
            // n_b·(v · ∇L) over the variables the loss reads (the others have zero gradient).
            const read = variables.flatMap((x, i) => (inner.grads[x.name] ? [i] : []));
            return weightedDirectionalSeed(
              read.map((i) => inner.grads[variables[i]!.name]!),
              read.map((i) => parts[i]!),
              weight,
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
      return this.finish(sums, total, flat);
    } finally {
      tf.dispose(sums.filter((t) => t !== undefined));
    }
  }

  /** sign·n_b·∇L_b as a list aligned with the variables (undefined where not connected). */
  private scaledGradient(sign: number): WeightedGradient<B> {
    const { variables, loss } = this.options;
    return (batch, weight) => {
      const { value, grads } = withClearErrors(() =>
        variableGrads(() => checkScalar(loss(batch)), variables),
      );
      const parts = variables.map((v) => grads[v.name]);
      const read = parts.filter((g) => g !== undefined);
      const scaled = tensorList.scale(read, sign * weight);
      tf.dispose(read);
      let k = 0;
      return { value, grads: parts.map((g) => (g === undefined ? undefined : scaled[k++])) };
    };
  }

  /**
   * One pass over the data: sums[i] += Σ_b g_b[i], where `gradient(batch, n_b)`
   * gives g_b already weighted by the batch's n_b (undefined where the loss does
   * not read a variable: a zero gradient). An undefined entry of `sums` is zero
   * and takes the first gradient as it is (0 + g would be the same bits). The
   * caller owns `sums`, also when this throws. Returns the total weight Σ_b n_b.
   */
  private async pass(
    sums: (tf.Tensor | undefined)[],
    point: string,
    gradient: WeightedGradient<B>,
  ): Promise<number> {
    const { open, weightOf, method } = this.options;
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
        const { value, grads } = gradient(batch, weight);
        this.#gradientEvaluations++;
        losses.push(value);
        grads.forEach((g, i) => {
          const old = sums[i];
          if (g === undefined || old === undefined) {
            sums[i] ??= g;
            return;
          }
          sums[i] = tf.add(old, g);
          tf.dispose([old, g]);
        });
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

  /** sums/divisor, as one flat vector or split like the parameters (the same bits either way). */
  private finish(sums: (tf.Tensor | undefined)[], divisor: number, flat: boolean): tf.Tensor[] {
    const { variables } = this.options;
    return tf.tidy(() => {
      const full = variables.map((x, i) => sums[i] ?? tf.zeros(x.shape));
      if (flat) return [tf.div(tensorList.flatten(full), divisor)];
      const d = tf.scalar(divisor); // uploaded once, not per tensor
      return full.map((t) => tf.div(t, d));
    });
  }
}

/**
 * A scalar whose gradient with respect to grads[k] is weight·v[k]: the seed of
 * the outer pass of n_b·Hv = ∇(n_b·(v · ∇L)). Computing n_b·(v · ∇L) itself would
 * cost a product and a sum over all d entries per batch, and their gradients,
 * for a value that is never read; this op's value is 0 and only its gradient
 * counts. The seed n_b·v[k] is exact for n_b a power of two (128), so then
 * every product of the outer pass is exactly n_b times the unweighted one.
 */
function weightedDirectionalSeed(
  grads: readonly tf.Tensor[],
  v: readonly tf.Tensor[],
  weight: number,
): tf.Scalar {
  const seed = tf.customGrad(() => ({
    value: tf.scalar(0),
    gradFunc: (dy: tf.Tensor) => {
      const s = tf.mul(dy, weight); // dy is 1: the outer pass starts here
      return v.map((vk) => tf.mul(vk, s));
    },
  }));
  return seed(...grads) as tf.Scalar;
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
