import { describe, expect, it } from 'vitest';
import { frobenius, maxEigenvalue, polynomial, product, trace } from './catalogue';
import { MeasureError } from './errors';
import { exact } from './exact';
import { defineMeasure } from './measure';
import { explicitHvp, monteCarlo } from './monte-carlo';
import { createRng } from './rng';
import { fixed, gaussian, hypercube, lebesgue } from './samplers';
import { quadraticLoss, zerothOrder } from './zeroth-order';

/**
 * Bad input from plain JavaScript: every call fails with one MeasureError line
 * that names the argument, shows what it got (strings quoted) and what it takes.
 */
const options = { shapes: [[2]], samples: 2 };
const hvp = explicitHvp([
  [1, 0],
  [0, 1],
]);
const cases: [string, () => unknown, RegExp][] = [
  [
    'maxEigenvalue({ direction: 3 })',
    () => maxEigenvalue({ direction: 3 } as never),
    /^maxEigenvalue: unknown option 'direction'; valid options are directions, seed\.$/,
  ],
  [
    'maxEigenvalue(3)',
    () => maxEigenvalue(3 as never),
    /maxEigenvalue: options must be an object, got 3/,
  ],
  [
    'monteCarlo({ sample: 10 })',
    () => monteCarlo(frobenius(), hvp, { ...options, sample: 10 } as never),
    /monteCarlo\(frobenius\): unknown option 'sample'; valid options are shapes, samples, seed, rng/,
  ],
  [
    'zerothOrder({ radius })',
    () => zerothOrder(frobenius(), () => 0, { ...options, rho: 0.1, radius: 1 } as never),
    /unknown option 'radius'; valid options are shapes, samples, seed, rng, rho/,
  ],
  [
    'exact({ allowDivergence })',
    () => exact(trace(), [[1]], { allowDivergence: true } as never),
    /exact\(.*\): unknown option 'allowDivergence'; valid options are symmetryTolerance, allowDivergent/,
  ],
  [
    'explicitHvp(H, { tolerance })',
    () => explicitHvp([[1]], { tolerance: 1 } as never),
    /explicitHvp: unknown option 'tolerance'; valid options are symmetryTolerance/,
  ],
  [
    'quadraticLoss(H, { grad })',
    () => quadraticLoss([[1]], { grad: [1] } as never),
    /quadraticLoss: unknown option 'grad'; valid options are symmetryTolerance, gradient, loss/,
  ],
  [
    "gaussian('1')",
    () => gaussian('1' as never),
    /gaussian: the standard deviation must be a finite number > 0, got '1'/,
  ],
  [
    'gaussian({ std: 1 })',
    () => gaussian({ std: 1 } as never),
    /standard deviation .* got an object/,
  ],
  [
    'hypercube(undefined)',
    () => hypercube(undefined as never),
    /hypercube: the half-width h must be .* > 0, got undefined/,
  ],
  ['hypercube(-1)', () => hypercube(-1), /got -1/],
  [
    "lebesgue({ proposal: 'hypercube' }) without halfWidth",
    () => lebesgue({ proposal: 'hypercube' } as never),
    /lebesgue: the half-width h \(proposal 'hypercube' needs halfWidth\) must be .* got undefined/,
  ],
  [
    "lebesgue({ scale: '2' })",
    () => lebesgue({ scale: '2' } as never),
    /lebesgue: the proposal scale s must be .* got '2'/,
  ],
  [
    "lebesgue({ proposal: 'foo' })",
    () => lebesgue({ proposal: 'foo' } as never),
    /proposal must be 'gaussian' or 'hypercube', got 'foo'/,
  ],
  [
    "lebesgue({ proposal: 'hypercube', halfWidth: 1, scale: 2 })",
    () => lebesgue({ proposal: 'hypercube', halfWidth: 1, scale: 2 } as never),
    /unknown option 'scale' for proposal 'hypercube'; valid options are proposal, halfWidth/,
  ],
  ['lebesgue(null)', () => lebesgue(null as never), /options must be an object .* got null/],
  [
    'monteCarlo(null, …)',
    () => monteCarlo(null as never, hvp, options),
    /monteCarlo\(\?\): measure must be a \(φ, ψ, μ\) measure.* got null/,
  ],
  [
    'monteCarlo(…, hvp: 3)',
    () => monteCarlo(trace(), 3 as never, options),
    /hvp must be a function/,
  ],
  [
    "monteCarlo samples '4'",
    () => monteCarlo(trace(), hvp, { ...options, samples: '4' } as never),
    /samples must be an integer ≥ 2 .* got '4'/,
  ],
  [
    'monteCarlo frobenius, samples 1',
    () => monteCarlo(frobenius(), hvp, { ...options, samples: 1 }),
    /samples must be an integer ≥ 2/,
  ],
  [
    'monteCarlo without shapes',
    () => monteCarlo(trace(), hvp, { samples: 2 } as never),
    /shapes must be a non-empty list .* got undefined/,
  ],
  [
    'zerothOrder(null, …)',
    () => zerothOrder(null as never, quadraticLoss([[1]]), { ...options, rho: 1 }),
    /measure must be .* got null/,
  ],
  [
    "zerothOrder rho '0.1'",
    () => zerothOrder(trace(), quadraticLoss([[1]]), { ...options, rho: '0.1' } as never),
    /rho must be a finite number > 0 .* got '0.1'/,
  ],
  [
    'createRng({})',
    () => createRng({} as never),
    /createRng: seed must be a finite number or a string, got an object/,
  ],
  ['createRng(NaN)', () => createRng(Number.NaN), /got NaN/],
  ["trace('x')", () => trace('x' as never), /mu must be 'sphere' or 'gaussian', got 'x'/],
  ["product('1')", () => product('1' as never), /product: σ must be a finite number, got '1'/],
  ['polynomial(2.5)', () => polynomial(2.5), /n must be an integer ≥ 1, got 2.5/],
  [
    "maxEigenvalue({ directions: '3' })",
    () => maxEigenvalue({ directions: '3' } as never),
    /directions \(m\) must be an integer ≥ 1, got '3'/,
  ],
  ['fixed(null)', () => fixed(null as never), /fixed: give at least one vector/],
  [
    'defineMeasure(null)',
    () => defineMeasure(null as never),
    /defineMeasure: give a measure .* got null/,
  ],
  [
    'defineMeasure minSamples 0',
    () => defineMeasure({ ...trace(), minSamples: 0 }),
    /minSamples must be an integer ≥ 1, got 0/,
  ],
];

describe('bad input gets one MeasureError line', () => {
  it.each(cases)('%s', async (_name, call, message) => {
    let error: unknown;
    try {
      await call();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MeasureError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });
});
