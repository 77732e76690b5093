/**
 * The toy-loss worker: trajectories of the real optimizers on two variables,
 * on the cpu backend (for tensors of two numbers it beats webgl and wasm,
 * whose per-op overhead dominates).
 */
import { initBackend } from '@usam/backend';
import type { ToyRequest, ToyResponse } from './toy';
import { toyTrajectories } from './toy-trajectory';

const ready = initBackend('cpu');
const post = (response: ToyResponse) => self.postMessage(response);

self.addEventListener('message', async (event: MessageEvent<ToyRequest>) => {
  try {
    await ready;
    post(await toyTrajectories(event.data));
  } catch (error) {
    post({
      type: 'error',
      id: event.data?.id ?? -1,
      message: String((error as Error)?.message ?? error).split('\n')[0]!,
    });
  }
});
