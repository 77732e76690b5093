/**
 * @usam/datasets, browser-safe entry: dataset names and catalogue, the
 * in-memory representation (`ImageSet`, `Dataset`), the `-s` / `-c` variants,
 * CIFAR augmentation, batching, and parsers of the official file formats for
 * bytes you already have. The embedded MNIST is `@usam/datasets/mnist`;
 * reading files, downloading and checksums are `@usam/datasets/node`.
 */
export { CROP_PADDING, type CropFlip, cropFlip, drawCropFlip } from './augment';
export {
  type Batch,
  type BatchOptions,
  batchCount,
  batches,
  type Examples,
  epochOrder,
  firstExamples,
  makeBatch,
  type TensorOptions,
} from './batches';
export {
  BASE_DATASETS,
  type BaseDatasetName,
  DATASET_NAMES,
  DATASETS,
  type DatasetInfo,
  type ParsedDatasetName,
  parseDatasetName,
  type SourceFile,
  VARIANT_SUFFIXES,
} from './catalogue';
export {
  CIFAR_IMAGE_BYTES,
  type CifarRecords,
  type NamedBytes,
  parseCifarBinary,
} from './cifar-binary';
export { decompress, type Inflate, isGzip } from './compression';
export { DatasetError } from './errors';
export { type IdxArray, parseIdx, parseMnistIdx } from './idx';
export {
  catalogueImageSet,
  createImageSet,
  type Dataset,
  type ImageSet,
  type ImageSetInput,
  selectExamples,
} from './image-set';
export { type MatVariable, type ReadMatOptions, readMat } from './mat';
export { createRandom, MAX_SEED, permutation, type Random } from './rng';
export { parseSvhnMat } from './svhn';
export {
  checkVariantOptions,
  classCounts,
  corruptLabels,
  createDataset,
  DEFAULT_CORRUPTION_FRACTION,
  DEFAULT_SUBSAMPLE_FRACTION,
  fractionCount,
  stratifiedQuotas,
  subsample,
  type VariantOptions,
} from './variants';
