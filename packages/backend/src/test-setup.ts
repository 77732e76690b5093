/**
 * Every test runs against the debug build of our SIMD module, which checks
 * each load and store against the buffers its caller gave it (docs/kernels.md).
 */
import { debugKernels } from '../scripts/compile-kernels';
import { useDebugSimdModule } from './simd-kernels';

useDebugSimdModule(await debugKernels());
