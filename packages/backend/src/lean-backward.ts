/**
 * A first-order backward pass that frees memory as it goes (issue 16).
 *
 * tfjs-core 4.22's `engine.gradients` (engine.ts, tape.ts) keeps every tape
 * node's saved tensors and every intermediate gradient until the whole
 * backward pass ends, so a step's peak is the activations plus all their
 * gradients. `installLeanBackward` replaces the engine's `gradients` with a
 * mirror of tfjs's own that, when the call is not nested in another gradient
 * (gradient depth 0: nothing records the backward pass, so nothing can
 * differentiate it), frees each node's saved tensors and the gradients it
 * consumed as soon as its input gradients exist. The ops, their order and
 * their inputs are tfjs's, so the gradients are bit-identical; only disposal
 * moves earlier. Nested calls (the inner gradient of an exact HVP) run tfjs's
 * original, which the outer gradient needs intact.
 *
 * Mirrors tfjs-core 4.22.0's `Engine.gradients`, `getFilteredNodesXToY` and
 * `backpropagateGradients`, and uses the engine's private `startTape`,
 * `endTape`, `scopedRun`, `state.{gradientDepth,activeTape,activeScope}` and
 * tensors' `scopeId`/`kept`. lean-backward.test.ts fails on any other
 * tfjs-core version (compare the mirror with its engine.ts and tape.ts, then
 * update the version there); without these internals (or on tfjs-core other
 * than 4.x) the engine is left as it is.
 */
import * as tf from '@tensorflow/tfjs-core';

type Tensor = tf.Tensor;

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, Tensor>;
  outputs: Tensor[];
  gradient?: (dys: Tensor[]) => Record<string, () => Tensor>;
  saved?: Tensor[];
}

type Gradients = (
  f: () => Tensor,
  xs: Tensor[],
  dy?: Tensor,
  allowNoGradients?: boolean,
) => { value: Tensor; grads: Tensor[] };

interface EngineInternals {
  gradients: Gradients & { [ORIGINAL]?: Gradients };
  state: {
    gradientDepth: number;
    activeTape: TapeNode[] | null;
    activeScope: { id: number } | null;
  };
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T;
}

/** Marks the lean `gradients` and holds tfjs's own. */
const ORIGINAL = Symbol('usam.originalGradients');

/** Whether the engine has what the mirror uses (`activeTape`, `activeScope` appear later). */
function hasInternals(engine: EngineInternals): boolean {
  const { state } = engine;
  return (
    typeof engine.gradients === 'function' &&
    typeof engine.startTape === 'function' &&
    typeof engine.endTape === 'function' &&
    typeof engine.scopedRun === 'function' &&
    typeof state?.gradientDepth === 'number'
  );
}

/**
 * Makes the engine's `gradients` (behind `tf.grads`, `tf.variableGrads`,
 * optimizers' `minimize`, `model.fit`) lean; idempotent. Returns whether the
 * lean pass is in place (false when this tfjs-core lacks the internals).
 */
export function installLeanBackward(): boolean {
  const engine = tf.engine() as unknown as EngineInternals;
  if (engine.gradients[ORIGINAL] !== undefined) return true;
  if (!hasInternals(engine) || !tf.version_core.startsWith('4.')) return false;
  const original = engine.gradients;
  const lean: EngineInternals['gradients'] = (f, xs, dy, allowNoGradients = false) =>
    engine.state.gradientDepth > 0
      ? original.call(engine, f, xs, dy, allowNoGradients)
      : leanGradients(engine, f, xs, dy, allowNoGradients);
  lean[ORIGINAL] = original;
  engine.gradients = lean;
  return true;
}

/** Puts tfjs's own `gradients` back (for comparisons in tests and benches). */
export function uninstallLeanBackward(): void {
  const engine = tf.engine() as unknown as EngineInternals;
  const original = engine.gradients[ORIGINAL];
  if (original === undefined) return;
  // The original is the prototype's method; dropping the own property restores it.
  if (Object.getPrototypeOf(engine).gradients === original) {
    delete (engine as Partial<EngineInternals>).gradients;
  } else {
    engine.gradients = original;
  }
}

/** tfjs's `Engine.gradients` at gradient depth 0, with `leanBackprop` for its backward loop. */
function leanGradients(
  engine: EngineInternals,
  f: () => Tensor,
  xs: Tensor[],
  dy: Tensor | undefined,
  allowNoGradients: boolean,
): { value: Tensor; grads: Tensor[] } {
  tf.util.assert(xs.length > 0, () => 'gradients() received an empty list of xs.');
  if (dy != null && dy.dtype !== 'float32') {
    throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
  }
  const y = engine.scopedRun(
    () => engine.startTape(),
    () => engine.endTape(),
    () => engine.tidy('forward', f),
  );
  tf.util.assert(y instanceof tf.Tensor, () => 'The result y returned by f() must be a tensor.');
  const tape = engine.state.activeTape!;
  const filteredTape = getFilteredNodesXToY(tape, xs, y);
  if (!allowNoGradients && filteredTape.length === 0 && xs.length > 0) {
    throw new Error(
      'Cannot compute gradient of y=f(x) with respect to x. Make sure ' +
        'that the f you passed encloses all operations that lead from x ' +
        'to y.',
    );
  }
  return engine.tidy('backward', () => {
    const gradients = new GradientMap(engine.state.activeScope!.id, xs);
    gradients.set(y.id, dy ?? tf.ones(y.shape));
    leanBackprop(engine, gradients, filteredTape);
    const grads = xs.map((x) => gradients.get(x.id)!);
    // As tfjs does at depth 0: the tape's remaining saved tensors go.
    for (const node of tape) for (const tensor of node.saved ?? []) tensor.dispose();
    engine.state.activeTape = null;
    return { value: y, grads };
  });
}

/**
 * The gradient accumulated for each tensor id, and how many ids hold each
 * gradient tensor (a gradient function may return its dy itself, so one
 * tensor can be the gradient of several). A gradient may be freed once no id
 * holds it, unless it was not made by this backward pass (the caller's dy, a
 * kept or saved tensor). The gradients of `xs` are held to the end.
 */
class GradientMap {
  private readonly byId = new Map<number, Tensor>();
  private readonly holders = new Map<Tensor, number>();
  private readonly requested: Set<number>;

  constructor(
    private readonly scopeId: number,
    xs: readonly Tensor[],
  ) {
    this.requested = new Set(xs.map((x) => x.id));
  }

  get(id: number): Tensor | undefined {
    return this.byId.get(id);
  }

  held(tensor: Tensor): boolean {
    return this.holders.has(tensor);
  }

  set(id: number, tensor: Tensor): void {
    this.release(id);
    this.byId.set(id, tensor);
    this.holders.set(tensor, (this.holders.get(tensor) ?? 0) + 1);
  }

  /** Drops `id`'s gradient once consumed, and frees it when nothing else holds it. */
  consume(id: number): void {
    if (this.requested.has(id)) return;
    const tensor = this.release(id);
    if (tensor !== undefined && !this.held(tensor) && this.madeHere(tensor)) tensor.dispose();
  }

  private release(id: number): Tensor | undefined {
    const tensor = this.byId.get(id);
    if (tensor === undefined) return undefined;
    this.byId.delete(id);
    const count = this.holders.get(tensor)! - 1;
    if (count === 0) this.holders.delete(tensor);
    else this.holders.set(tensor, count);
    return tensor;
  }

  private madeHere(tensor: Tensor): boolean {
    return tensor.scopeId === this.scopeId && !tensor.kept;
  }
}

/**
 * tfjs's `backpropagateGradients` (tape.ts), same ops in the same order. Each
 * node runs in its own tidy, which frees what its gradient function made
 * besides the new accumulated gradients (a customGrad's intermediates, zeros
 * for unused outputs, a dx already added); then the node's consumed dys and
 * saved tensors are freed.
 */
function leanBackprop(
  engine: EngineInternals,
  gradients: GradientMap,
  filteredTape: readonly TapeNode[],
): void {
  for (let i = filteredTape.length - 1; i >= 0; i--) {
    const node = filteredTape[i]!;
    const inputs = Object.values(node.inputs);
    engine.tidy(() => {
      const dys = node.outputs.map((o) => gradients.get(o.id) ?? null);
      if (node.gradient == null) {
        throw new Error(
          `Cannot compute gradient: gradient function not found for ${node.kernelName}.`,
        );
      }
      const inputGradients = node.gradient(dys as Tensor[]);
      for (const inputName in node.inputs) {
        if (!(inputName in inputGradients)) {
          throw new Error(
            `Cannot backprop through input ${inputName}. ` +
              `Available gradients found: ${Object.keys(inputGradients)}.`,
          );
        }
        const dx = engine.tidy(() => inputGradients[inputName]!());
        if (dx.dtype !== 'float32') {
          throw new Error(
            `Error in gradient for op ${node.kernelName}. The gradient of input ` +
              `${inputName} must have 'float32' dtype, but has '${dx.dtype}'`,
          );
        }
        const x = node.inputs[inputName]!;
        if (!tf.util.arraysEqual(dx.shape, x.shape)) {
          throw new Error(
            `Error in gradient for op ${node.kernelName}. The gradient of input ` +
              `'${inputName}' has shape '${dx.shape}', which does not match ` +
              `the shape of the input '${x.shape}'`,
          );
        }
        const current = gradients.get(x.id);
        if (current == null) {
          gradients.set(x.id, dx);
        } else {
          gradients.set(x.id, tf.add(current, dx));
          current.dispose();
        }
      }
      return inputs.map((x) => gradients.get(x.id)!);
    });
    // An output that is also an input (a customGrad returning its input) was accumulated into.
    for (const output of new Set(node.outputs)) {
      if (!inputs.some((x) => x.id === output.id)) gradients.consume(output.id);
    }
    for (const tensor of node.saved ?? []) if (!gradients.held(tensor)) tensor.dispose();
  }
}

/**
 * tfjs's `getFilteredNodesXToY` (tape.ts, not exported by tfjs-core): the tape
 * nodes on a path from `xs` to `y`, in tape order, with inputs not depending
 * on `xs` pruned.
 */
function getFilteredNodesXToY(tape: readonly TapeNode[], xs: Tensor[], y: Tensor): TapeNode[] {
  const tensorsFromX = new Set(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    for (const inputName in node.inputs) {
      if (tensorsFromX.has(node.inputs[inputName]!.id)) {
        for (const output of node.outputs) tensorsFromX.add(output.id);
        nodesFromX.add(node.id);
        break;
      }
    }
  }
  const tensorsLeadToY = new Set([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((o) => tensorsLeadToY.has(o.id))) {
      for (const inputName in node.inputs) {
        tensorsLeadToY.add(node.inputs[inputName]!.id);
        nodesToY.add(node.id);
      }
    }
  }
  const filteredTape: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const prunedInputs: Record<string, Tensor> = {};
    for (const inputName in node.inputs) {
      const input = node.inputs[inputName]!;
      if (tensorsFromX.has(input.id)) prunedInputs[inputName] = input;
    }
    filteredTape.push({ ...node, inputs: prunedInputs, outputs: node.outputs });
  }
  return filteredTape;
}
