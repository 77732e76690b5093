/**
 * The long differential run before a release (docs/kernels.md):
 * `pnpm --filter @usam/backend fuzz [--cases 100000] [--seed 1] [--from 0] [--parallel 2] [--release]`
 * (against the bounds-checked debug build of the SIMD module, or with `--release` the committed one).
 * Prints every failure's one-line reproduction and a JSON summary; exits 1 on any failure.
 */
import { parseArgs } from 'node:util';
import { runDifferential } from '../src/differential-runner';

const integer = (
  name: string,
  value: string | boolean | undefined,
  fallback: number,
  min: number,
) => {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\d+$/.test(value) || Number(value) < min) {
    console.error(`fuzz: --${name} must be an integer ≥ ${min}, got '${value}'.`);
    process.exit(2);
  }
  return Number(value);
};

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      cases: { type: 'string' },
      seed: { type: 'string' },
      from: { type: 'string' },
      parallel: { type: 'string' },
      release: { type: 'boolean' },
    },
  }) as { values: Record<string, string | boolean | undefined> });
} catch (error) {
  console.error(
    `fuzz: ${(error as Error).message} Options: --cases N, --seed S, --from I, --parallel P, --release.`,
  );
  process.exit(2);
}
const cases = integer('cases', values.cases, 100_000, 1);
const seed = integer('seed', values.seed, 1, 0);
const from = integer('from', values.from, 0, 0);
const parallel = integer('parallel', values.parallel, 2, 1);

const started = Date.now();
let reported = 0;
const summary = await runDifferential({
  seed,
  cases,
  from,
  parallel,
  release: values.release === true,
  onProgress: (done) => {
    if (done - reported >= 1000 || done === cases) {
      reported = done;
      console.error(`${done}/${cases} cases, ${Math.round((Date.now() - started) / 1000)} s`);
    }
  },
});
for (const f of summary.failures) {
  console.log(
    `FAIL${f.alone ? '' : ' (only after the cases before it)'}: ${f.reproduction}: ${f.failure}`,
  );
}
console.log(
  JSON.stringify({
    seed,
    from,
    cases,
    build: values.release === true ? 'release' : 'debug',
    failures: summary.failures.length,
    seconds: Math.round((Date.now() - started) / 1000),
  }),
);
process.exit(summary.failures.length > 0 ? 1 : 0);
