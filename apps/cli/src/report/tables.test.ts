import { describe, expect, it } from 'vitest';
import { columnTitle } from './tables';

describe('columnTitle', () => {
  it('names the official MNIST as the paper does and marks the embedded stand-in', () => {
    expect(columnTitle('mnist-full-s')).toBe('MNIST-S');
    expect(columnTitle('mnist-full-c')).toBe('MNIST-C');
    expect(columnTitle('mnist-full')).toBe('MNIST');
    expect(columnTitle('mnist-s')).toBe('MNIST-S (embedded)');
    expect(columnTitle('mnist-s-c')).toBe('MNIST-S-C (embedded)');
    expect(columnTitle('cifar10-s')).toBe('CIFAR10-S');
  });
});
