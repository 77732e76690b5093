import { BackendError } from '@usam/backend';
import { DatasetError } from '@usam/datasets';
import { EstimatorError } from '@usam/estimators';
import { MeasureError, UsamError } from '@usam/measures';
import { ModelError } from '@usam/models';
import { OptimizerError } from '@usam/optimizer';
import { describe, expect, it } from 'vitest';
import { exitCodeFor, RunError, UsageError } from './errors';

describe('exitCodeFor', () => {
  // Each package's input error, including those of packages that mark their
  // errors instead of extending UsamError (no dependency on @usam/measures).
  const inputErrors = [
    new UsageError('u'),
    new MeasureError('m'),
    new EstimatorError('e'),
    new OptimizerError('o'),
    new DatasetError('d'),
    new ModelError('m'),
    new BackendError('b'),
  ];

  it.each(inputErrors.map((error) => [error.name, error]))(
    '%s is a usam error and a usage error (exit 2)',
    (_, error) => {
      expect(UsamError.isInstance(error)).toBe(true);
      expect(exitCodeFor(error)).toBe(2);
    },
  );

  it('keeps the cause', () => {
    const cause = new Error('inner');
    for (const error of [new DatasetError('d', { cause }), new OptimizerError('o', { cause })]) {
      expect(error.cause).toBe(cause);
    }
  });

  it('a RunError (full disk, failed runs) is a usam error with its cause, and exit 1', () => {
    const cause = new Error('ENOSPC');
    const error = new RunError('r', { cause });
    expect(UsamError.isInstance(error)).toBe(true);
    expect(RunError.isInstance(error)).toBe(true);
    expect(RunError.isInstance(new UsageError('u'))).toBe(false);
    expect(error.cause).toBe(cause);
    expect(exitCodeFor(error)).toBe(1);
  });

  it('treats any other failure as exit 1, whatever its name', () => {
    expect(exitCodeFor(new Error('x'))).toBe(1);
    expect(exitCodeFor(Object.assign(new Error('x'), { name: 'OptimizerError' }))).toBe(1);
    expect(exitCodeFor('text')).toBe(1);
  });
});
