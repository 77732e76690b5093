import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@usam/backend';
import { frobenius, UsamError } from '@usam/measures';
import { beforeAll, describe, expect, it } from 'vitest';
import { AbortError, MAX_COUNT } from './abort';
import { EstimatorError } from './errors';
import { frobeniusNormSquared, hutchinsonTrace } from './hutchinson';
import { measureMonteCarlo } from './measure';
import type { HessianOperator } from './operator';
import { topEigenvalues } from './power-iteration';
import { spectralDensity } from './slq';
import { splitQuadratic } from './test-problems';
import { matrixOperator } from './test-utils';

beforeAll(async () => {
  await initBackend('cpu');
});

// Eigenvalues ±1 of equal magnitude: power iteration never converges (the quotient
// oscillates, the residual stays ~1), so it runs every one of its maxIterations.
const H = [
  [1, 0, 0, 0],
  [0, -1, 0, 0],
  [0, 0, 0.5, 0],
  [0, 0, 0, 0.25],
];

/** Every estimator, asked for the most work it accepts, with `signal`. */
const longCalls = (op: HessianOperator, signal: AbortSignal | unknown) =>
  [
    ['hutchinsonTrace', () => hutchinsonTrace(op, { probes: MAX_COUNT, signal } as object)],
    [
      'frobeniusNormSquared',
      () => frobeniusNormSquared(op, { probes: MAX_COUNT, signal } as object),
    ],
    [
      'topEigenvalues',
      () => topEigenvalues(op, { maxIterations: MAX_COUNT, tolerance: 1e-12, signal } as object),
    ],
    ['spectralDensity', () => spectralDensity(op, { probes: MAX_COUNT, signal } as object)],
    [
      'measureMonteCarlo',
      () => measureMonteCarlo(op, frobenius(), { samples: MAX_COUNT, signal } as object),
    ],
  ] as const;

describe('long estimators: an AbortSignal, and the event loop kept alive', () => {
  const NAMES = [
    'hutchinsonTrace',
    'frobeniusNormSquared',
    'topEigenvalues',
    'spectralDensity',
    'measureMonteCarlo',
  ];
  it.each(NAMES.map((name, i) => [name, i] as const))(
    '%s: a timer fires during the call, and aborting it rejects with an AbortError, no tensor left',
    async (name, i) => {
      const op = matrixOperator(H);
      const controller = new AbortController();
      const [own, call] = longCalls(op, controller.signal)[i]!;
      expect(own).toBe(name);
      const before = tf.memory().numTensors;
      // Without yielding to the event loop this timer could not run before the
      // call's million HVPs had: the call would resolve, not reject. It aborts once a
      // few products are done (not at a fixed time: a loaded machine may be slow to start).
      const timer = setInterval(() => op.calls >= 3 && controller.abort(), 5);
      const error = await call()
        .catch((e: unknown) => e)
        .finally(() => clearInterval(timer));
      expect(error).toBeInstanceOf(AbortError);
      expect(AbortError.isInstance(error)).toBe(true);
      expect(UsamError.isInstance(error)).toBe(true);
      const { name: errorName, message, cause } = error as AbortError;
      expect(errorName).toBe('AbortError'); // as fetch's and streams' aborts
      expect(message).toMatch(new RegExp(`^${name}: aborted after \\d+ of \\d+ `));
      expect(message).not.toContain('\n');
      expect(cause).toBe(controller.signal.reason);
      const done = Number(/after (\d+) of/.exec(message)![1]);
      expect(done).toBeGreaterThanOrEqual(3);
      expect(done).toBeLessThan(MAX_COUNT);
      // No tensor of the call survives it (the operator's matrix was made before).
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it('an already aborted signal rejects before the first product', async () => {
    const op = matrixOperator(H);
    const reason = new Error('user cancelled');
    for (const [name, call] of longCalls(op, AbortSignal.abort(reason))) {
      const before = tf.memory().numTensors;
      const error = (await call().catch((e: unknown) => e)) as AbortError;
      expect(error, name).toBeInstanceOf(AbortError);
      expect(error.message).toMatch(
        new RegExp(`^${name}: aborted after 0 of \\d+ .*user cancelled`),
      );
      expect(error.cause).toBe(reason);
      expect(tf.memory().numTensors).toBe(before);
    }
    expect(op.calls).toBe(0);
  });

  it('AbortSignal.timeout works on a createHvp operator (parts), leaving nothing behind', async () => {
    const q = splitQuadratic();
    const before = tf.memory().numTensors;
    const error = await hutchinsonTrace(q.hvp, {
      probes: MAX_COUNT,
      signal: AbortSignal.timeout(30),
    }).catch((e: unknown) => e);
    expect(AbortError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(
      /^hutchinsonTrace: aborted after \d+ of 1000000 probes/,
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(q.variables);
  });

  it('a signal that is never aborted changes nothing: the same estimate to the bit', async () => {
    const op = matrixOperator(H);
    const { signal } = new AbortController();
    expect(await hutchinsonTrace(op, { probes: 50, seed: 3, signal })).toEqual(
      await hutchinsonTrace(op, { probes: 50, seed: 3 }),
    );
    expect(await topEigenvalues(op, { k: 2, seed: 1, signal })).toEqual(
      await topEigenvalues(op, { k: 2, seed: 1 }),
    );
    expect(await spectralDensity(op, { probes: 3, signal })).toEqual(
      await spectralDensity(op, { probes: 3 }),
    );
    expect(await measureMonteCarlo(op, frobenius(), { samples: 20, signal })).toEqual(
      await measureMonteCarlo(op, frobenius(), { samples: 20 }),
    );
  });

  it('refuses counts past MAX_COUNT and a signal that is not one, naming the argument', async () => {
    const op = matrixOperator(H);
    const cases = [
      [
        () => hutchinsonTrace(op, { probes: 1e12 }),
        /^hutchinsonTrace: probes must be ≤ 1000000 .*got 1000000000000;/,
      ],
      [
        () => frobeniusNormSquared(op, { probes: MAX_COUNT + 1 }),
        /^frobeniusNormSquared: probes must be ≤ 1000000/,
      ],
      [
        () => topEigenvalues(op, { maxIterations: 1e9 }),
        /^topEigenvalues: maxIterations must be ≤ 1000000/,
      ],
      [() => spectralDensity(op, { probes: 1e9 }), /^spectralDensity: probes must be ≤ 1000000/],
      [
        () => spectralDensity(op, { gridSize: 1e12 }),
        /^spectralDensity: gridSize must be ≤ 1000000/,
      ],
      [
        () => measureMonteCarlo(op, frobenius(), { samples: 1e9 }),
        /^measureMonteCarlo: samples must be ≤ 1000000/,
      ],
      [
        () => hutchinsonTrace(op, { signal: 'stop' as unknown as AbortSignal }),
        /^hutchinsonTrace: signal must be an AbortSignal, got 'stop'/,
      ],
      [
        () => topEigenvalues(op, { signal: {} as AbortSignal }),
        /^topEigenvalues: signal must be an AbortSignal/,
      ],
    ] as const;
    for (const [call, message] of cases) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EstimatorError);
      expect((error as Error).message).toMatch(message);
    }
    expect(op.calls).toBe(0);
  });
});
