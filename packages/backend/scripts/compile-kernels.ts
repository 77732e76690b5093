/**
 * Compiles assembly/kernels.ts with AssemblyScript into the bytes that
 * src/generated/kernels-wasm.ts holds (see generate-kernels.ts). Shared with
 * the test that checks the committed bytes against a fresh compile.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
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

/**
 * The debug build: bounds checks on every load and store (see assembly/kernels.ts), which
 * import `kernels.extent` and `kernels.outOfBounds` (simd-kernels.ts supplies them). Never committed.
 */
const DEBUG = ['--use', 'BOUNDS=1'];

export async function compileKernels(shared: boolean, debug = false): Promise<Uint8Array> {
  let binary: Uint8Array | undefined;
  const { error, stderr } = await asc.main(
    [
      KERNELS_SOURCE,
      '--outFile',
      'kernels.wasm',
      ...FLAGS,
      ...(shared ? SHARED : []),
      ...(debug ? DEBUG : []),
    ],
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

/**
 * The debug builds (own memory, shared memory) of the current source, compiled
 * once per source version and cached under node_modules/.usam-test/ (for the
 * tests and `pnpm fuzz`, which run against them).
 */
const debugFile = () => {
  const hash = createHash('sha256')
    .update(readFileSync(KERNELS_SOURCE))
    .update([...FLAGS, ...DEBUG].join(' '))
    .digest('hex')
    .slice(0, 16);
  return fileURLToPath(
    new URL(`../node_modules/.usam-test/kernels-debug-${hash}.json`, import.meta.url),
  );
};

export async function debugKernels(): Promise<{ plain: Uint8Array; shared: Uint8Array }> {
  const file = debugFile();
  if (existsSync(file)) {
    const { plain, shared } = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    return { plain: Buffer.from(plain!, 'base64'), shared: Buffer.from(shared!, 'base64') };
  }
  const [plain, shared] = [await compileKernels(false, true), await compileKernels(true, true)];
  mkdirSync(dirname(file), { recursive: true });
  // Written whole, then renamed: parallel test processes never read half a file.
  const partial = `${file}.${process.pid}`;
  writeFileSync(
    partial,
    JSON.stringify({
      plain: Buffer.from(plain).toString('base64'),
      shared: Buffer.from(shared).toString('base64'),
    }),
  );
  renameSync(partial, file);
  return { plain, shared };
}

/** The cached debug build's file (see `debugKernels`), for child processes to load. */
export async function debugKernelsFile(): Promise<string> {
  await debugKernels();
  return debugFile();
}
