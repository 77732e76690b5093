/** Registers the training kernels the wasm backend lacks (filled in by the kernels work). */
export function registerWasmTrainingKernels(): void {}
