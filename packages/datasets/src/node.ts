/**
 * @usam/datasets/node: everything in the main entry, plus loading datasets by
 * name from files (a directory you name, or a cache that downloads, with
 * checksums). Node only.
 */

export {
  defaultCacheDir,
  type FetchLike,
  type FileOptions,
  md5File,
  prepareFiles,
  readDataFiles,
} from './files';
export * from './index';
export { type LoadOptions, loadDataset } from './load';
export { loadMnist } from './mnist';
