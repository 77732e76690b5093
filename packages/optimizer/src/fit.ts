import * as tf from '@tensorflow/tfjs-core';
import { describe, OptimizerError } from './errors';
import { detSam, frobSam, plain, traceSam } from './instances';
import { recipeOf } from './recipe';
import { asam, sam } from './sam';
import type { SharpnessAwareOptimizer } from './sharpness-aware';
import { checkState, type NamedState, type OptimizerState } from './state';
import type { Perturbation, StepStats } from './types';
import { renameSlotOwners } from './variables';

type AnyOptimizer = SharpnessAwareOptimizer<Perturbation | undefined>;

/** The variants `fromConfig` can build again: those whose options are all JSON. */
const FACTORIES: Readonly<Record<string, (options: never) => AnyOptimizer>> = {
  frobSam,
  traceSam,
  detSam,
  sam,
  asam,
  plain,
};

/** Options that are not hyperparameters: the variables (trained and preserved), the base (saved on its own), the seed (the stream's position is saved instead). */
const NOT_CONFIG = new Set(['params', 'preserve', 'state', 'base', 'seed']);

/** The optimizer's weights share the checkpoint's namespace with the model's: ours are prefixed. */
const PREFIX = 'usam-optimizer/';
const STATE = `${PREFIX}state`;

/** What `getConfig` writes into a model's training config (docs/optimizer-persistence.md). */
interface SavedConfig {
  readonly variant: string;
  readonly options: Record<string, number | string | boolean>;
  readonly base: { readonly className: string; readonly config: tf.serialization.ConfigDict };
}

/** The JSON part of a state, as the checkpoint's `usam-optimizer/state` string holds it. */
type RunState = Omit<OptimizerState, 'tensors'> & { readonly epoch: number | null };

const SAVE = 'model.save(…, { includeOptimizer: true })';
const INSTEAD =
  'save its state with optimizer.getState() and encodeOptimizerState instead (and the model with includeOptimizer: false)';

/** The JSON recipe of `optimizer`, or a one-line error naming `getState` where tfjs cannot carry it. */
function configOf(optimizer: AnyOptimizer): SavedConfig {
  const where = `${optimizer.name}: ${SAVE}`;
  const recipe = recipeOf(optimizer);
  if (recipe === undefined) {
    throw new OptimizerError(
      `${where}: tfjs rebuilds an optimizer from JSON, and '${optimizer.name}' was built by sharpnessAware around a perturbation of your own; ${INSTEAD}.`,
    );
  }
  const options: Record<string, number | string | boolean> = {};
  for (const [key, value] of Object.entries(recipe.options)) {
    if (NOT_CONFIG.has(key) || value === undefined) continue;
    // tfjs-layers camel-cases every string of a training config on load, so no '_' survives.
    const json =
      typeof value === 'number' ||
      typeof value === 'boolean' ||
      (typeof value === 'string' && !value.includes('_'));
    if (!json) {
      throw new OptimizerError(
        `${where}: option ${key} is ${describe(value)}, which a tfjs training config cannot carry; ${INSTEAD}.`,
      );
    }
    options[key] = value;
  }
  if (!(recipe.factory in FACTORIES)) {
    throw new OptimizerError(
      `${where}: '${recipe.factory}' cannot be rebuilt from JSON; ${INSTEAD}.`,
    );
  }
  const base = optimizer.base;
  const className = base.getClassName();
  if (!(className in tf.serialization.SerializationMap.getMap().classNameMap)) {
    throw new OptimizerError(
      `${where}: the base optimizer ${className} is not registered with tf.serialization.registerClass; register it, or ${INSTEAD}.`,
    );
  }
  return { variant: recipe.factory, options, base: { className, config: base.getConfig() } };
}

/** The base optimizer of a saved config, built by tfjs's own registry. */
function baseOf(config: SavedConfig['base'] | undefined, where: string): tf.Optimizer {
  const entry =
    typeof config?.className === 'string'
      ? tf.serialization.SerializationMap.getMap().classNameMap[config.className]
      : undefined;
  if (entry === undefined || typeof config?.config !== 'object') {
    throw new OptimizerError(
      `${where}: the base optimizer ${describe(config?.className)} is not a registered tfjs optimizer; load the model with the code that registered it.`,
    );
  }
  const [cls, fromConfig] = entry;
  return fromConfig(cls, config.config) as tf.Optimizer;
}

/** A checkpoint's optimizer weights as a state (tensors not copied) and its epoch. */
async function readWeights(
  weights: readonly NamedState[],
  where: string,
): Promise<{ state: OptimizerState; epoch: number | null }> {
  const list = Array.isArray(weights) ? weights : [];
  const json = list.find((w) => w?.name === STATE)?.tensor;
  const foreign = list.find((w) => typeof w?.name !== 'string' || !w.name.startsWith(PREFIX));
  if (json === undefined || json.dtype !== 'string' || foreign !== undefined) {
    throw new OptimizerError(
      `${where}: these are not weights saved by SharpnessAwareTfOptimizer.getWeights (${STATE} ${json === undefined ? 'is missing' : 'is there'}${foreign ? `, '${foreign.name}' is not ours` : ''}); restore a state from getState with setState instead.`,
    );
  }
  let run: RunState;
  try {
    run = JSON.parse(((await json.data()) as unknown as string[])[0]!);
  } catch (error) {
    throw new OptimizerError(`${where}: ${STATE} is not valid JSON; save the model again.`, {
      cause: error,
    });
  }
  const { epoch = null, ...rest } = run ?? {};
  const tensors: NamedState[] = list
    .filter((w) => w.name !== STATE)
    .map((w) => ({ name: w.name.slice(PREFIX.length), tensor: w.tensor }));
  const state = { ...rest, tensors } as OptimizerState;
  checkState(state, where);
  return { state, epoch };
}

/**
 * An adapter built by `fromConfig` (tf.loadLayersModel) before it knows the
 * model's variables: the variant, its options and base optimizer, and the
 * checkpoint's state, until the first `minimize` names the variables.
 */
interface Pending {
  readonly config: SavedConfig;
  readonly base: tf.Optimizer;
  /** The checkpoint's state less the base's slots (already in `base`), copies owned here. */
  run?: OptimizerState & { readonly epoch: number | null };
  /** Copies of the weights `setWeights` got, for a `getWeights` before the first step. */
  weights?: NamedState[];
}

/**
 * What the loss closure writes outside the trained variables (BatchNorm
 * statistics) during a step's clean pass, kept out of the perturbed passes as
 * the engine's `state` option does (docs/optimizer-persistence.md): an adapter
 * rebuilt by tf.loadLayersModel never sees the model, so it finds the state by
 * watching assignments.
 */
class StateTrace {
  private readonly before = new Map<tf.Variable, tf.Tensor>();
  private afterClean: [tf.Variable, tf.Tensor][] = [];

  constructor(private readonly trained: ReadonlySet<tf.Variable>) {}

  /** Runs the clean pass, noting each variable it writes (and its value before). */
  clean<T>(f: () => T): T {
    const proto = tf.Variable.prototype;
    const assign = proto.assign;
    const before = this.before;
    const trained = this.trained;
    proto.assign = function (this: tf.Variable, value: tf.Tensor) {
      if (!trained.has(this) && !before.has(this)) before.set(this, tf.keep(tf.clone(this)));
      return assign.call(this, value);
    };
    let out: T;
    try {
      out = f();
    } finally {
      proto.assign = assign;
    }
    this.afterClean = [...before.keys()].map((v) => [v, tf.keep(tf.clone(v))]);
    return out;
  }

  /** Back to the values after the clean pass (before each perturbed pass, and after the step). */
  restoreClean(): void {
    for (const [v, value] of this.afterClean) v.assign(value);
  }

  /** Back to the values before the step (a refused or failed step). */
  restoreBefore(): void {
    for (const [v, value] of this.before) v.assign(value);
  }

  dispose(): void {
    tf.dispose([...this.before.values(), ...this.afterClean.map(([, t]) => t)]);
  }
}

/**
 * A real `tf.Optimizer` around a sharpness-aware optimizer, for
 * `model.compile({ optimizer: asTfOptimizer(opt), … })` and `model.fit` /
 * `fitDataset`. tfjs-layers calls `minimize(lossFn, true, trainableVariables)`
 * once per batch with a loss closure that can be evaluated again at other
 * weights; the adapter runs the wrapped optimizer's step on it, so BatchNorm
 * statistics are handled as in `step` (updated once, by the clean pass).
 *
 * - Build the optimizer with `params: model`, so it restores the model's
 *   non-trainable weights around perturbed passes.
 * - tfjs-layers' closure computes the compiled metrics on every call and keeps
 *   them; the adapter disposes those of the perturbed passes (the metrics
 *   reported are the clean pass's).
 * - m-sharpness needs a loss that can be split; fit's cannot (use `step`).
 * - fit trains the weights tfjs-layers collected at `compile` (it passes them to
 *   `minimize`): after freezing a layer, compile again, as in Keras.
 * - Set `epoch` (e.g. in an `onEpochBegin` callback) for SSAM-F's per-epoch mask,
 *   and call `optimizer.setLearningRate(schedule(epoch))` there for a schedule.
 * - `model.save(handler, { includeOptimizer: true })` saves the variant, its
 *   options and base optimizer (`getConfig`) and its whole state (`getWeights`:
 *   the `getState` tensors and one JSON string), and `tf.loadLayersModel`
 *   rebuilds it (`fromConfig`, `setWeights`): the reloaded model continues bit
 *   for bit on cpu. Variants with functions among their options (a `sampler`,
 *   SSAM-F's `fisherLosses`, `universalSam`'s measure) cannot go through a
 *   training config: `getConfig` says so and points to `getState`.
 */
export class SharpnessAwareTfOptimizer extends tf.Optimizer {
  static readonly className = 'SharpnessAwareTfOptimizer';
  /** The epoch passed to each step (SSAM-F refreshes its mask per epoch). */
  epoch: number | undefined;
  /** The statistics of the last step. */
  lastStats: StepStats | undefined;
  private engine: AnyOptimizer | undefined;
  private pending: Pending | undefined;
  /** Set when rebuilt from a checkpoint: the state is found by `StateTrace`. */
  private traced = false;
  /** The tensors of the last `getWeights` (ours until the next call or `dispose`). */
  private exported: tf.Tensor[] = [];

  constructor(optimizer: AnyOptimizer) {
    super();
    if (optimizer instanceof PendingOptimizer) {
      this.pending = optimizer.pending;
      return;
    }
    if (typeof optimizer?.stepNow !== 'function') {
      throw new OptimizerError(
        'asTfOptimizer: pass an optimizer from this package, e.g. asTfOptimizer(frobSam({ params: model, base })).',
      );
    }
    if (optimizer.mSharpness !== 1) {
      throw new OptimizerError(
        `asTfOptimizer: mSharpness = ${optimizer.mSharpness} needs a loss closure that can be split into parts, which model.fit does not give; use step() for m-sharpness.`,
      );
    }
    this.engine = optimizer;
  }

  /** The wrapped optimizer. One rebuilt by tf.loadLayersModel exists from the first `minimize` (model.fit) on. */
  get optimizer(): AnyOptimizer {
    if (this.engine === undefined) {
      throw new OptimizerError(
        `SharpnessAwareTfOptimizer: this ${this.pending?.config.variant} was rebuilt by tf.loadLayersModel and meets the model's variables at its first step; call model.fit first.`,
      );
    }
    return this.engine;
  }

  /** Steps applied (tfjs's count of updates); restored with the state. */
  override get iterations(): number {
    return this.engine?.counters.applied ?? this.pending?.run?.counters.applied ?? 0;
  }

  override minimize(
    f: () => tf.Scalar,
    returnCost = false,
    varList?: tf.Variable[],
  ): tf.Scalar | null {
    if (this.pending) this.bind(varList);
    const optimizer = this.optimizer;
    const engine = tf.engine() as unknown as { keep: (t: tf.Tensor) => tf.Tensor };
    const kept: tf.Tensor[] = [];
    const trace = this.traced ? new StateTrace(new Set(varList ?? optimizer.variables)) : undefined;
    let calls = 0;
    const loss = () => {
      calls++;
      if (calls === 1) return trace ? trace.clean(f) : f();
      trace?.restoreClean();
      // A perturbed pass: what the closure keeps (tfjs-layers' metrics) is ours to dispose.
      const keep = engine.keep;
      engine.keep = (t) => {
        kept.push(t);
        return keep.call(engine, t);
      };
      try {
        return f();
      } finally {
        engine.keep = keep;
      }
    };
    try {
      this.lastStats = optimizer.stepNow(loss, this.epoch, varList);
      if (this.lastStats.applied) trace?.restoreClean();
      else trace?.restoreBefore();
    } catch (error) {
      trace?.restoreBefore();
      throw error;
    } finally {
      trace?.dispose();
      tf.dispose(kept);
    }
    return returnCost ? tf.scalar(this.lastStats.loss) : null;
  }

  /** A rebuilt adapter's first step: the variant over the variables fit trains, with the checkpoint's state. */
  private bind(varList: tf.Variable[] | undefined): void {
    const pending = this.pending!;
    const { variant, options } = pending.config;
    const where = `SharpnessAwareTfOptimizer (${variant}, rebuilt by tf.loadLayersModel)`;
    if (!Array.isArray(varList) || varList.length === 0) {
      throw new OptimizerError(
        `${where}: minimize needs the variables to train (model.fit passes them); got ${describe(varList)}.`,
      );
    }
    const names = varList.map((v) => v.name);
    renameSlotOwners(pending.base, (owner) => {
      if (!owner.startsWith('#')) return owner;
      const name = names[Number(owner.slice(1))];
      if (name === undefined) {
        throw new OptimizerError(
          `${where}: the checkpoint has optimizer slots for variable ${owner.slice(1)} but the model trains ${names.length}; load it into the model it was saved with.`,
        );
      }
      return name;
    });
    const build = FACTORIES[variant] as unknown as (o: object) => AnyOptimizer;
    const optimizer = build({ ...options, params: varList, preserve: [], base: pending.base });
    const run = pending.run;
    if (run) {
      if (run.optimizer !== optimizer.name) {
        throw new OptimizerError(
          `${where}: the checkpoint's state was saved by '${run.optimizer}'; save the model again.`,
        );
      }
      optimizer.setRunState(run);
      this.epoch ??= run.epoch ?? undefined;
    }
    this.disposePending();
    this.engine = optimizer;
    this.traced = true;
  }

  override applyGradients(): void {
    throw new OptimizerError(
      `${this.engine?.name ?? 'SharpnessAwareTfOptimizer'}: a sharpness-aware step needs the loss closure, not gradients; call minimize (model.fit does).`,
    );
  }

  /** The variant, its JSON options and the base optimizer's class and config (for model.save's training config). */
  override getConfig(): tf.serialization.ConfigDict {
    const config = this.pending?.config ?? configOf(this.optimizer);
    return config as unknown as tf.serialization.ConfigDict;
  }

  /** tf.loadLayersModel's way back from `getConfig`: the variant is built at the first step, once fit names the variables. */
  static override fromConfig<T extends tf.serialization.Serializable>(
    _cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    const where = 'SharpnessAwareTfOptimizer.fromConfig';
    const saved = config as unknown as Partial<SavedConfig>;
    if (typeof saved.variant !== 'string' || !(saved.variant in FACTORIES)) {
      throw new OptimizerError(
        `${where}: variant ${describe(saved.variant)} is not one of ${Object.keys(FACTORIES).join(', ')}; the training config was not written by this package.`,
      );
    }
    const options: Record<string, number | string | boolean> = {};
    for (const [key, value] of Object.entries(saved.options ?? {})) {
      if (['number', 'string', 'boolean'].includes(typeof value)) options[key] = value;
    }
    const clean: SavedConfig = {
      variant: saved.variant,
      options,
      base: { className: saved.base!.className, config: saved.base!.config },
    };
    const base = baseOf(saved.base, where);
    return new SharpnessAwareTfOptimizer(
      new PendingOptimizer({ config: clean, base }) as unknown as AnyOptimizer,
    ) as unknown as T;
  }

  /**
   * The whole state as tfjs weights (model.save with `includeOptimizer`): the
   * `getState` tensors, prefixed `usam-optimizer/`, and `usam-optimizer/state`,
   * a string with its JSON part. The tensors stay the adapter's until the next
   * call or `dispose`.
   */
  override async getWeights(): Promise<NamedState[]> {
    if (this.pending) return this.pending.weights ?? [];
    const { tensors, ...rest } = await this.optimizer.getState();
    const run: RunState = { ...rest, epoch: this.epoch ?? null };
    const json = tf.scalar(JSON.stringify(run), 'string');
    tf.dispose(this.exported);
    this.exported = [json, ...tensors.map((t) => t.tensor)];
    return [
      { name: STATE, tensor: json },
      ...tensors.map(({ name, tensor }) => ({ name: `${PREFIX}${name}`, tensor })),
    ];
  }

  /** Restores what `getWeights` saved (tf.loadLayersModel calls it); the weights are copied, the caller keeps its own. */
  override async setWeights(weights: NamedState[]): Promise<void> {
    const where = 'SharpnessAwareTfOptimizer.setWeights';
    const { state, epoch } = await readWeights(weights, where);
    if (this.engine) {
      await this.engine.setState(state);
      if (epoch !== null) this.epoch = epoch;
      return;
    }
    const pending = this.pending!;
    if (state.optimizer !== pending.config.variant) {
      throw new OptimizerError(
        `${where}: the weights were saved by '${state.optimizer}' but the config builds '${pending.config.variant}'; save the model again.`,
      );
    }
    // The base's slots now (tfjs's setWeights is async), owned by placeholders '#<i>' until bind.
    const slots: NamedState[] = [];
    for (const { name, tensor } of state.tensors) {
      if (name === 'base/iter') slots.unshift({ name: 'iter', tensor });
      else if (name.startsWith('base/@')) slots.push({ name: name.slice('base/@'.length), tensor });
      else if (name.startsWith('base/'))
        slots.push({ name: `#${name.slice('base/'.length)}`, tensor });
    }
    const old = await pending.base.getWeights();
    await pending.base.setWeights(slots);
    for (const { tensor } of old) tensor.dispose();
    this.disposePending(false);
    const { tensors, ...rest } = state;
    pending.run = {
      ...rest,
      epoch,
      tensors: tensors
        .filter((t) => t.name.startsWith('perturbation/'))
        .map(({ name, tensor }) => ({ name, tensor: tf.keep(tf.clone(tensor)) })),
    };
    pending.weights = weights.map(({ name, tensor }) => ({
      name,
      tensor: tf.keep(tf.clone(tensor)),
    }));
  }

  /** Frees the pending state's copies (and, with `all`, the pending base). */
  private disposePending(all = true): void {
    const pending = this.pending;
    if (!pending) return;
    tf.dispose([
      ...(pending.run?.tensors.map((t) => t.tensor) ?? []),
      ...(pending.weights?.map((w) => w.tensor) ?? []),
    ]);
    pending.run = undefined;
    pending.weights = undefined;
    if (all) this.pending = undefined;
  }

  override dispose(): void {
    tf.dispose(this.exported);
    this.exported = [];
    if (this.pending) {
      const base = this.pending.base;
      this.disposePending();
      base.dispose();
    }
    this.engine?.dispose();
    super.dispose();
  }
}

/** The constructor's argument for an adapter `fromConfig` builds. */
class PendingOptimizer {
  constructor(readonly pending: Pending) {}
}

tf.serialization.registerClass(SharpnessAwareTfOptimizer);

/** `new SharpnessAwareTfOptimizer(optimizer)`: a `tf.Optimizer` for `model.compile`. */
export const asTfOptimizer = (optimizer: AnyOptimizer): SharpnessAwareTfOptimizer =>
  new SharpnessAwareTfOptimizer(optimizer);
