/**
 * Runs differential cases in this process and prints one JSON line per case
 * that fails (and a last line with the count run), for the supervisor in
 * differential-runner.ts. Usage: `node worker.mjs SEED FROM TO`. It stops at
 * the first failure: a kernel that wrote outside its buffers may have
 * corrupted wasm's heap, so the supervisor goes on in a fresh process.
 */

import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { compare, floorsOf, makeCase, reproduction, runCase } from './differential';
import { initBackend } from './node';
import { useDebugSimdModule } from './simd-kernels';

const [seed, from, to] = process.argv.slice(2).map(Number) as [number, number, number];
// The debug build of our SIMD module (bounds checks), as the runner compiled it.
const debug = process.env.USAM_SIMD_DEBUG_MODULE;
if (debug) {
  const { plain, shared } = JSON.parse(readFileSync(debug, 'utf8')) as Record<string, string>;
  useDebugSimdModule({
    plain: Buffer.from(plain!, 'base64'),
    shared: Buffer.from(shared!, 'base64'),
  });
}
await initBackend('cpu');
await initBackend('wasm');
for (let index = from; index < to; index++) {
  const c = makeCase(seed, index);
  await tf.setBackend('cpu');
  const want = runCase(c, seed, index);
  await tf.setBackend('wasm');
  let failure: string | undefined;
  try {
    failure = compare(runCase(c, seed, index), want, floorsOf(c, seed, index));
  } catch (error) {
    failure = `crashes: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (failure === undefined) {
    process.stdout.write(`${JSON.stringify({ index })}\n`);
  } else {
    process.stdout.write(
      `${JSON.stringify({ index, failure, reproduction: reproduction(c, seed, index) })}\n`,
    );
    process.exit(1);
  }
}
process.exit(0);
