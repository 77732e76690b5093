import * as tf from '@tensorflow/tfjs-core';
import { OptimizerError } from './errors';
import type { SharpnessAwareOptimizer } from './sharpness-aware';
import type { Perturbation, StepStats } from './types';

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
 */
export class SharpnessAwareTfOptimizer extends tf.Optimizer {
  static readonly className = 'SharpnessAwareTfOptimizer';
  /** The epoch passed to each step (SSAM-F refreshes its mask per epoch). */
  epoch: number | undefined;
  /** The statistics of the last step. */
  lastStats: StepStats | undefined;

  constructor(readonly optimizer: SharpnessAwareOptimizer<Perturbation | undefined>) {
    super();
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
  }

  override minimize(
    f: () => tf.Scalar,
    returnCost = false,
    varList?: tf.Variable[],
  ): tf.Scalar | null {
    const engine = tf.engine() as unknown as { keep: (t: tf.Tensor) => tf.Tensor };
    const kept: tf.Tensor[] = [];
    let calls = 0;
    const loss = () => {
      calls++;
      if (calls === 1) return f();
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
      this.lastStats = this.optimizer.stepNow(loss, this.epoch, varList);
    } finally {
      tf.dispose(kept);
    }
    return returnCost ? tf.scalar(this.lastStats.loss) : null;
  }

  override applyGradients(): void {
    throw new OptimizerError(
      `${this.optimizer.name}: a sharpness-aware step needs the loss closure, not gradients; call minimize (model.fit does).`,
    );
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { optimizer: this.optimizer.name };
  }

  override dispose(): void {
    this.optimizer.dispose();
    super.dispose();
  }
}

/** `new SharpnessAwareTfOptimizer(optimizer)`: a `tf.Optimizer` for `model.compile`. */
export const asTfOptimizer = (
  optimizer: SharpnessAwareOptimizer<Perturbation | undefined>,
): SharpnessAwareTfOptimizer => new SharpnessAwareTfOptimizer(optimizer);
