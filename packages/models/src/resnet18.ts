import * as tfl from '@tensorflow/tfjs-layers';
import { initializers } from './init';
import { type BuildOptions, scaled } from './mlp';

/** Smallest height and width ResNet-18 takes: three stride-2 stages leave ≥ 1×1. */
export const RESNET18_MIN_SIZE = 8;

/**
 * BatchNorm as in PyTorch's defaults: PyTorch's momentum 0.1 is Keras's 0.9
 * (running = 0.9·running + 0.1·batch), epsilon 1e-5. One difference stays:
 * tfjs-layers updates the running variance with the biased batch variance,
 * PyTorch with the unbiased one (a factor n/(n−1), n = batch·h·w).
 */
const BN_MOMENTUM = 0.9;
const BN_EPSILON = 1e-5;

const STAGES = [
  { channels: 64, stride: 1 },
  { channels: 128, stride: 2 },
  { channels: 256, stride: 2 },
  { channels: 512, stride: 2 },
] as const;
const BLOCKS_PER_STAGE = 2;

type T = tfl.SymbolicTensor;
const call = (layer: tfl.layers.Layer, x: T | T[]): T => layer.apply(x) as T;

/**
 * The CIFAR ResNet-18 of kuangliu/pytorch-cifar: conv3×3(64) → BN → ReLU, four
 * stages of two BasicBlocks at 64/128/256/512 channels (strides 1, 2, 2, 2),
 * global average pool, Dense(numClasses) logits. Convolutions have no bias.
 * Every channel count is round(c·width), at least 1. At width 1 with 10
 * classes: 11,173,962 trainable parameters and 9,600 BatchNorm running
 * statistics.
 *
 * A strided 3×3 convolution pads one pixel on every side and is then 'valid',
 * as PyTorch's padding=1 does: tfjs's 'same' would pad only bottom/right and
 * shift the sampled grid by a pixel against the 1×1 projection shortcut.
 */
export function buildResnet18({
  inputShape,
  numClasses,
  width,
  seed,
}: BuildOptions): tfl.LayersModel {
  const init = initializers(seed);
  const conv = (x: T, filters: number, kernelSize: number, stride: number, name: string): T => {
    const padded =
      stride > 1 && kernelSize > 1
        ? call(tfl.layers.zeroPadding2d({ padding: (kernelSize - 1) / 2, name: `${name}_pad` }), x)
        : x;
    return call(
      tfl.layers.conv2d({
        filters,
        kernelSize,
        strides: stride,
        padding: stride > 1 ? 'valid' : 'same',
        useBias: false,
        kernelInitializer: init.kernel(),
        name,
      }),
      padded,
    );
  };
  const bn = (x: T, name: string): T =>
    call(tfl.layers.batchNormalization({ momentum: BN_MOMENTUM, epsilon: BN_EPSILON, name }), x);
  const relu = (x: T, name: string): T =>
    call(tfl.layers.activation({ activation: 'relu', name }), x);

  const input = tfl.input({ shape: [...inputShape], name: 'input' });
  const stem = scaled(64, width);
  let x = relu(bn(conv(input, stem, 3, 1, 'stem_conv'), 'stem_bn'), 'stem_relu');
  let channels = stem;
  STAGES.forEach((stage, s) => {
    const out = scaled(stage.channels, width);
    for (let b = 0; b < BLOCKS_PER_STAGE; b++) {
      const stride = b === 0 ? stage.stride : 1;
      const name = `layer${s + 1}_block${b + 1}`;
      let y = relu(bn(conv(x, out, 3, stride, `${name}_conv1`), `${name}_bn1`), `${name}_relu1`);
      y = bn(conv(y, out, 3, 1, `${name}_conv2`), `${name}_bn2`);
      const shortcut =
        stride !== 1 || channels !== out
          ? bn(conv(x, out, 1, stride, `${name}_shortcut_conv`), `${name}_shortcut_bn`)
          : x;
      x = relu(call(tfl.layers.add({ name: `${name}_add` }), [y, shortcut]), `${name}_relu2`);
      channels = out;
    }
  });
  x = call(tfl.layers.globalAveragePooling2d({ name: 'pool' }), x);
  const logits = call(
    tfl.layers.dense({
      units: numClasses,
      kernelInitializer: init.kernel(),
      biasInitializer: init.bias(channels),
      name: 'logits',
    }),
    x,
  );
  return tfl.model({ inputs: input, outputs: logits, name: 'resnet18' });
}
