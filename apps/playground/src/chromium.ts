/**
 * Node-only helpers for the browser test and the bench: serve the built site
 * as static files on 127.0.0.1 (vite preview) and launch Debian's Chromium
 * headless through playwright-core. Never imported by the page.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { browserUnavailable, launchChromium } from '@usam/chromium';
import type { Browser } from 'playwright-core';
import { type PreviewServer, preview } from 'vite';

export const root = fileURLToPath(new URL('..', import.meta.url));
export const dist = `${root}dist`;
/**
 * Why the site cannot be opened in Chromium here, or undefined when it can
 * (throws instead under USAM_REQUIRE_BROWSER=1).
 */
export function unavailable(): string | undefined {
  return browserUnavailable(
    existsSync(`${dist}/index.html`) ? undefined : `no build at ${dist} (run pnpm build first)`,
  );
}

export interface Site {
  readonly url: string;
  readonly browser: Browser;
  close(): Promise<void>;
}

export async function openSite(): Promise<Site> {
  const server: PreviewServer = await preview({
    root,
    configFile: `${root}vite.config.ts`,
    logLevel: 'silent',
    preview: { host: '127.0.0.1', port: 0, strictPort: false, open: false },
  });
  const browser = await launchChromium();
  return {
    url: server.resolvedUrls!.local[0]!,
    browser,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}
