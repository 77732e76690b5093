/**
 * Compiles assembly/kernels.ts with AssemblyScript into the bytes that
 * src/generated/kernels-wasm.ts holds (see generate-kernels.ts). Shared with
 * the test that checks the committed bytes against a fresh compile.
 */
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

export const KERNELS_SOURCE = fileURLToPath(new URL('../assembly/kernels.ts', import.meta.url));

/**
 * The module imports tfjs-backend-wasm's memory and owns nothing in it: the
 * stub runtime (never used: no allocations), no exported memory, no `abort`
 * import (assertions compiled out), SIMD on.
 */
const FLAGS = [
  '--runtime',
  'stub',
  '--importMemory',
  '--noExportMemory',
  '--noAssert',
  '--use',
  'abort=',
  '--enable',
  'simd',
  '-O3',
];

/** For wasm with threads, whose memory is shared: the same module, importing a shared memory. */
const SHARED = ['--enable', 'threads', '--sharedMemory', '--maximumMemory', '65536'];

export async function compileKernels(shared: boolean): Promise<Uint8Array> {
  let binary: Uint8Array | undefined;
  const { error, stderr } = await asc.main(
    [KERNELS_SOURCE, '--outFile', 'kernels.wasm', ...FLAGS, ...(shared ? SHARED : [])],
    {
      writeFile(name, contents) {
        if (name.endsWith('kernels.wasm') && typeof contents !== 'string') binary = contents;
      },
    },
  );
  if (error || binary === undefined) {
    throw new Error(`AssemblyScript could not compile ${KERNELS_SOURCE}: ${String(stderr)}`, {
      cause: error,
    });
  }
  return binary;
}
