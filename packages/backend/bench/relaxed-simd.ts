/**
 * Relaxed SIMD, measured (not a test; docs/optimizer-kernels.md): our module's
 * matmul with its 4×8 block's mul + add replaced by f32x4.relaxed_madd, against
 * the current build, in one process, the two interleaved (the order alternating),
 * on a bare memory. Prints JSON: the CPU-time ratio and whether the results agree.
 *
 *     node --experimental-wasm-relaxed-simd --import tsx bench/relaxed-simd.ts   (Node 20; 22+ needs no flag)
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import asc from 'assemblyscript/asc';
import { KERNELS_SOURCE } from '../scripts/compile-kernels';

const FLAGS = ['--runtime', 'stub', '--importMemory', '--noExportMemory', '--noAssert'];
const source = readFileSync(KERNELS_SOURCE, 'utf8');
const relaxedSource = source.replace(
  /s(\d\d) = f32x4\.add\(s\1, f32x4\.mul\((x\d), (b\d)\)\);/g,
  's$1 = f32x4.relaxed_madd($2, $3, s$1);',
);
if (relaxedSource === source) throw new Error('matmul’s block no longer has the mul + add pattern');
const dir = mkdtempSync(join(tmpdir(), 'usam-relaxed-'));

async function compile(name: string, text: string, extra: string[]) {
  const file = join(dir, `${name}.ts`);
  writeFileSync(file, text);
  let binary: Uint8Array | undefined;
  const { error, stderr } = await asc.main(
    [file, '--outFile', 'k.wasm', ...FLAGS, '--use', 'abort=', '--enable', 'simd', ...extra, '-O3'],
    {
      writeFile(out, contents) {
        if (out.endsWith('k.wasm') && typeof contents !== 'string') binary = contents;
      },
    },
  );
  if (error || binary === undefined) throw new Error(String(stderr), { cause: error });
  return binary;
}

type Matmul = (...args: (number | boolean)[]) => void;
const memory = new WebAssembly.Memory({ initial: 256 });
const host = { hostExp: Math.exp, hostLog: Math.log };
// AssemblyScript names the host imports' module after the source file.
const imports = { env: { memory }, plain: host, relaxed: host };
const load = async (bytes: Uint8Array) =>
  (await WebAssembly.instantiate(new WebAssembly.Module(new Uint8Array(bytes)), imports))
    .exports as unknown as {
    matmul: Matmul;
  };
const plain = await load(await compile('plain', source, []));
const relaxed = await load(await compile('relaxed', relaxedSource, ['--enable', 'relaxed-simd']));

const [m, k, n] = [128, 784, 128];
const [A, B] = [0, m * k * 4];
const C = [B + k * n * 4, B + k * n * 4 + m * n * 4];
const f = new Float32Array(memory.buffer);
for (let i = 0; i < m * k + k * n; i++) f[i] = Math.sin(i * 12.9898) * 0.5;
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const times: number[][] = [[], []];
const kernels = [plain, relaxed];
for (let r = 0; r < 80; r++) {
  for (const i of r % 2 ? [1, 0] : [0, 1]) {
    const t = cpu();
    for (let j = 0; j < 10; j++) kernels[i]!.matmul(A, k * 4, 4, B, C[i]!, m, k, n, false);
    if (r >= 10) times[i]!.push((cpu() - t) / 10);
  }
}
const median = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1]!;
let maxDifference = 0;
let largest = 0;
for (let i = 0; i < m * n; i++) {
  const [p, q] = [f[C[0]! / 4 + i]!, f[C[1]! / 4 + i]!];
  maxDifference = Math.max(maxDifference, Math.abs(p - q));
  largest = Math.max(largest, Math.abs(p));
}
console.log(
  JSON.stringify({
    product: `${m}×${k}×${n}`,
    node: process.version,
    plainMs: median(times[0]!),
    relaxedMs: median(times[1]!),
    relaxedOverPlain: median(times[1]!.map((t, i) => t / times[0]![i]!)),
    identical: maxDifference === 0,
    maxDifferenceOfLargest: maxDifference / largest,
  }),
);
