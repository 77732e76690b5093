import { describe, expect, it } from 'vitest';
import { phi, psi } from './functions';
import { defineMeasure } from './measure';
import { gaussian, sphere } from './samplers';
import type { MeasureComponent, OuterFunction, Sampler, ScalarFunction } from './types';

describe('defineMeasure', () => {
  const mu = gaussian();

  it('returns the triple as frozen data, inferring sharedSamples from the samplers', () => {
    const m = defineMeasure({
      name: 'variance of q',
      components: [
        { mu, psi: psi.identity },
        { mu, psi: psi.power(2) },
      ],
      phi: phi.variance,
      closedForm: (lambda) => lambda.reduce((a, l) => a + l * l, 0),
    });
    expect(m.sharedSamples).toBe(true);
    expect(m.components).toHaveLength(2);
    expect(m.closedForm?.([1, 2])).toBe(5);
    expect(Object.isFrozen(m)).toBe(true);
    expect(Object.isFrozen(m.components)).toBe(true);
    const separate = defineMeasure({
      name: 'two laws',
      components: [
        { mu: gaussian(), psi: psi.identity },
        { mu: sphere(), psi: psi.identity },
      ],
      phi: phi.max(1),
    });
    expect(separate.sharedSamples).toBe(false);
    // Same sampler, independent draws on request.
    expect(
      defineMeasure({
        name: 'x',
        components: [{ mu, psi: psi.identity }],
        phi: phi.identity,
        sharedSamples: false,
      }).sharedSamples,
    ).toBe(false);
  });

  it('rejects incomplete or inconsistent triples with one-line fixes', () => {
    const ok = { name: 'm', components: [{ mu, psi: psi.identity }], phi: phi.identity };
    expect(() => defineMeasure({ ...ok, name: '' })).toThrow(/non-empty name/);
    expect(() => defineMeasure({ ...ok, components: [] })).toThrow(/m ≥ 1 components/);
    expect(() =>
      defineMeasure({ ...ok, components: [{ psi: psi.identity } as unknown as MeasureComponent] }),
    ).toThrow(/component 0 needs mu, a Sampler/);
    expect(() =>
      defineMeasure({ ...ok, components: [{ mu: { name: 'x' } as Sampler, psi: psi.identity }] }),
    ).toThrow(/component 0 needs mu/);
    expect(() =>
      defineMeasure({
        ...ok,
        components: [{ mu, psi: { name: 't', value: (t: number) => t } as ScalarFunction }],
      }),
    ).toThrow(/component 0 needs psi with value\(t\) and derivative\(t\)/);
    expect(() =>
      defineMeasure({ ...ok, phi: { name: 't', value: () => 0 } as unknown as OuterFunction }),
    ).toThrow(/needs phi with value\(t\) and gradient\(t\)/);
    expect(() =>
      defineMeasure({
        ...ok,
        components: [
          { mu, psi: psi.identity },
          { mu: sphere(), psi: psi.identity },
        ],
        phi: phi.max(),
        sharedSamples: true,
      }),
    ).toThrow(
      /sharedSamples is true but component 1 uses sampler 'sphere', not component 0's 'gaussian'/,
    );
    expect(() => defineMeasure({ ...ok, dimension: 0 })).toThrow(
      /dimension must be an integer ≥ 1/,
    );
  });
});
