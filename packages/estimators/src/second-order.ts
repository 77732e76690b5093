import * as tf from '@tensorflow/tfjs-core';

/**
 * Whether tfjs can differentiate gradients correctly here: the second-order
 * gradients `initBackend` from @usam/backend registers (exp's gradient
 * recomputed from its input, zero gradients for comparisons) are in the
 * registry. Checked by behaviour, d²/dx² eˣ at 0 = 1 and a max whose gradient
 * can itself be differentiated, so it holds whoever registered them.
 */
export function secondOrderGradientsRegistered(): boolean {
  try {
    return tf.tidy(() => {
      const x = tf.scalar(0);
      const second = tf.grad(tf.grad((t: tf.Tensor) => tf.exp(t)))(x);
      // max's gradient masks with Equal, whose own gradient tfjs lacks.
      const throughMax = tf.grad((t: tf.Tensor) =>
        tf.sum(tf.mul(tf.grad((u: tf.Tensor) => tf.max(u))(t), t)),
      )(tf.tensor1d([1, 2]));
      return Math.abs(second.dataSync()[0]! - 1) < 1e-6 && throughMax.size === 2;
    });
  } catch {
    return false;
  }
}

/** The scope our own customGrad ops run in, so that the tape check recognises them. */
export const TWICE_DIFFERENTIABLE_SCOPE = 'usamTwiceDifferentiable';

/**
 * tfjs customGrad ops whose backward pass reads only the op's inputs when they
 * run under a gradient (the fused matMul/conv ops fuse only a linear
 * activation there), so they can be differentiated twice; and ours.
 */
const TWICE_DIFFERENTIABLE_CUSTOM_GRADS = new Set([
  'fusedMatMul',
  'fusedConv2d',
  'fusedDepthwiseConv2d',
  TWICE_DIFFERENTIABLE_SCOPE,
]);

interface TapeNode {
  readonly kernelName: string;
  readonly inputs: Record<string, tf.Tensor>;
  readonly outputs: tf.Tensor[];
}

/** The engine's gradient tape while a gradient is being recorded (tfjs-core internals). */
function activeTape(): TapeNode[] | undefined {
  return (tf.engine().state as unknown as { activeTape?: TapeNode[] }).activeTape;
}

/** How long the tape is now; pass it to `customGradsOnPath` after running the loss. */
export const tapeLength = (): number => activeTape()?.length ?? 0;

/**
 * The names of tfjs customGrad ops recorded since `start` that lie on a path
 * from `variables` and are not known to be twice differentiable. A customGrad
 * op's backward pass computes from tensors it saved during a forward pass
 * that ran off the tape (tf.losses.softmaxCrossEntropy, tf.logSoftmax,
 * tf.logSigmoid, users' own), so differentiating it again silently drops
 * every term that goes through them. The engine records such an op under its
 * scope name (not a kernel name) with inputs keyed '0', '1', ….
 */
export function customGradsOnPath(start: number, variables: readonly tf.Variable[]): string[] {
  const tape = activeTape();
  if (tape === undefined) return [];
  const backend = tf.getBackend();
  const reached = new Set<number>(variables.map((v) => v.id));
  const found = new Set<string>();
  for (let i = start; i < tape.length; i++) {
    const node = tape[i]!;
    const inputs = Object.entries(node.inputs);
    if (!inputs.some(([, t]) => t != null && reached.has(t.id))) continue;
    for (const out of node.outputs) reached.add(out.id);
    const isCustomGrad =
      inputs.length > 0 &&
      inputs.every(([key]) => /^\d+$/.test(key)) &&
      tf.getKernel(node.kernelName, backend) == null;
    // tfjs 4 names op scopes 'opName__op'.
    const name = node.kernelName.replace(/__op$/, '');
    if (isCustomGrad && !TWICE_DIFFERENTIABLE_CUSTOM_GRADS.has(name))
      found.add(name || '(unnamed)');
  }
  return [...found];
}
