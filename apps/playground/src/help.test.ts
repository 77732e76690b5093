import { findVariant } from '@usam/optimizer';
import { describe, expect, it } from 'vitest';
import { optionHelp } from './help';
import { playgroundVariants } from './settings';

const help = (variant: string, option: string) => {
  const v = findVariant(variant);
  return optionHelp(v, v.options.find((o) => o.name === option)!);
};

describe('one line of help per control', () => {
  it("quotes the paper's values from the variant table, λ in this library's units", () => {
    // §10.1: SAM ρ 0.05 on CIFAR-10 and SVHN, 0.1 on CIFAR-100.
    expect(help('sam', 'rho')).toBe(
      'ρ: perturbation radius; paper 0.05 (CIFAR-10, SVHN), 0.1 (CIFAR-100).',
    );
    // Table 4: Det-SAM λ_ref 1 (CIFAR-10) is λ = 0.5 here (docs/lambda.md).
    expect(help('det-sam', 'lambda')).toContain('0.5 (CIFAR-10)');
    // The table holds no published h: the line says it is the library's default, not the paper's.
    expect(help('det-sam', 'halfWidth')).toBe(
      'h: half-width of the hypercube μ; library default 0.01.',
    );
    expect(help('frob-sam', 'rho')).toContain('Figure 2 (MNIST) 0.01');
  });

  it('gives every option of every variant the page offers a line', () => {
    for (const v of playgroundVariants()) {
      for (const o of v.options) {
        const line = optionHelp(v, o);
        expect(line.startsWith(`${o.symbol}: ${o.description}`)).toBe(true);
        expect(line).not.toContain('\n');
      }
    }
  });
});
