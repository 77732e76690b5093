import * as tf from '@tensorflow/tfjs-core';
import { expect, it, vi } from 'vitest';
import { initBackend } from './node';

// Its own file: tfjs-backend-cpu prints its banner once per process, on the first tensor.
it("initBackend('cpu') keeps tfjs-backend-cpu's 'running TensorFlow.js in Node.js' banner away", async () => {
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
  try {
    await initBackend('cpu');
    tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(2)).dataSync());
    const warned = warn.mock.calls.flat().map(String).join('\n');
    expect(warned).not.toContain('running TensorFlow.js in Node.js');
    // Other warnings still pass: tfjs's own warn reaches console.warn.
    tf.backend_util.warn('some other warning');
    expect(warn).toHaveBeenCalledWith('some other warning');
  } finally {
    warn.mockRestore();
  }
});
