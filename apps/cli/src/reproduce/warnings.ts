import { knownDivergence } from '../cli/divergence';
import type { PlannedRun } from './plan';

/** One line per distinct known-divergent setting among `runs`, naming how many runs have it. */
export function divergenceWarnings(runs: readonly PlannedRun[]): string[] {
  const counts = new Map<string, number>();
  for (const run of runs) {
    const why = knownDivergence(run.settings);
    if (why) counts.set(why, (counts.get(why) ?? 0) + 1);
  }
  return [...counts].map(([why, n]) => `${n} run(s): ${why}.`);
}
