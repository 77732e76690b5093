/**
 * Conv2D, DepthwiseConv2dNative and their fused versions on wasm with 'same'
 * padding given to XNNPACK as the explicit pads it stands for.
 *
 * tfjs-backend-wasm 4.22 passes 'same' to XNNPACK as its TensorFlow-SAME
 * flag, which gives all zeros when a stride exceeds the input along an axis
 * (x [2, 8, 1, 1], a 1×2 filter, strides [2, 3]: zeros, where the cpu backend
 * and explicit pads give x·w). The explicit pads are tfjs's own
 * (`computeConv2DInfo`), so every other case computes the same function.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelArgs, Shape4 } from './wasm-scratch';

/** Wraps one of wasm's 2-D convolutions (`depthwise` for the depthwise ones). */
export const explicitSamePadding =
  (depthwise: boolean) =>
  (original: tf.KernelFunc): tf.KernelFunc =>
  (args: KernelArgs) => {
    const attrs = args.attrs as unknown as tf.Conv2DAttrs;
    const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
    if (attrs.pad !== 'same' || (attrs.dataFormat ?? 'NHWC') !== 'NHWC' || x.shape.length !== 4) {
      return original(args);
    }
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as Shape4,
      filter.shape as Shape4,
      attrs.strides,
      attrs.dilations ?? 1,
      'same',
      undefined,
      depthwise,
    );
    const { top, bottom, left, right } = info.padInfo;
    const pad: tf.backend_util.ExplicitPadding = [
      [0, 0],
      [top, bottom],
      [left, right],
      [0, 0],
    ];
    return original({ ...args, attrs: { ...args.attrs, pad } as unknown as tf.NamedAttrMap });
  };
