/**
 * Gradients that let `tf.grad` differentiate a gradient (exact Hessian-vector
 * products, reverse over reverse) through the ops real models use.
 *
 * tfjs-core 4.22 breaks second order in two ways:
 * - Gradients that reuse the op's saved output (exp, tanh, sigmoid, softmax,
 *   elu, pow, LRN, …) lose that path: the engine clones the output for the
 *   backward pass before the op itself is on the tape, so the clone is not
 *   connected to the inputs and its terms drop out (or `tf.grad` throws). The
 *   gradients here recompute what they need from the saved inputs instead.
 * - Some kernels have no gradient: the backprop kernels of conv2d, depthwise
 *   conv2d and the 2-D pools, and the comparisons (equal, greater, …) that
 *   first-order gradients of max, min, leakyRelu, relu6, prelu, selu and
 *   clipByValue use as masks. The backprop kernels get their gradients as in
 *   TensorFlow's nn_grad.py; comparisons get zero, like GreaterEqual already
 *   has in tfjs (and TensorFlow's NotDifferentiable).
 *
 * First-order gradients are unchanged up to float32 rounding.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BROADCAST_GRADIENTS, reduceTo } from './broadcast-gradients';
import { softmaxCrossEntropyGradient } from './softmax-cross-entropy';

type Tensor = tf.Tensor;
type Tensor4D = tf.Tensor4D;
type Pair = [number, number];
type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type RoundingMode = 'floor' | 'round' | 'ceil' | undefined;

const runKernel = (kernelName: string, inputs: tf.NamedTensorMap, attrs: object): Tensor =>
  tf.engine().runKernel(kernelName, inputs, attrs as tf.NamedAttrMap) as Tensor;

const pair = (value: number | Pair): Pair => (typeof value === 'number' ? [value, value] : value);

/** dy · f′(x) for an elementwise op, with f′ computed from the saved input. */
function elementwise(kernelName: string, derivative: (x: Tensor) => Tensor): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as Tensor, derivative(x!)) }),
  };
}

const expGrad = elementwise(tf.Exp, (x) => tf.exp(x));

const tanhGrad = elementwise(tf.Tanh, (x) => tf.sub(tf.scalar(1), tf.square(tf.tanh(x))));

const sigmoidGrad = elementwise(tf.Sigmoid, (x) => {
  const y = tf.sigmoid(x);
  return tf.mul(y, tf.sub(tf.scalar(1), y));
});

/** The EluGrad kernel reads the output; exp(x) on the negative side is the same slope. */
const eluGrad: tf.GradConfig = {
  kernelName: tf.Elu,
  inputsToSave: ['x'],
  gradFunc: (dy, [x]) => ({
    x: () => tf.where(tf.greaterEqual(x!, 0), dy as Tensor, tf.mul(dy as Tensor, tf.exp(x!))),
  }),
};

const softmaxGrad: tf.GradConfig = {
  kernelName: tf.Softmax,
  inputsToSave: ['logits'],
  gradFunc: (dy, [logits], attrs) => {
    const { dim } = attrs as unknown as tf.SoftmaxAttrs;
    return {
      logits: () => {
        const y = tf.softmax(logits!, dim);
        const dyTimesY = tf.mul(dy as Tensor, y);
        return tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, [dim], true), y));
      },
    };
  },
};

/**
 * Only for `runKernel('LogSoftmax')` (tfjs-node has the kernel): the
 * `tf.logSoftmax` op is a customGrad in 4.22, whose saved output is not
 * connected either, and cannot be fixed from the registry.
 */
const logSoftmaxGrad: tf.GradConfig = {
  kernelName: tf.LogSoftmax,
  inputsToSave: ['logits'],
  gradFunc: (dy, [logits], attrs) => {
    const { axis } = attrs as unknown as tf.LogSoftmaxAttrs;
    return {
      logits: () => {
        const softmax = tf.exp(tf.sub(logits!, tf.logSumExp(logits!, axis, true)));
        return tf.sub(dy as Tensor, tf.mul(tf.sum(dy as Tensor, axis, true), softmax));
      },
    };
  },
};

/** As tfjs's, with a^b recomputed for the exponent's derivative. */
const powGrad: tf.GradConfig = {
  kernelName: tf.Pow,
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, [a, b]) => {
    const base = a!;
    const exponent = b!;
    return {
      a: () => {
        const expFloat = tf.cast(exponent, 'float32');
        const slope = tf.mul(expFloat, tf.pow(base, tf.sub(expFloat, tf.scalar(1))));
        return reduceTo(tf.mul(dy as Tensor, slope), base.shape);
      },
      b: () => {
        const logBase = tf.where(tf.greater(base, 0), tf.log(base), tf.zerosLike(base));
        return reduceTo(
          tf.mul(dy as Tensor, tf.mul(tf.pow(base, exponent), logBase)),
          exponent.shape,
        );
      },
    };
  },
};

/** Σ over channels c − r … c + r (clipped at the edges) of a rank-4 tensor. */
function channelWindowSum(t: Tensor, radius: number): Tensor {
  const channels = t.shape[3]!;
  const padded = tf.pad(t, [
    [0, 0],
    [0, 0],
    [0, 0],
    [radius, radius],
  ]);
  const slices: Tensor[] = [];
  for (let offset = 0; offset <= 2 * radius; offset++) {
    slices.push(tf.slice(padded, [0, 0, 0, offset], [-1, -1, -1, channels]));
  }
  return slices.length === 1 ? slices[0]! : tf.addN(slices);
}

/**
 * LRN: y_c = x_c·N_c^(−β), N_c = bias + α Σ_{|k−c|≤r} x_k². Its gradient,
 * dx_k = dy_k N_k^(−β) − 2αβ x_k Σ_{|c−k|≤r} dy_c y_c / N_c, built from ops
 * (the LRNGrad kernel reads the output and has no gradient).
 */
const lrnGrad: tf.GradConfig = {
  kernelName: tf.LRN,
  inputsToSave: ['x'],
  gradFunc: (dy, [x], attrs) => {
    const { depthRadius, bias, alpha, beta } = attrs as unknown as tf.LRNAttrs;
    return {
      x: () => {
        const norm = tf.add(
          tf.scalar(bias),
          tf.mul(tf.scalar(alpha), channelWindowSum(tf.square(x!), depthRadius)),
        );
        const scale = tf.pow(norm, tf.scalar(-beta));
        const y = tf.mul(x!, scale);
        const spread = channelWindowSum(tf.div(tf.mul(dy as Tensor, y), norm), depthRadius);
        return tf.sub(
          tf.mul(dy as Tensor, scale),
          tf.mul(tf.scalar(2 * alpha * beta), tf.mul(x!, spread)),
        );
      },
    };
  },
};

/**
 * Comparisons are piecewise constant: zero gradient, as tfjs already gives
 * GreaterEqual. Without these, differentiating a gradient that masks with a
 * comparison (max, min, leakyRelu, relu6, prelu, selu, clipByValue, where)
 * throws "gradient function not found".
 */
const comparisonGrads: tf.GradConfig[] = [
  tf.Equal,
  tf.NotEqual,
  tf.Greater,
  tf.Less,
  tf.LessEqual,
  tf.LogicalAnd,
  tf.LogicalOr,
].map((kernelName) => ({
  kernelName,
  inputsToSave: ['a', 'b'],
  // float32 zeros even for bool inputs: tfjs requires float32 gradients.
  gradFunc: (_dy, [a, b]) => ({ a: () => tf.zeros(a!.shape), b: () => tf.zeros(b!.shape) }),
}));

const logicalNotGrad: tf.GradConfig = {
  kernelName: tf.LogicalNot,
  inputsToSave: ['x'],
  gradFunc: (_dy, [x]) => ({ x: () => tf.zeros(x!.shape) }),
};

/**
 * dW = Conv2DBackpropFilter(x, dy) is bilinear in (x, dy); against ddW:
 * ∂/∂x = Conv2DBackpropInput(dy, ddW), ∂/∂dy = conv2d(x, ddW).
 */
const conv2DBackpropFilterGrad: tf.GradConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  inputsToSave: ['x', 'dy'],
  gradFunc: (ddw, [x, dy], attrs) => {
    const { strides, pad, dataFormat, dimRoundingMode } =
      attrs as unknown as tf.Conv2DBackpropFilterAttrs;
    return {
      x: () =>
        runKernel(
          tf.Conv2DBackpropInput,
          { dy: dy!, filter: ddw as Tensor },
          { strides, pad, dataFormat, dimRoundingMode, inputShape: x!.shape },
        ),
      dy: () =>
        tf.conv2d(
          x as Tensor4D,
          ddw as Tensor4D,
          strides,
          pad,
          dataFormat,
          1,
          dimRoundingMode as RoundingMode,
        ),
    };
  },
};

/** Depthwise analogue of the above. */
const depthwiseBackpropFilterGrad: tf.GradConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  inputsToSave: ['x', 'dy'],
  gradFunc: (ddw, [x, dy], attrs) => {
    const { strides, pad, dilations, dimRoundingMode } =
      attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
    return {
      x: () =>
        runKernel(
          tf.DepthwiseConv2dNativeBackpropInput,
          { dy: dy!, filter: ddw as Tensor },
          { strides, pad, dilations, dimRoundingMode, inputShape: x!.shape },
        ),
      dy: () =>
        tf.depthwiseConv2d(
          x as Tensor4D,
          ddw as Tensor4D,
          strides,
          pad as Pad,
          'NHWC',
          dilations,
          dimRoundingMode,
        ),
    };
  },
};

/** dx = DepthwiseConv2dNativeBackpropInput(dy, W); against ddx: ∂/∂dy = depthwise(ddx, W), ∂/∂W = BackpropFilter(ddx, dy). */
const depthwiseBackpropInputGrad: tf.GradConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  inputsToSave: ['dy', 'filter'],
  gradFunc: (ddx, [dy, filter], attrs) => {
    const { strides, pad, dilations, dimRoundingMode } =
      attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
    return {
      dy: () =>
        tf.depthwiseConv2d(
          ddx as Tensor4D,
          filter as Tensor4D,
          strides,
          pad as Pad,
          'NHWC',
          dilations,
          dimRoundingMode,
        ),
      filter: () =>
        runKernel(
          tf.DepthwiseConv2dNativeBackpropFilter,
          { x: ddx as Tensor, dy: dy! },
          { strides, pad, dilations, dimRoundingMode, filterShape: filter!.shape },
        ),
    };
  },
};

interface PoolAttrs {
  filterSize: number | Pair;
  strides: number | Pair;
  pad: Pad;
  dimRoundingMode?: RoundingMode;
}

/**
 * Kᵀ(ddx) for a pool backprop kernel K(dy) = Σ_w dy_w·m_w, where m_w (the
 * window's argmax one-hot, or its averaging weights) lies inside window w.
 * Windows whose output indices agree modulo ⌈filter/stride⌉ do not overlap,
 * so K(indicator of one such class) holds each window's m_w apart; summing
 * m_w·ddx over each window (a depthwise convolution with ones) gives ⟨m_w, ddx⟩.
 * Using the backend's own kernel keeps its tie-breaking and border weights.
 */
function poolAdjoint(
  ddx: Tensor,
  dy: Tensor,
  attrs: PoolAttrs,
  kernel: (dyClass: Tensor) => Tensor,
): Tensor {
  const [filterHeight, filterWidth] = pair(attrs.filterSize);
  const [strideHeight, strideWidth] = pair(attrs.strides);
  const [, outHeight, outWidth, channels] = dy.shape as number[];
  const rowPeriod = Math.ceil(filterHeight / strideHeight);
  const colPeriod = Math.ceil(filterWidth / strideWidth);
  const ones = tf.ones([filterHeight, filterWidth, channels!, 1]) as Tensor4D;
  const windowSum = (t: Tensor) =>
    tf.depthwiseConv2d(
      t as Tensor4D,
      ones,
      attrs.strides,
      attrs.pad,
      'NHWC',
      1,
      attrs.dimRoundingMode,
    );
  if (rowPeriod === 1 && colPeriod === 1) {
    return windowSum(tf.mul(kernel(tf.onesLike(dy)), ddx));
  }
  const terms: Tensor[] = [];
  for (let i = 0; i < rowPeriod; i++) {
    for (let j = 0; j < colPeriod; j++) {
      const mask = new Float32Array(outHeight! * outWidth!);
      for (let r = i; r < outHeight!; r += rowPeriod) {
        for (let c = j; c < outWidth!; c += colPeriod) mask[r * outWidth! + c] = 1;
      }
      const inClass = tf.tensor4d(mask, [1, outHeight!, outWidth!, 1]);
      const weights = kernel(tf.mul(tf.onesLike(dy), inClass));
      terms.push(tf.mul(windowSum(tf.mul(weights, ddx)), inClass));
    }
  }
  return tf.addN(terms);
}

/**
 * AvgPool's gradient. tfjs-core 4.22's is AvgPoolGrad(dy), which spreads each
 * window's dy/(kh·kw) over it, while every backend's forward divides a window by the
 * number of its pixels inside the input: where 'same' or explicit padding puts a
 * window partly outside, that gradient was too small (a 3×3 'same' pool of a 3×3
 * input gave 1/9 for 1/4). Scaling dy by kh·kw/count first makes AvgPoolGrad the
 * forward's adjoint (docs/kernels.md); count is a function of the geometry only.
 */
const avgPoolGrad: tf.GradConfig = {
  kernelName: tf.AvgPool,
  inputsToSave: ['x'],
  gradFunc: (dy, [x], attrs) => {
    const poolAttrs = attrs as unknown as PoolAttrs;
    return {
      x: () => {
        const info = tf.backend_util.computePool2DInfo(
          x!.shape as [number, number, number, number],
          poolAttrs.filterSize,
          poolAttrs.strides,
          1,
          poolAttrs.pad,
          poolAttrs.dimRoundingMode,
        );
        const { inHeight, inWidth, outHeight, outWidth, filterHeight, filterWidth } = info;
        const scale = new Float32Array(outHeight * outWidth);
        let partial = false;
        for (let oy = 0; oy < outHeight; oy++) {
          const y0 = oy * info.strideHeight - info.padInfo.top;
          const rows = Math.min(inHeight, y0 + filterHeight) - Math.max(0, y0);
          for (let ox = 0; ox < outWidth; ox++) {
            const x0 = ox * info.strideWidth - info.padInfo.left;
            const count = rows * (Math.min(inWidth, x0 + filterWidth) - Math.max(0, x0));
            scale[oy * outWidth + ox] = count > 0 ? (filterHeight * filterWidth) / count : 0;
            partial ||= count !== filterHeight * filterWidth;
          }
        }
        const scaled = partial
          ? tf.mul(dy as Tensor, tf.tensor4d(scale, [1, outHeight, outWidth, 1]))
          : (dy as Tensor);
        return runKernel(tf.AvgPoolGrad, { dy: scaled, input: x! }, poolAttrs);
      },
    };
  },
};

/** AvgPoolGrad is linear in dy and ignores the input's values. */
const avgPoolGradGrad: tf.GradConfig = {
  kernelName: tf.AvgPoolGrad,
  inputsToSave: ['dy', 'input'],
  gradFunc: (ddx, [dy, input], attrs) => {
    const poolAttrs = attrs as unknown as PoolAttrs;
    return {
      dy: () =>
        poolAdjoint(ddx as Tensor, dy!, poolAttrs, (d) =>
          runKernel(tf.AvgPoolGrad, { dy: d, input: input! }, poolAttrs),
        ),
      input: () => tf.zerosLike(input!),
    };
  },
};

/** MaxPoolGrad is linear in dy; the argmax positions are locally constant in x. */
const maxPoolGradGrad: tf.GradConfig = {
  kernelName: tf.MaxPoolGrad,
  inputsToSave: ['dy', 'input', 'output'],
  gradFunc: (ddx, [dy, input, output], attrs) => {
    const poolAttrs = attrs as unknown as PoolAttrs;
    return {
      dy: () =>
        poolAdjoint(ddx as Tensor, dy!, poolAttrs, (d) =>
          runKernel(tf.MaxPoolGrad, { dy: d, input: input!, output: output! }, poolAttrs),
        ),
      input: () => tf.zerosLike(input!),
      output: () => tf.zerosLike(output!),
    };
  },
};

/** Every gradient config this module registers, by kernel name. */
export const SECOND_ORDER_GRADIENTS: readonly tf.GradConfig[] = [
  expGrad,
  tanhGrad,
  sigmoidGrad,
  eluGrad,
  softmaxGrad,
  logSoftmaxGrad,
  powGrad,
  lrnGrad,
  ...comparisonGrads,
  logicalNotGrad,
  conv2DBackpropFilterGrad,
  depthwiseBackpropFilterGrad,
  depthwiseBackpropInputGrad,
  avgPoolGrad,
  avgPoolGradGrad,
  maxPoolGradGrad,
  // Not second-order fixes: cheaper first-order gradients, still twice differentiable.
  ...BROADCAST_GRADIENTS,
  // The gradient of our fused softmax cross-entropy kernel (registered on wasm only).
  softmaxCrossEntropyGradient,
];

/**
 * Registers gradients that make `tf.grad` of a gradient exact through the ops
 * above (tfjs's own are replaced; `registerGradient` overrides silently outside
 * DEBUG). Backend-independent; `initBackend` calls it. Safe to call again.
 */
export function registerSecondOrderGradients(): void {
  for (const config of SECOND_ORDER_GRADIENTS) tf.registerGradient(config);
}
