export { createProgram } from './program';
export { type ReproduceOptions, reproduce } from './reproduce/index';
export * from './train/index';
