import { packageConfig } from '../../tsup.base';

export default packageConfig(
  {
    index: 'src/index.ts',
    bin: 'src/bin.ts',
    // The process `usam reproduce --jobs N` forks (found beside the chunk of pool.ts).
    'reproduce-worker': 'src/reproduce/worker.ts',
  },
  { platform: 'node' },
);
