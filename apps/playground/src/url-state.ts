/**
 * The experiment in the page's address, so that a link opens the same
 * experiment: `?dataset=mnist-s&…&run1=sgd&run2=frob-sam&run2.rho=0.01&…`.
 * Every value is checked as the worker checks it (`parseSettings`); a bad
 * or unknown one is reported in one line and its default used instead.
 */
import { findVariant, VARIANTS, type Variant } from '@usam/optimizer';
import { parseSettings } from './protocol';
import {
  DEFAULT_EXPERIMENT,
  defaultRun,
  type ExperimentSettings,
  MAX_RUNS,
  NUMBER_SETTINGS,
  playgroundVariants,
  type RunSettings,
} from './settings';

const CHOICE_SETTINGS = ['dataset', 'model', 'backend'] as const;

/** The query string (without '?') that `settingsFromQuery` reads back as `settings`. */
export function settingsToQuery(settings: ExperimentSettings): string {
  const params = new URLSearchParams();
  for (const key of [...CHOICE_SETTINGS, ...NUMBER_SETTINGS])
    params.set(key, String(settings[key]));
  settings.runs.forEach((run, i) => {
    params.set(`run${i + 1}`, run.optimizer);
    for (const [name, value] of Object.entries(run)) {
      if (name !== 'optimizer') params.set(`run${i + 1}.${name}`, String(value));
    }
  });
  return params.toString();
}

/** Why the worker refuses a value as the link wrote it: "lr must be a number ≥ 0, got 'fast'". */
const reason = (error: unknown, raw: string) =>
  (error as Error).message.replace(/^settings\./, '').replace(/, got .*\.$/, `, got '${raw}'`);

/**
 * The settings a query string holds, on top of `base` (the defaults): every
 * value the worker would refuse, every unknown name and every run beyond the
 * fourth is left out, each with a line in `problems`.
 */
export function settingsFromQuery(
  query: string,
  base: ExperimentSettings = DEFAULT_EXPERIMENT,
  variants: readonly Variant[] = VARIANTS,
): { settings: ExperimentSettings; problems: string[] } {
  const params = new URLSearchParams(query);
  const problems: string[] = [];
  const check = (candidate: ExperimentSettings) => parseSettings(candidate, variants);
  let settings: ExperimentSettings = base;
  const runParams = new Map<number, Map<string, string>>();
  for (const [key, value] of params) {
    const run = /^run([1-9]\d*)(?:\.(\w+))?$/.exec(key);
    if (run) {
      const index = Number(run[1]);
      if (!runParams.has(index)) runParams.set(index, new Map());
      runParams.get(index)!.set(run[2] ?? 'optimizer', value);
      continue;
    }
    const isNumber = (NUMBER_SETTINGS as readonly string[]).includes(key);
    if (!isNumber && !(CHOICE_SETTINGS as readonly string[]).includes(key)) {
      problems.push(`unknown setting '${key}' ignored`);
      continue;
    }
    const parsed = isNumber ? (value.trim() === '' ? Number.NaN : Number(value)) : value;
    try {
      settings = check({ ...settings, [key]: parsed });
    } catch (error) {
      problems.push(
        `${reason(error, value)} (the default ${String(base[key as keyof ExperimentSettings])} used)`,
      );
    }
  }
  if (runParams.size > 0) {
    const indices = [...runParams.keys()].sort((a, b) => a - b);
    if (indices.length > MAX_RUNS) {
      problems.push(`${indices.length} runs given; the first ${MAX_RUNS} kept`);
    }
    const runs: RunSettings[] = [];
    for (const index of indices.slice(0, MAX_RUNS)) {
      const given = runParams.get(index)!;
      const optimizer = given.get('optimizer');
      const offered = playgroundVariants(variants).map((v) => v.name);
      if (optimizer === undefined || !offered.includes(optimizer)) {
        problems.push(
          `run${index} must be one of ${offered.join(', ')}, got ${optimizer === undefined ? 'nothing' : `'${optimizer}'`} (run left out)`,
        );
        continue;
      }
      const variant = findVariant(optimizer, variants);
      let run = defaultRun(optimizer, variants);
      for (const [name, value] of given) {
        if (name === 'optimizer') continue;
        const option = variant.options.find((o) => o.name === name);
        if (option === undefined) {
          problems.push(`run${index}.${name} is not an option of ${optimizer} (ignored)`);
          continue;
        }
        const parsed =
          option.type === 'choice' ? value : value.trim() === '' ? Number.NaN : Number(value);
        try {
          check({ ...settings, runs: [{ ...run, [name]: parsed }] });
          run = { ...run, [name]: parsed };
        } catch (error) {
          problems.push(
            `${reason(error, value).replace(/^runs\[0\]/, `run${index}`)} (the default ${String(run[name])} used)`,
          );
        }
      }
      runs.push(run);
    }
    if (runs.length > 0) settings = { ...settings, runs };
  }
  return { settings: check(settings), problems };
}
