import * as tf from '@tensorflow/tfjs-core';
import {
  checkVariables,
  isModelLike,
  type LayerVariableLike,
  type ModelLike,
} from '@usam/measures';
import { OptimizerError } from './errors';

export type { LayerVariableLike, ModelLike };

/** A parameter: a `tf.Variable`, or a tfjs-layers weight wrapping one. */
export type Parameter = tf.Variable | LayerVariableLike;

/** What an optimizer trains: a list of parameters, or a tfjs-layers model. */
export type Parameters = readonly Parameter[] | ModelLike;

const fail = (message: string) => new OptimizerError(message);

/**
 * The trainable variables and the ones to preserve (BatchNorm running
 * statistics) an optimizer works on. A model gives both; a list gives the
 * trainable ones and `preserve` (default none) the rest.
 */
export function resolveParameters(
  parameters: Parameters,
  preserve: readonly Parameter[] | undefined,
  where: string,
): { variables: tf.Variable[]; preserve: tf.Variable[] } {
  const model = isModelLike(parameters) ? parameters : undefined;
  const list = model ? model.trainableWeights : parameters;
  if (!Array.isArray(list) || list.length === 0) {
    throw new OptimizerError(
      `${where}: the variable list is empty; pass params: [tf.variable(...), …] or a tfjs-layers model with trainable weights.`,
    );
  }
  const notTrainable = 'remove it from params (or pass it in preserve)';
  const variables = checkVariables(where, list, { fail, notTrainable, what: 'params' });
  const preserveList = preserve ?? model?.nonTrainableWeights ?? [];
  const preserved = checkVariables(`${where} (preserve)`, preserveList, {
    fail,
    what: 'preserve',
    trained: false,
  });
  const names = new Set(variables.map((v) => v.name));
  const clash = preserved.find((v) => names.has(v.name));
  if (clash) {
    throw new OptimizerError(
      `${where}: variable '${clash.name}' is both trained and in the state to preserve; list it in one place only (params or preserve).`,
    );
  }
  return { variables, preserve: preserved };
}

/**
 * The `preserve` option, or its old name `state` (docs/errors-and-vocabulary.md); both
 * at once is an error rather than a silent choice.
 */
export function preserveOption(
  options: { readonly preserve?: readonly Parameter[]; readonly state?: readonly Parameter[] },
  where: string,
): readonly Parameter[] | undefined {
  const { preserve, state } = options;
  if (preserve !== undefined && state !== undefined) {
    throw new OptimizerError(
      `${where}: got both preserve and state; pass preserve only (state is its old name).`,
    );
  }
  return preserve ?? state;
}

/** Ids of the variables a step is working on now, across all optimizers. */
const busy = new Map<number, string>();

/**
 * Marks the variables as being stepped by `who` until the returned release is
 * called. A variable already held (another optimizer, or a step re-entered from
 * a loss closure) is an error: the second step's clean pass would see the first
 * one's perturbation.
 */
export function hold(variables: readonly tf.Variable[], who: string): () => void {
  const taken = variables.find((v) => busy.has(v.id));
  if (taken) {
    throw new OptimizerError(
      `${who}.step: variable '${taken.name}' is being stepped by ${busy.get(taken.id)} right now; one step at a time per variable (await each step, and never step from inside a loss closure).`,
    );
  }
  for (const v of variables) busy.set(v.id, who);
  return () => {
    for (const v of variables) busy.delete(v.id);
  };
}

/**
 * tfjs's stateful optimizers (momentum, Adam, RMSProp, Adagrad, …) keep each
 * variable's slots by position in the list passed to `applyGradients`
 * (`accumulations[i]`), not by name. When the trainable list changes (a layer
 * frozen or unfrozen), the slots are reordered here by their names
 * (`${variable}/momentum`, …) so that each variable keeps its own; the slots of
 * variables no longer trained stay, after the others, for when they return.
 */
export function alignSlots(base: tf.Optimizer, names: readonly string[], compact = false): void {
  const record = base as unknown as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const slots = record[key];
    if (!Array.isArray(slots) || slots.length === 0) continue;
    const isSlot = (s: unknown) =>
      typeof (s as { originalName?: unknown } | null)?.originalName === 'string';
    if (!slots.every((s) => s == null || isSlot(s))) continue;
    const owner = (s: { originalName: string }) =>
      s.originalName.slice(0, s.originalName.lastIndexOf('/'));
    const byName = new Map(
      slots.filter(isSlot).map((s: { originalName: string }) => [owner(s), s] as const),
    );
    const ordered: unknown[] = names.map((name) => byName.get(name));
    const rest = [...byName.entries()].filter(([name]) => !names.includes(name));
    // tfjs creates a slot where it finds null; `compact` drops the holes (for getWeights).
    const head = compact ? ordered.filter((s) => s !== undefined) : ordered.map((s) => s ?? null);
    record[key] = [...head, ...rest.map(([, s]) => s)];
  }
}

/**
 * Renames the owners of a tfjs optimizer's slots (`<owner>/<slot>`, as
 * `alignSlots` reads them): a checkpoint's slots are restored before the
 * variables they belong to are known, under placeholder owners, and renamed
 * when they are (docs/optimizer-persistence.md).
 */
export function renameSlotOwners(base: tf.Optimizer, rename: (owner: string) => string): void {
  const record = base as unknown as Record<string, unknown>;
  for (const slots of Object.values(record)) {
    if (!Array.isArray(slots)) continue;
    for (const s of slots as ({ originalName?: unknown } | null)[]) {
      if (typeof s?.originalName !== 'string') continue;
      const cut = s.originalName.lastIndexOf('/');
      s.originalName = `${rename(s.originalName.slice(0, cut))}${s.originalName.slice(cut)}`;
    }
  }
}

/**
 * Saved values of some variables, restored by assignment (never by
 * subtracting a perturbation, so nothing drifts: the bits come back exactly).
 */
export class Snapshot {
  readonly values: tf.Tensor[];

  constructor(private readonly variables: readonly tf.Variable[]) {
    this.values = variables.map((v) => tf.keep(tf.clone(v)));
  }

  restore(): void {
    this.variables.forEach((v, k) => {
      v.assign(this.values[k]!);
    });
  }

  dispose(): void {
    for (const t of this.values) t.dispose();
  }
}
