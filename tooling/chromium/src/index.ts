/**
 * One way for every browser test in the repository to find and start Chromium:
 * Debian's `/usr/bin/chromium` (or `CHROMIUM_PATH`), headless, with the flags this
 * sandbox needs (no background networking: the machine has no internet and
 * Chromium's calls home would be refused at every start).
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

/**
 * Why a browser test cannot run here (Chromium missing, or `also`: a test's own
 * precondition), or undefined when it can. CI sets `USAM_REQUIRE_BROWSER=1`, and
 * then a missing browser is an error rather than a skip.
 */
export function browserUnavailable(also?: string): string | undefined {
  const why = existsSync(executablePath)
    ? also
    : `Chromium not found at ${executablePath} (apt-get install chromium, or set CHROMIUM_PATH)`;
  if (why === undefined) return undefined;
  if (process.env.USAM_REQUIRE_BROWSER === '1') {
    throw new Error(`USAM_REQUIRE_BROWSER=1 but the browser tests cannot run: ${why}.`);
  }
  console.warn(`skipping the browser tests: ${why}.`);
  return why;
}

/** Chromium, headless, for one test file; close it when done. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath, args: ARGS });
}
