/**
 * One line of help per control: what it does and the paper's value, taken
 * from @usam/optimizer's table of variants (its `paper` settings, Tables 4–5
 * and §10.1 of the paper) where the table holds one.
 */
import { paperSettings, type Variant, type VariantOption } from '@usam/optimizer';

/** The dataset columns the help quotes: the paper's full datasets (the -S/-C columns are in Tables 4–5). */
const COLUMNS = { cifar10: 'CIFAR-10', cifar100: 'CIFAR-100', svhn: 'SVHN' } as const;

/** Figure 2's Frob-SAM on MNIST (§10.1): the page's digits. */
const FIGURE2: Readonly<Record<string, string>> = {
  rho: '0.01',
  samples: '2',
  lambda: '0 to 0.0025 (λ_ref 1e-4 to 1e-2)',
};

/** `option`'s paper values, grouped: "0.05 (CIFAR-10, SVHN), 0.1 (CIFAR-100)"; undefined where the table has none. */
export function paperValues(variant: Variant, option: VariantOption): string | undefined {
  const published = (column: string) => {
    const raw = variant.paper?.[column];
    if (raw === undefined) return undefined;
    const key = option.name === 'lambda' ? 'lambdaRef' : option.name;
    if (!(key in raw)) return undefined;
    return paperSettings(variant, column)?.[option.name];
  };
  const groups = new Map<string, string[]>();
  for (const [column, name] of Object.entries(COLUMNS)) {
    const value = published(column);
    if (value === undefined) continue;
    const key = String(value);
    groups.set(key, [...(groups.get(key) ?? []), name]);
  }
  if (groups.size === 0) return undefined;
  return [...groups].map(([value, names]) => `${value} (${names.join(', ')})`).join(', ');
}

/** The help line of a variant's option: "perturbation radius. Paper: 0.05 (CIFAR-10, SVHN), 0.1 (CIFAR-100)." */
export function optionHelp(variant: Variant, option: VariantOption): string {
  const parts = [`${option.symbol}: ${option.description}`];
  const values = paperValues(variant, option);
  if (values !== undefined) parts.push(`paper ${values}`);
  if (variant.name === 'frob-sam' && FIGURE2[option.name] !== undefined) {
    parts.push(`Figure 2 (MNIST) ${FIGURE2[option.name]}`);
  }
  if (values === undefined && parts.length === 1 && option.default !== undefined) {
    parts.push(`library default ${option.default}`);
  }
  return `${parts.join('; ')}.`;
}

/** The experiment-wide m of m-sharpness. */
export const M_SHARPNESS_HELP =
  'm: each minibatch split into m parts, each with its own perturbation (m-sharpness; costs m× the gradients); the paper: 1 (no split).';
