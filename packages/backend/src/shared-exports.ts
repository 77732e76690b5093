/** What both entries (index.ts for browsers, node.ts for Node) export besides initBackend. */
export {
  BackendError,
  type BackendName,
  type InitBackend,
  type InitBackendOptions,
  type InitBackendResult,
  type WasmFileName,
} from './init';
export { registerSecondOrderGradients } from './second-order-gradients';
export { packagedWasmPaths } from './wasm-paths';
export { registerWasmTrainingKernels } from './wasm-training-kernels';
