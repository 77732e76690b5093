import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/node';

await initBackend('wasm');
type S = [number, number, number, number];
const shapes: [S, number, number, number][] = [
  [[32, 32, 32, 64], 3, 64, 1],
  [[32, 32, 32, 64], 3, 128, 2],
  [[32, 16, 16, 128], 3, 128, 1],
  [[32, 16, 16, 128], 3, 256, 2],
  [[32, 8, 8, 256], 3, 256, 1],
  [[32, 4, 4, 512], 3, 512, 1],
  [[32, 32, 32, 64], 1, 128, 2],
];
const med = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1]!;
for (const [x, k, cout, s] of shapes) {
  const w = tf.randomUniform([k, k, x[3], cout]);
  const xs = tf.randomUniform(x);
  const info = tf.backend_util.computeConv2DInfo(x, [k, k, x[3], cout], s, 1, 'same');
  const dy = tf.randomUniform(info.outShape);
  const t = { fwd: [] as number[], dx: [] as number[], dw: [] as number[] };
  for (let r = 0; r < 4; r++) {
    const wf = tf.mul(w, 1);
    const dyf = tf.mul(dy, 1);
    let t0 = performance.now();
    (
      tf
        .engine()
        .runKernel(
          'Conv2D',
          { x: xs, filter: wf },
          { strides: s, pad: 'same', dataFormat: 'NHWC', dilations: 1 },
        ) as tf.Tensor
    ).dispose();
    t.fwd.push(performance.now() - t0);
    t0 = performance.now();
    (
      tf
        .engine()
        .runKernel(
          'Conv2DBackpropInput',
          { dy: dyf, filter: wf },
          { strides: s, pad: 'same', dataFormat: 'NHWC', inputShape: x },
        ) as tf.Tensor
    ).dispose();
    t.dx.push(performance.now() - t0);
    t0 = performance.now();
    (
      tf
        .engine()
        .runKernel(
          'Conv2DBackpropFilter',
          { x: xs, dy: dyf },
          { strides: s, pad: 'same', dataFormat: 'NHWC', filterShape: [k, k, x[3], cout] },
        ) as tf.Tensor
    ).dispose();
    t.dw.push(performance.now() - t0);
    tf.dispose([wf, dyf]);
  }
  const gflop = (2 * info.outHeight * info.outWidth * x[0] * k * k * x[3] * cout) / 1e9;
  console.log(
    JSON.stringify({
      x,
      k,
      cout,
      s,
      gflop: +gflop.toFixed(2),
      fwd: +med(t.fwd).toFixed(1),
      dx: +med(t.dx).toFixed(1),
      dw: +med(t.dw).toFixed(1),
    }),
  );
  tf.dispose([w, xs, dy]);
}
