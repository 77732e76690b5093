/**
 * BatchMatMul and _FusedMatMul for wasm: wrappers around tfjs-backend-wasm
 * 4.22's kernels that take the products it is slow at, and the ones it gets
 * wrong (docs/kernels.md lists each, with the test that holds it).
 *
 * Slow: wasm runs a product on XNNPACK only when neither operand is
 * transposed and both have batch size 1; every other product goes to a
 * scalar triple loop, about 15× slower. And XNNPACK packs b afresh for every
 * new b tensor, which in training is every product. So where our SIMD module
 * runs, every float32 product runs there (docs/kernels.md, "Matrix
 * products"); without it, the flagged operand is transposed first and the
 * product goes to XNNPACK.
 *
 * Wrong in wasm's kernel, so never handed to it:
 * - XNNPACK caches its packed weights by b's tensor id alone, not its shape;
 *   a reshape shares the id, so a [16, 1] weight that was multiplied once and
 *   is then multiplied as its free [1, 16] transpose (every dense layer with
 *   one output: dx = dy·Wᵀ) reuses the old operator: wrong values, or writes
 *   past the output (`memory access out of bounds`, then a poisoned heap).
 *   Each b is handed to XNNPACK under one shape only; another shape gets a copy.
 * - A fused bias other than one value per column ([1], or [m, n]), a bias on a
 *   batched product, activations other than relu and relu6, products with a
 *   zero-sized dimension (uninitialised output), and batch shapes that
 *   broadcast other than by a batch of 1. These run as our product (or wasm's
 *   unfused one) followed by wasm's Add and activation kernels.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { type SimdKernels, simdKernels, type WasmHeap } from './simd-kernels';
import { type KernelArgs, type Scratch, withScratch } from './wasm-scratch';

interface MatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
  activation?: string;
  leakyreluAlpha?: number;
}

/** [0, …, r−3, r−1, r−2]: swaps the two innermost axes. */
const swapInner = (rank: number) => [
  ...Array.from({ length: rank - 2 }, (_, i) => i),
  rank - 1,
  rank - 2,
];

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Left-pads a batch shape with 1s to `rank` axes. */
const padded = (shape: number[], rank: number) => [
  ...Array<number>(rank - shape.length).fill(1),
  ...shape,
];

/** The operands' sizes, checked against each other (one-line errors naming both shapes). */
function geometry(a: tf.TensorInfo, b: tf.TensorInfo, { transposeA, transposeB }: MatMulAttrs) {
  const where = `matMul of a [${a.shape}] (transposeA ${transposeA}) and b [${b.shape}] (transposeB ${transposeB})`;
  if (a.shape.length < 2 || b.shape.length < 2) {
    throw new Error(`@usam/backend: ${where}: both operands need rank ≥ 2.`);
  }
  const [a0, a1] = a.shape.slice(-2) as [number, number];
  const [b0, b1] = b.shape.slice(-2) as [number, number];
  const [m, k] = transposeA ? [a1, a0] : [a0, a1];
  const [kb, n] = transposeB ? [b1, b0] : [b0, b1];
  if (k !== kb) {
    throw new Error(`@usam/backend: ${where}: inner dimensions ${k} and ${kb} differ.`);
  }
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const rank = Math.max(batchA.length, batchB.length);
  const [pa, pb] = [padded(batchA, rank), padded(batchB, rank)];
  const batch = pa.map((d, i) => {
    const e = pb[i]!;
    if (d !== e && d !== 1 && e !== 1) {
      throw new Error(`@usam/backend: ${where}: batch dimensions do not broadcast.`);
    }
    return d === 1 ? e : d;
  });
  return { m, k, n, batch, pa, pb };
}

/**
 * Per output batch index, the batch index into a and into b (broadcasting
 * size-1 axes), for batch shapes padded to the same rank.
 */
function batchIndices(batch: number[], pa: number[], pb: number[]): [number, number][] {
  const out: [number, number][] = [];
  const index = batch.map(() => 0);
  for (let t = 0; t < sizeOf(batch); t++) {
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < batch.length; d++) {
      ia = ia * pa[d]! + (pa[d] === 1 ? 0 : index[d]!);
      ib = ib * pb[d]! + (pb[d] === 1 ? 0 : index[d]!);
    }
    out.push([ia, ib]);
    for (let d = batch.length - 1; d >= 0; d--) {
      if (++index[d]! < batch[d]!) break;
      index[d] = 0;
    }
  }
  return out;
}

/**
 * Each b is handed to XNNPACK under one [k, n] only (see above): the shape it
 * first had there, by its data (which reshapes share).
 */
const xnnpackShapes = new WeakMap<object, string>();

function forXnnpack(s: Scratch, b: tf.TensorInfo): tf.TensorInfo {
  const key = b.shape.slice(-2).join('x');
  const seen = xnnpackShapes.get(b.dataId);
  if (seen === undefined) xnnpackShapes.set(b.dataId, key);
  if (seen === undefined || seen === key) return b;
  const copy = s.alloc([...b.shape]);
  const heap = s.backend as unknown as WasmHeap;
  // Views after alloc: allocating may grow (and so detach) the heap.
  heap.typedArrayFromHeap(copy).set(heap.typedArrayFromHeap(b));
  return copy;
}

/**
 * The product for any batch shapes, sizes (zero included) and flags, batch by
 * batch: in our SIMD module if given (b transposed first if flagged), in
 * JavaScript otherwise.
 */
function product(
  s: Scratch,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  attrs: MatMulAttrs,
  simd: SimdKernels | undefined,
): tf.TensorInfo {
  const { m, k, n, batch, pa, pb } = geometry(a, b, attrs);
  const heap = s.backend as unknown as WasmHeap;
  const bRowMajor =
    attrs.transposeB && simd
      ? s.run('Transpose', { x: b }, { perm: swapInner(b.shape.length) })
      : b;
  const out = s.alloc([...batch, m, n]);
  const pairs = batchIndices(batch, pa, pb);
  if (m * n === 0 || pairs.length === 0) return out;
  const [aM, aK] = attrs.transposeA ? [1, m] : [k, 1];
  if (simd !== undefined) {
    for (let t = 0; t < pairs.length; t++) {
      const [ia, ib] = pairs[t]!;
      simd.matmul(
        [a, ia * m * k],
        aM * 4,
        aK * 4,
        [bRowMajor, ib * k * n],
        [out, t * m * n],
        m,
        k,
        n,
        false,
      );
    }
    return out;
  }
  // Views after alloc: allocating may grow (and so detach) the heap.
  const [x, y, z] = [
    heap.typedArrayFromHeap(a),
    heap.typedArrayFromHeap(b),
    heap.typedArrayFromHeap(out),
  ];
  const [bK, bN] = attrs.transposeB ? [1, k] : [n, 1];
  for (let t = 0; t < pairs.length; t++) {
    const [ia, ib] = pairs[t]!;
    const [oa, ob, oc] = [ia * m * k, ib * k * n, t * m * n];
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) sum += x[oa + i * aM + p * aK]! * y[ob + p * bK + j * bN]!;
        z[oc + i * n + j] = sum;
      }
    }
  }
  return out;
}

/** Kernel names of the activations tf.fused.matMul takes. */
const ACTIVATIONS: Record<string, string> = {
  relu: 'Relu',
  relu6: 'Relu6',
  elu: 'Elu',
  sigmoid: 'Sigmoid',
  leakyrelu: 'LeakyRelu',
  prelu: 'Prelu',
};

/** _FusedMatMul's bias and activation after an unfused product, as wasm's own kernels. */
function epilogue(s: Scratch, y: tf.TensorInfo, args: KernelArgs): tf.TensorInfo {
  const { bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const { activation = 'linear', leakyreluAlpha } = args.attrs as unknown as MatMulAttrs;
  let out = bias === undefined ? y : s.run('Add', { a: y, b: bias }, {});
  if (activation === 'linear') return out;
  const kernel = ACTIVATIONS[activation];
  if (kernel === undefined) {
    throw new Error(
      `@usam/backend: fused matMul: unknown activation '${activation}'; expected one of linear, ${Object.keys(ACTIVATIONS).join(', ')}.`,
    );
  }
  if (activation === 'prelu') {
    out = s.run(kernel, { x: out, alpha: preluActivationWeights! }, {});
  } else {
    out = s.run(
      kernel,
      { x: out },
      activation === 'leakyrelu' ? { alpha: leakyreluAlpha ?? 0.2 } : {},
    );
  }
  return out;
}

/** Our module's code for the activations its epilogue applies. */
const SIMD_ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2 };

/**
 * The product in our SIMD module with _FusedMatMul's bias and activation: in
 * the module where the bias is one value per column and the activation is
 * linear, relu or relu6, as wasm's own kernels otherwise.
 */
function simdProduct(
  s: Scratch,
  simd: SimdKernels,
  args: KernelArgs,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
): tf.TensorInfo {
  const attrs = args.attrs as unknown as MatMulAttrs;
  const { bias } = args.inputs as { bias?: tf.TensorInfo };
  const out = product(s, a, b, attrs, simd);
  const act = SIMD_ACTIVATIONS[attrs.activation ?? 'linear'];
  const n = out.shape.at(-1)!;
  const perColumn = bias === undefined || (bias.shape.length === 1 && bias.shape[0] === n);
  if (act === undefined || !perColumn || (bias !== undefined && bias.dtype !== 'float32')) {
    return epilogue(s, out, args);
  }
  if (bias === undefined && act === 0) return out;
  const rows = n === 0 ? 0 : sizeOf(out.shape) / n;
  simd.biasActivation(out, bias ?? out, rows, n, bias !== undefined, act);
  return out;
}

/**
 * Wraps wasm's BatchMatMul or _FusedMatMul (same inputs `a`, `b` and flags;
 * _FusedMatMul's bias and activation are kept). Where our SIMD module runs,
 * every float32 product runs there (docs/kernels.md: faster than XNNPACK,
 * which packs every fresh weight anew, and than wasm's scalar loop for
 * transposed and batched products); elsewhere XNNPACK gets the products it
 * takes, with flagged operands transposed first.
 */
export function transposeFirst(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { a, b, bias } = args.inputs as {
      a: tf.TensorInfo;
      b: tf.TensorInfo;
      bias?: tf.TensorInfo;
    };
    const attrs = args.attrs as unknown as MatMulAttrs;
    const { transposeA, transposeB, activation = 'linear' } = attrs;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return original(args);
    const backend = args.backend as tf.KernelBackend;
    const simd = simdKernels(backend as unknown as WasmHeap);
    // product() checks the shapes (geometry) on this path.
    if (simd !== undefined) return withScratch(backend, (s) => simdProduct(s, simd, args, a, b));
    const { m, k, n, batch, pa, pb } = geometry(a, b, attrs);
    const fused = bias !== undefined || activation !== 'linear';
    const batch1 = sizeOf(pa) === 1 && sizeOf(pb) === 1;
    const wasmBatches = pa.join() === pb.join() || sizeOf(pa) === 1 || sizeOf(pb) === 1;
    if (m * n * k === 0 || sizeOf(batch) === 0 || !wasmBatches) {
      return withScratch(backend, (s) => epilogue(s, product(s, a, b, attrs, undefined), args));
    }
    const fusable =
      batch1 &&
      (bias === undefined || (bias.shape.length === 1 && bias.shape[0] === n)) &&
      ['linear', 'relu', 'relu6'].includes(activation);
    if (fused && !fusable) {
      return withScratch(backend, (s) => {
        const plain = {
          ...args,
          inputs: { a, b },
          attrs: { transposeA, transposeB, activation: 'linear' },
        };
        return epilogue(s, s.call(transposeFirst(original), plain.inputs, plain.attrs), args);
      });
    }
    if (!batch1) return original(args);
    return withScratch(backend, (s) => {
      const a2 = transposeA ? s.transpose(a, swapInner(a.shape.length)) : a;
      const b2 = transposeB ? s.transpose(b, swapInner(b.shape.length)) : b;
      const inputs = { ...args.inputs, a: a2, b: forXnnpack(s, b2) } as tf.NamedTensorInfoMap;
      return s.call(original, inputs, { ...args.attrs, transposeA: false, transposeB: false });
    });
  };
}
