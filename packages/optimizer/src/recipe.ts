/**
 * What a factory was called with, so that `asTfOptimizer`'s `getConfig` can
 * write it into a tfjs model's training config and `fromConfig` can build the
 * same variant again (docs/optimizer-persistence.md).
 */
export interface Recipe {
  /** The factory: 'frobSam', 'sam', … */
  readonly factory: string;
  /** Its options as given (params, preserve and base included; `getConfig` keeps the JSON ones). */
  readonly options: Readonly<Record<string, unknown>>;
}

const recipes = new WeakMap<object, Recipe>();

/** Records `optimizer`'s recipe and returns it (the factories' last line). */
export function remember<T extends object>(optimizer: T, factory: string, options: object): T {
  recipes.set(optimizer, { factory, options: { ...options } });
  return optimizer;
}

/** The recipe of an optimizer built by a named factory; undefined for `sharpnessAware`'s own. */
export const recipeOf = (optimizer: object): Recipe | undefined => recipes.get(optimizer);
