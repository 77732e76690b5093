/**
 * Gradients of FusedBatchNorm, Mean and Sum that broadcast small tensors
 * instead of materialising them at the input's size.
 *
 * tfjs-core 4.22's versions tile BatchNorm's [C] slope to [N, H, W, C] (wasm's
 * Tile runs about 40× slower than a broadcast multiply: 28% of a ResNet-18
 * step), multiply every full-size term before summing it, and build Mean's and
 * Sum's gradients from `ones(x.shape)` filled in JavaScript. These compute the
 * same functions with one broadcast multiply per full-size result, and
 * parameter-sized arithmetic after the sums. They are made of differentiable
 * ops, so second-order gradients (exact HVPs) go through them.
 */
import * as tf from '@tensorflow/tfjs-core';

type Tensor = tf.Tensor;

/** Σ of `t` over the axes along which `shape` broadcasts to t's shape, as `shape`. */
export function reduceTo(t: Tensor, shape: number[]): Tensor {
  const axes = tf.broadcast_util.getReductionAxes(shape, t.shape);
  return tf.reshape(axes.length > 0 ? tf.sum(t, axes) : t, shape);
}

/**
 * y = (x − m)·r·γ + β with r = (v + ε)^(−1/2), parameters broadcast over x:
 *
 *     ∂/∂x = dy·rγ                ∂/∂γ = r·Σ dy(x − m)      ∂/∂β = Σ dy
 *     ∂/∂m = −rγ·Σ dy             ∂/∂v = −½r²·rγ·Σ dy(x − m)
 *
 * (Σ over the broadcast axes). The two sums are shared: training-mode
 * BatchNorm (m, v from `tf.moments`) needs all five, eval mode x, γ and β.
 */
const fusedBatchNormGrad: tf.GradConfig = {
  kernelName: tf.FusedBatchNorm,
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    const { varianceEpsilon } = attrs as unknown as tf.FusedBatchNormAttrs;
    const [x, mean, variance, scale] = saved as [Tensor, Tensor, Tensor, Tensor | undefined];
    const g = dy as Tensor;
    const params = [mean.shape, variance.shape, ...(scale ? [scale.shape] : [])].reduce((a, b) =>
      tf.broadcast_util.assertAndGetBroadcastShape(a, b),
    );
    const r = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
    const slope = scale ? tf.mul(r, scale) : r;
    // In a tidy: tfjs keeps what a gradient function makes outside its closures until
    // the whole backward pass ends, and dy·(x − m) is as large as x.
    const [sumDy, sumDyCentred] = tf.tidy(() => [
      reduceTo(g, params),
      reduceTo(tf.mul(g, tf.sub(x, mean)), params),
    ]) as [Tensor, Tensor];
    return {
      x: () => tf.mul(g, slope),
      mean: () => reduceTo(tf.neg(tf.mul(slope, sumDy)), mean.shape),
      variance: () =>
        reduceTo(
          tf.mul(tf.mul(tf.scalar(-0.5), tf.square(r)), tf.mul(slope, sumDyCentred)),
          variance.shape,
        ),
      scale: () => reduceTo(tf.mul(r, sumDyCentred), scale!.shape),
      // tfjs does not save the offset; like its own gradient, this assumes mean's shape.
      offset: () => reduceTo(sumDy, mean.shape),
    };
  },
};

/** dy spread back over the reduced axes: one broadcast multiply with a constant fill. */
function spread(dy: Tensor, x: Tensor, axis: number | number[], scale: (size: number) => number) {
  const axes = tf.util.parseAxisParam(axis, x.shape);
  const expanded = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const size = axes.reduce((n, a) => n * x.shape[a]!, 1);
  return tf.mul(tf.reshape(dy, expanded), tf.fill(x.shape, scale(size), 'float32'));
}

const meanGrad: tf.GradConfig = {
  kernelName: tf.Mean,
  inputsToSave: ['x'],
  gradFunc: (dy, [x], attrs) => ({
    x: () => spread(dy as Tensor, x!, (attrs as unknown as tf.MeanAttrs).axis, (n) => 1 / n),
  }),
};

const sumGrad: tf.GradConfig = {
  kernelName: tf.Sum,
  inputsToSave: ['x'],
  gradFunc: (dy, [x], attrs) => ({
    x: () => spread(dy as Tensor, x!, (attrs as unknown as tf.SumAttrs).axis, () => 1),
  }),
};

/**
 * BatchMatMul's gradient, summed over the batch axes an operand was broadcast
 * along. tfjs-core 4.22's returns the broadcast shape (a [1, 1, 3] times a
 * [8, 3, 2] gets an [8, 1, 3] gradient), which the engine rejects: training
 * through a broadcast matMul threw on every backend.
 */
const batchMatMulGrad: tf.GradConfig = {
  kernelName: tf.BatchMatMul,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved, attrs) => {
    const [a, b] = saved as [Tensor, Tensor];
    const g = dy as Tensor;
    const { transposeA: ta, transposeB: tb } = attrs as unknown as tf.BatchMatMulAttrs;
    const mm = (x: Tensor, y: Tensor, tx: boolean, ty: boolean) => tf.matMul(x, y, tx, ty);
    // d(a·b) for each combination of flags, as tfjs-core's (and TensorFlow's math_grad.py).
    const [da, db] = !ta
      ? !tb
        ? [() => mm(g, b, false, true), () => mm(a, g, true, false)]
        : [() => mm(g, b, false, false), () => mm(g, a, true, false)]
      : !tb
        ? [() => mm(b, g, false, true), () => mm(a, g, false, false)]
        : [() => mm(b, g, true, true), () => mm(g, a, true, true)];
    return { a: () => reduceTo(da(), a.shape), b: () => reduceTo(db(), b.shape) };
  },
};

/** The gradient configs this module provides (registered by `registerSecondOrderGradients`). */
export const BROADCAST_GRADIENTS: readonly tf.GradConfig[] = [
  fusedBatchNormGrad,
  meanGrad,
  sumGrad,
  batchMatMulGrad,
];
