/**
 * tfjs prints "Hi, looks like you are running TensorFlow.js in Node.js…" with
 * console.warn the first time a pure-JS backend allocates; usam chose its
 * backend on purpose, so the banner never reaches the user. Other warnings pass.
 */
export function silenceTfjsBanner(): void {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (args.some((a) => typeof a === 'string' && a.includes('running TensorFlow.js in Node.js'))) {
      return;
    }
    warn(...args);
  };
}
