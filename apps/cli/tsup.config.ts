import { packageConfig } from '../../tsup.base';

export default packageConfig(
  {
    index: 'src/index.ts',
    bin: 'src/bin.ts',
    // The run directory's schemas and types, browser-safe (the playground's exports use them).
    'run-files': 'src/run-files.ts',
    // The process `usam reproduce --jobs N` forks (found beside the chunk of pool.ts).
    'reproduce-worker': 'src/reproduce/worker.ts',
  },
  { platform: 'node' },
);
