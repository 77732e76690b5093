/**
 * The training worker: tfjs, the datasets and the optimizers live here, off
 * the page's thread. Messages are `Request`s in and `Response`s out
 * (protocol.ts); `createTrainer` does the work.
 */
import '@tensorflow/tfjs-backend-webgl';
import { type BackendName, initBackend } from '@usam/backend';
import type { Response } from './protocol';
import { createTrainer } from './trainer';

const post = (response: Response) => self.postMessage(response);

const trainer = createTrainer(post, {
  async initBackend(name) {
    try {
      return (await initBackend(name as BackendName)).name === name;
    } catch {
      // `auto` compares the backends that start; one that cannot is skipped.
      return false;
    }
  },
  autoBackends: ['webgl', 'wasm'],
});

self.addEventListener('message', (event: MessageEvent) => {
  void trainer.handle(event.data);
});
