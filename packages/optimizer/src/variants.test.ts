import * as tf from '@tensorflow/tfjs-core';
import { trace } from '@usam/measures';
import { describe, expect, it } from 'vitest';
import { OptimizerError } from './errors';
import { flat, type Problem, problemFactory } from './test-helpers';
import {
  createVariant,
  findVariant,
  optionAccepts,
  optionAllows,
  optionRequirement,
  paperSettings,
  VARIANTS,
  type Variant,
  type VariantContext,
  type VariantOption,
  variantDefaults,
} from './variants';

const make = problemFactory();

/** The engine's options and every need, for any variant, on a problem. */
const contextFor = (p: Problem, lr = 0.1): VariantContext => ({
  params: p.variables,
  base: tf.train.sgd(lr),
  seed: 3,
  fisherLosses: (count) => Array.from({ length: count }, () => p.loss),
  measure: trace('gaussian'),
});

/** Values just outside an option's range (one per bound), and the bounds that are inside. */
function edges(option: VariantOption): { outside: unknown[]; inside: unknown[] } {
  if (option.type === 'choice') return { outside: ['not-a-choice'], inside: [...option.choices!] };
  const outside: unknown[] = [Number.NaN];
  const inside: unknown[] = [];
  // 1e-9 is far below every bound's scale and far above float64 spacing there.
  if (option.min !== undefined) {
    if (option.minExclusive) outside.push(option.min);
    else {
      outside.push(option.min - (option.type === 'integer' ? 1 : 1e-9));
      inside.push(option.min);
    }
  }
  if (option.max !== undefined) {
    if (option.maxExclusive) outside.push(option.max);
    else if (option.type === 'integer') {
      // samples ≤ MAX_SAMPLES: the bound itself, not just a non-integer past it.
      outside.push(option.max + 1);
      inside.push(option.max);
    } else outside.push(option.max + 1e-9);
  }
  if (option.type === 'integer') outside.push((option.default as number) + 0.5);
  return { outside, inside };
}

describe('the table of variants', () => {
  it('names every variant once, with a factory, a label and its options', () => {
    const names = VARIANTS.map((v) => v.name);
    expect(new Set(names).size).toBe(names.length);
    for (const v of VARIANTS) {
      expect(v.label.length).toBeGreaterThan(0);
      expect(new Set(v.options.map((o) => o.name)).size).toBe(v.options.length);
    }
    expect(findVariant('det-sam').factory).toBe('detSam');
    expect(() => findVariant('adam')).toThrow(
      new OptimizerError(
        "findVariant: no optimizer variant 'adam'; valid names are sgd, sam, asam, ssam, frob-sam, trace-sam, det-sam, universal.",
      ),
    );
  });

  // universalSam has no default ρ (the table's 0.01 is what programs offer).
  it.each(VARIANTS.filter((v) => v.name !== 'universal').map((v) => [v.name, v] as const))(
    "%s: the table's defaults are the factory's (the same step with and without them)",
    async (_, variant) => {
      const a = make();
      const b = make();
      // Without settings: the factory's own defaults (create receives none of the table's).
      const own = variant.create({ ...createContext(a, variant) }, {});
      const table = createVariant(variant, contextFor(b), variantDefaults(variant));
      for (let i = 0; i < 3; i++) {
        await own.step(a.loss);
        await table.step(b.loss);
      }
      expect(flat(b.variables)).toEqual(flat(a.variables));
      own.dispose();
      table.dispose();
    },
  );

  it.each(VARIANTS.map((v) => [v.name, v] as const))(
    '%s: gradientsPerStep is what the engine counts',
    async (_, variant) => {
      const p = make();
      const optimizer = createVariant(variant, contextFor(p));
      const stats = await optimizer.step(p.loss);
      expect(stats.gradientEvaluations).toBe(variant.gradientsPerStep(variantDefaults(variant)));
      optimizer.dispose();
    },
  );

  it.each(VARIANTS.flatMap((v) => v.options.map((o) => [`${v.name} ${o.name}`, v, o] as const)))(
    '%s: the factory refuses just outside the range the table states',
    (_, variant, option) => {
      const p = make();
      const { outside, inside } = edges(option);
      const base = variantDefaults(variant);
      for (const value of outside) {
        expect(optionAllows(option, value), `${value}`).toBe(false);
        // The factory itself (create, past createVariant's check) refuses it too.
        expect(
          () =>
            variant.create(createContext(p, variant), { ...base, [option.name]: value as number }),
          `${option.name} = ${value}`,
        ).toThrow(OptimizerError);
      }
      for (const value of inside) {
        expect(optionAllows(option, value), `${value}`).toBe(true);
        variant
          .create(createContext(p, variant), { ...base, [option.name]: value as number })
          .dispose();
      }
    },
  );

  it('states ranges in words for messages and forms', () => {
    const option = (v: string, o: string) => findVariant(v).options.find((x) => x.name === o)!;
    expect(optionAccepts(option('frob-sam', 'rho'))).toBe('a number > 0');
    expect(optionAccepts(option('sam', 'rho'))).toBe('a number ≥ 0');
    expect(optionAccepts(option('frob-sam', 'samples'))).toBe('an integer ≥ 2 and ≤ 1024');
    expect(optionAccepts(option('ssam', 'sparsity'))).toBe('a number ≥ 0 and < 1');
    expect(optionAccepts(option('trace-sam', 'mu'))).toBe("one of 'gaussian', 'sphere'");
    // The one message usam train and the playground give: the range with its reason.
    expect(optionRequirement(option('frob-sam', 'rho'), 0)).toBe(
      'a number > 0 (its measure divides by ρ²)',
    );
    expect(optionRequirement(option('sam', 'rho'), -1)).toBe('a number ≥ 0');
    expect(optionRequirement(option('frob-sam', 'samples'), 2)).toBeUndefined();
  });

  it("gives the paper's settings per dataset column, λ converted from the reference code's", () => {
    // Appendix I, Table 4: Det-SAM λ_ref = 1 on CIFAR-10 is λ = 0.5 here (ψ = e^{−t/2} there).
    expect(paperSettings(findVariant('det-sam'), 'cifar10')).toEqual({
      rho: 1,
      lambda: 0.5,
      samples: 1,
      halfWidth: 0.01,
    });
    // Frob-SAM on SVHN-C: Table 5's ρ = 0.01 and Table 4's λ_ref = 1e-3, which is λ_ref/4 here.
    expect(paperSettings(findVariant('frob-sam'), 'svhn-c')).toEqual({
      rho: 0.01,
      lambda: 0.00025,
      samples: 2,
    });
    // The baselines have one setting per base dataset (§10.1), used for its -S and -C columns.
    expect(paperSettings(findVariant('asam'), 'cifar100-c')).toEqual({ rho: 1, eta: 0.1 });
    expect(paperSettings(findVariant('sgd'), 'svhn')).toEqual({});
    expect(paperSettings(findVariant('sam'), 'mnist')).toBeUndefined();
    // The library's Frob-SAM and Det-SAM defaults are the paper's CIFAR-10 settings.
    for (const name of ['frob-sam', 'det-sam', 'trace-sam']) {
      const v = findVariant(name);
      expect(paperSettings(v, 'cifar10')).toEqual({
        ...variantDefaults(v),
        ...paperSettings(v, 'cifar10'),
      });
      expect(paperSettings(v, 'cifar10')!.lambda).toBe(variantDefaults(v).lambda);
    }
  });

  it('refuses bad settings with a one-line message naming the option', () => {
    const p = make();
    const det = findVariant('det-sam');
    expect(() => createVariant(det, contextFor(p), { halfWidth: -1 })).toThrow(
      new OptimizerError('detSam: halfWidth (h) must be a number > 0, got -1.'),
    );
    expect(() => createVariant(det, contextFor(p), { eta: 1 })).toThrow(
      new OptimizerError(
        "detSam: 'eta' is not an option of det-sam; its options are rho, lambda, samples, halfWidth.",
      ),
    );
    const { fisherLosses: _, ...without } = contextFor(p);
    expect(() => createVariant(findVariant('ssam'), without)).toThrow(
      /ssamF: ssam needs fisherLosses/,
    );
  });

  it('leaves no tensors behind', async () => {
    const p = make();
    const before = tf.memory().numTensors;
    for (const variant of VARIANTS) {
      const optimizer = createVariant(variant, contextFor(p));
      for (let i = 0; i < 3; i++) await optimizer.step(p.loss);
      optimizer.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

/** What `create` takes for `variant`: the context less the needs it does not have. */
function createContext(p: Problem, variant: Variant): VariantContext {
  const { fisherLosses, measure, ...engine } = contextFor(p);
  return {
    ...engine,
    ...(variant.needs.includes('fisherLosses') && { fisherLosses }),
    ...(variant.needs.includes('measure') && { measure }),
  };
}
