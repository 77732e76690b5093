import * as tfl from '@tensorflow/tfjs-layers';
import { initializers } from './init';

/** The hidden layers of the paper's MLP: "a 6-layer ReLU network with 128 hidden units". */
export const MLP_HIDDEN_LAYERS = 5;
export const MLP_HIDDEN_UNITS = 128;

export interface BuildOptions {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  /** Channel/unit multiplier, already validated (> 0, finite). */
  readonly width: number;
  readonly seed: number;
}

/** Channels at width w: round(base·w), at least 1. */
export const scaled = (base: number, width: number): number =>
  Math.max(1, Math.round(base * width));

/**
 * The paper's MNIST MLP: d → Dense(128, ReLU) ×5 → Dense(numClasses), logits out.
 * Six weight layers; 167,818 parameters for d = 784, 10 classes, width 1.
 */
export function buildMlp({ inputShape, numClasses, width, seed }: BuildOptions): tfl.LayersModel {
  const init = initializers(seed);
  const units = scaled(MLP_HIDDEN_UNITS, width);
  const input = tfl.input({ shape: [...inputShape], name: 'input' });
  let x = input;
  let fanIn = inputShape[0]!;
  for (let i = 1; i <= MLP_HIDDEN_LAYERS; i++) {
    x = tfl.layers
      .dense({
        units,
        activation: 'relu',
        kernelInitializer: init.kernel(),
        biasInitializer: init.bias(fanIn),
        name: `dense${i}`,
      })
      .apply(x) as tfl.SymbolicTensor;
    fanIn = units;
  }
  const logits = tfl.layers
    .dense({
      units: numClasses,
      kernelInitializer: init.kernel(),
      biasInitializer: init.bias(fanIn),
      name: 'logits',
    })
    .apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: logits, name: 'mlp' });
}
