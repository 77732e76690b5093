/**
 * Same-process A/B of our wasm SIMD kernels (src/simd-kernels.ts) against the
 * versions they replace (`withoutSimdKernels`: MaxPoolGrad and Sum as
 * JavaScript loops, Conv2DBackpropFilter as an XNNPACK convolution of
 * transposed operands, products on XNNPACK with flagged operands transposed
 * first), on the shapes of bench:peer's MLP, CNNs and ResNet-18 at batch 32.
 * And the Winograd convolutions against the same kernels with Winograd off
 * (`winogradAB`). Rounds alternate old, new (order rotating); the figure is the
 * median over rounds of old ms / new ms. Usage: `pnpm bench:kernels`
 * (AB_ONLY=substring filters cases, AB_ROUNDS sets the rounds). Prints JSON lines.
 */
import * as tf from '@tensorflow/tfjs-core';
import { WINOGRAD } from '../src/conv-winograd';
import { initBackend } from '../src/node';
import { withoutSimdKernels } from '../src/simd-kernels';

await initBackend('wasm');

type Shape4 = [number, number, number, number];
interface Case {
  readonly name: string;
  /** What `old` is: tfjs's kernels and our fallbacks (default), or only Winograd off. */
  readonly baseline?: 'winograd off';
  /** Makes the inputs, returns a function running the kernel once (output disposed). */
  readonly setup: () => {
    /** Untimed, before each run: a fresh input, disposed after the run. */
    prepare?: () => tf.Tensor;
    run: (fresh?: tf.Tensor) => void;
    dispose: () => void;
  };
}

const rand = (shape: number[]) => tf.randomUniform(shape, -1, 1);

/** A conv gradient kernel (filter or input gradient) on the gradient of x ⊛ [k, k, Cin, cout]. */
function convGradient(
  kernel: 'Conv2DBackpropFilter' | 'Conv2DBackpropInput',
  name: string,
  x: Shape4,
  k: number,
  cout: number,
  stride: number,
  pad: 'same' | 'valid',
): Case {
  return {
    name: `${kernel} ${name} x[${x}] ${k}×${k}→${cout} s${stride} ${pad}`,
    setup() {
      const filterShape: Shape4 = [k, k, x[3], cout];
      const info = tf.backend_util.computeConv2DInfo(x, filterShape, stride, 1, pad);
      const other = kernel === 'Conv2DBackpropFilter' ? rand(x) : rand(filterShape);
      const dy = rand(info.outShape);
      const attrs = { strides: stride, pad, dataFormat: 'NHWC', filterShape, inputShape: x };
      return {
        // A fresh dy each call, as in training: XNNPACK caches packed operands by tensor id.
        prepare: () => tf.mul(dy, 1),
        run: (fresh) => {
          const inputs: tf.NamedTensorMap =
            kernel === 'Conv2DBackpropFilter'
              ? { x: other, dy: fresh! }
              : { dy: fresh!, filter: other };
          (tf.engine().runKernel(kernel, inputs, attrs) as tf.Tensor).dispose();
        },
        dispose: () => tf.dispose([other, dy]),
      };
    },
  };
}
const convFilter = (...args: [string, Shape4, number, number, number, 'same' | 'valid']) =>
  convGradient('Conv2DBackpropFilter', ...args);
const convInput = (...args: [string, Shape4, number, number, number, 'same' | 'valid']) =>
  convGradient('Conv2DBackpropInput', ...args);

function poolGrad(x: Shape4): Case {
  return {
    name: `MaxPoolGrad x[${x}] 2×2 s2`,
    setup() {
      const input = rand(x);
      const dy = rand([x[0], Math.floor(x[1] / 2), Math.floor(x[2] / 2), x[3]]);
      return {
        run: () =>
          (
            tf
              .engine()
              .runKernel(
                'MaxPoolGrad',
                { dy, input, output: dy },
                { filterSize: 2, strides: 2, pad: 'valid' },
              ) as tf.Tensor
          ).dispose(),
        dispose: () => tf.dispose([input, dy]),
      };
    },
  };
}

function sum(x: number[]): Case {
  return {
    name: `Sum x[${x}] over leading axes`,
    setup() {
      const input = rand(x);
      const axis = x.slice(0, -1).map((_, i) => i);
      return {
        run: () => tf.sum(input, axis).dispose(),
        dispose: () => input.dispose(),
      };
    },
  };
}

function biasAdd(x: number[]): Case {
  return {
    name: `Add x[${x}] + bias[${x.at(-1)}]`,
    setup() {
      const input = rand(x);
      const bias = rand([x.at(-1)!]);
      return {
        run: () => tf.add(input, bias).dispose(),
        dispose: () => tf.dispose([input, bias]),
      };
    },
  };
}

/** dW = xᵀ·dy of a dense layer: BatchMatMul with transposeA. */
function denseWeightGrad(batch: number, inputs: number, units: number): Case {
  return {
    name: `BatchMatMul xᵀ[${batch},${inputs}]·dy[${batch},${units}]`,
    setup() {
      const x = rand([batch, inputs]);
      const dy = rand([batch, units]);
      return {
        prepare: () => tf.mul(dy, 1),
        run: (fresh) => tf.matMul(x, fresh!, true, false).dispose(),
        dispose: () => tf.dispose([x, dy]),
      };
    },
  };
}

/**
 * A product as a dense layer runs it (`a·b`, `a·bᵀ`, fused bias + relu), with a
 * fresh b each call, as training's weights and gradients are.
 */
function product(
  name: string,
  aShape: number[],
  bShape: number[],
  transposeB: boolean,
  fused = false,
): Case {
  return {
    name: `${fused ? '_FusedMatMul' : 'BatchMatMul'} ${name} a[${aShape}]·b[${bShape}]${transposeB ? 'ᵀ' : ''}${fused ? ' + bias, relu' : ''}`,
    setup() {
      const a = rand(aShape);
      const b = rand(bShape);
      const bias = rand([bShape[transposeB ? 0 : 1]!]);
      return {
        prepare: () => tf.mul(b, 1),
        run: (fresh) =>
          (fused
            ? tf.fused.matMul({ a, b: fresh!, transposeB, bias, activation: 'relu' })
            : tf.matMul(a, fresh!, false, transposeB)
          ).dispose(),
        dispose: () => tf.dispose([a, b, bias]),
      };
    },
  };
}

/**
 * A stride-1 3×3 convolution forward (Conv2D, or FusedConv2D with bias and ReLU)
 * or its input gradient, Winograd (conv-winograd.ts) against what ran before it
 * (`WINOGRAD.use = false`): XNNPACK forward, our other input gradients. A fresh
 * filter every call, as in training (XNNPACK packs a new filter anew).
 */
function winogradAB(
  kernel: 'Conv2D' | 'FusedConv2D' | 'Conv2DBackpropInput' | 'Conv2DBackpropFilter',
  name: string,
  x: Shape4,
  cout: number,
  pad: 'same' | 'valid',
): Case {
  return {
    name: `Winograd ${kernel} ${name} x[${x}] 3×3→${cout} ${pad}`,
    baseline: 'winograd off',
    setup() {
      const filterShape: Shape4 = [3, 3, x[3], cout];
      const info = tf.backend_util.computeConv2DInfo(x, filterShape, 1, 1, pad);
      const input = kernel === 'Conv2DBackpropInput' ? rand(info.outShape) : rand(x);
      const filter = rand(filterShape);
      const bias = rand([cout]);
      const dy = rand(info.outShape);
      return {
        // A fresh dy for the filter gradient.
        prepare: () => tf.mul(kernel === 'Conv2DBackpropFilter' ? dy : filter, 1),
        run: (fresh) => {
          const out =
            kernel === 'Conv2DBackpropFilter'
              ? tf
                  .engine()
                  .runKernel(
                    kernel,
                    { x: input, dy: fresh! },
                    { strides: 1, pad, dataFormat: 'NHWC', filterShape },
                  )
              : kernel === 'Conv2DBackpropInput'
                ? tf
                    .engine()
                    .runKernel(
                      kernel,
                      { dy: input, filter: fresh! },
                      { strides: 1, pad, dataFormat: 'NHWC', inputShape: x },
                    )
                : kernel === 'Conv2D'
                  ? tf.conv2d(input as tf.Tensor4D, fresh as tf.Tensor4D, 1, pad)
                  : tf.fused.conv2d({
                      x: input as tf.Tensor4D,
                      filter: fresh as tf.Tensor4D,
                      strides: 1,
                      pad,
                      bias,
                      activation: 'relu',
                    });
          (out as tf.Tensor).dispose();
        },
        dispose: () => tf.dispose([input, filter, bias, dy]),
      };
    },
  };
}

const CASES: Case[] = [
  product('512³', [512, 512], [512, 512], false),
  product('mlp dense 1', [128, 784], [784, 128], false),
  product('mlp dense 1', [128, 784], [784, 128], false, true),
  product('mlp dense', [128, 128], [128, 128], false),
  product('mlp dense', [128, 128], [128, 128], false, true),
  product('mlp head', [128, 128], [128, 10], false),
  product('mlp dx = dy·Wᵀ', [128, 128], [128, 128], true),
  product('mlp head dx', [128, 10], [128, 10], true),
  product('cnn dense', [128, 1600], [1600, 128], false),
  winogradAB('Conv2D', 'resnet 32²', [32, 32, 32, 64], 64, 'same'),
  winogradAB('Conv2D', 'resnet 16²', [32, 16, 16, 128], 128, 'same'),
  winogradAB('Conv2D', 'resnet 8²', [32, 8, 8, 256], 256, 'same'),
  winogradAB('Conv2D', 'resnet 4²', [32, 4, 4, 512], 512, 'same'),
  winogradAB('FusedConv2D', 'cnn28 conv2', [128, 13, 13, 32], 64, 'valid'),
  winogradAB('FusedConv2D', 'cnn32 conv2', [128, 15, 15, 32], 64, 'valid'),
  winogradAB('FusedConv2D', 'cnn small', [128, 13, 13, 8], 16, 'valid'),
  winogradAB('Conv2DBackpropInput', 'resnet 32²', [32, 32, 32, 64], 64, 'same'),
  winogradAB('Conv2DBackpropInput', 'resnet 16²', [32, 16, 16, 128], 128, 'same'),
  winogradAB('Conv2DBackpropInput', 'resnet 8²', [32, 8, 8, 256], 256, 'same'),
  winogradAB('Conv2DBackpropInput', 'resnet 4²', [32, 4, 4, 512], 512, 'same'),
  winogradAB('Conv2DBackpropInput', 'cnn28 conv2', [128, 13, 13, 32], 64, 'valid'),
  winogradAB('Conv2DBackpropInput', 'cnn32 conv2', [128, 15, 15, 32], 64, 'valid'),
  winogradAB('Conv2DBackpropInput', 'cnn small', [128, 13, 13, 8], 16, 'valid'),
  winogradAB('Conv2DBackpropFilter', 'resnet 32²', [32, 32, 32, 64], 64, 'same'),
  winogradAB('Conv2DBackpropFilter', 'resnet 16²', [32, 16, 16, 128], 128, 'same'),
  winogradAB('Conv2DBackpropFilter', 'resnet 8²', [32, 8, 8, 256], 256, 'same'),
  winogradAB('Conv2DBackpropFilter', 'resnet 4²', [32, 4, 4, 512], 512, 'same'),
  winogradAB('Conv2DBackpropFilter', 'cnn28 conv2', [128, 13, 13, 32], 64, 'valid'),
  winogradAB('Conv2DBackpropFilter', 'cnn32 conv2', [128, 15, 15, 32], 64, 'valid'),
  winogradAB('Conv2DBackpropFilter', 'cnn small', [128, 13, 13, 8], 16, 'valid'),
  convFilter('cnn28 conv1', [128, 28, 28, 1], 3, 32, 1, 'valid'),
  convFilter('cnn28 conv2', [128, 13, 13, 32], 3, 64, 1, 'valid'),
  convFilter('cnn32 conv1', [128, 32, 32, 3], 3, 32, 1, 'valid'),
  convFilter('cnn32 conv2', [128, 15, 15, 32], 3, 64, 1, 'valid'),
  convFilter('resnet 3×3', [32, 32, 32, 64], 3, 64, 1, 'same'),
  convFilter('resnet 3×3 s2', [32, 32, 32, 64], 3, 128, 2, 'same'),
  convFilter('resnet 3×3 deep', [32, 8, 8, 256], 3, 256, 1, 'same'),
  convFilter('resnet 1×1 s2', [32, 16, 16, 128], 1, 256, 2, 'same'),
  convInput('cnn28 conv2', [128, 13, 13, 32], 3, 64, 1, 'valid'),
  convInput('cnn32 conv2', [128, 15, 15, 32], 3, 64, 1, 'valid'),
  convInput('resnet 3×3', [32, 32, 32, 64], 3, 64, 1, 'same'),
  convInput('resnet 3×3 s2', [32, 32, 32, 64], 3, 128, 2, 'same'),
  convInput('resnet 3×3 16²', [32, 16, 16, 128], 3, 128, 1, 'same'),
  convInput('resnet 3×3 deep', [32, 8, 8, 256], 3, 256, 1, 'same'),
  convInput('resnet 3×3 4²', [32, 4, 4, 512], 3, 512, 1, 'same'),
  convInput('resnet 1×1 s2', [32, 32, 32, 64], 1, 128, 2, 'same'),
  poolGrad([128, 26, 26, 32]),
  poolGrad([128, 11, 11, 64]),
  poolGrad([128, 30, 30, 32]),
  sum([128, 26, 26, 32]),
  sum([128, 11, 11, 64]),
  sum([32, 32, 32, 64]),
  denseWeightGrad(128, 784, 128),
  denseWeightGrad(128, 128, 128),
  denseWeightGrad(128, 128, 10),
  denseWeightGrad(128, 1600, 128),
  biasAdd([128, 26, 26, 32]),
  biasAdd([128, 11, 11, 64]),
  biasAdd([128, 128]),
];

const only = process.env.AB_ONLY;
const rounds = Number(process.env.AB_ROUNDS ?? 9);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function time(prepare: (() => tf.Tensor) | undefined, run: (fresh?: tf.Tensor) => void): number {
  const fresh = prepare?.();
  const start = performance.now();
  run(fresh);
  const ms = performance.now() - start;
  fresh?.dispose();
  return ms;
}

for (const c of CASES) {
  if (only !== undefined && !c.name.includes(only)) continue;
  const { prepare, run, dispose } = c.setup();
  const old = (fresh?: tf.Tensor) => {
    if (c.baseline !== 'winograd off') return withoutSimdKernels(() => run(fresh));
    WINOGRAD.use = false;
    try {
      run(fresh);
    } finally {
      WINOGRAD.use = true;
    }
  };
  time(prepare, old);
  time(prepare, run);
  const ratios: number[] = [];
  const olds: number[] = [];
  const news: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // Alternating order, so a trend in the machine's load hits both alike.
    if (r % 2 === 0) {
      olds.push(time(prepare, old));
      news.push(time(prepare, run));
    } else {
      news.push(time(prepare, run));
      olds.push(time(prepare, old));
    }
    ratios.push(olds.at(-1)! / news.at(-1)!);
  }
  dispose();
  console.log(
    JSON.stringify({
      case: c.name,
      oldMs: +median(olds).toFixed(2),
      newMs: +median(news).toFixed(2),
      speedup: +median(ratios).toFixed(2),
    }),
  );
}
