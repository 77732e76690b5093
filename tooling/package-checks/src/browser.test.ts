import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { browserUnavailable, launchChromium } from '@usam/chromium';
import { build as esbuild } from 'esbuild';
import { build, createServer as createViteServer } from 'vite';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { root } from './packages';

/**
 * A page bundled from the packed tarballs (Vite build, Vite dev, esbuild), served on 127.0.0.1, run
 * in headless Chromium: it starts wasm exactly as @usam/backend's README shows
 * (its "Browsers" block, no options) and trains a few SAM steps. CI sets
 * USAM_REQUIRE_BROWSER=1 so that a missing Chromium fails instead of skipping.
 */
const haveChromium = browserUnavailable() === undefined;

/** The first `js` block under the backend README's "## Browsers" heading. */
function readmeBrowserSetup(): string {
  const readme = readFileSync(join(root, 'packages/backend/README.md'), 'utf8');
  const section = readme.split(/^## Browsers$/m)[1] ?? '';
  const code = /^```js\n([\s\S]*?)```/m.exec(section)?.[1];
  if (code === undefined)
    throw new Error("@usam/backend's README has no js block under '## Browsers'");
  return code;
}

// After the README's setup: a softmax regression trained by SAM on a fixed toy set.
const TRAINING = `
import * as tf from '@tensorflow/tfjs-core';
import { sam } from '@usam/optimizer';

const xs = tf.tensor2d([[1, 2], [2, 1], [-1, -2], [-2, -1], [1, -1], [-1, 1]]);
const ys = tf.oneHot(tf.tensor1d([0, 0, 1, 1, 0, 1], 'int32'), 2);
const w = tf.variable(tf.zeros([2, 2]));
const b = tf.variable(tf.zeros([2]));
const optimizer = sam({ params: [w, b], base: tf.train.sgd(0.5), rho: 0.05 });
const losses: number[] = [];
for (let step = 0; step < 10; step++) {
  const stats = await optimizer.step(() =>
    tf.tidy(() => tf.losses.softmaxCrossEntropy(ys, tf.add(tf.matMul(xs, w), b)) as tf.Scalar),
  );
  losses.push(stats.loss);
}
(window as unknown as { result: unknown }).result = { name, skipped, backend: tf.getBackend(), losses };
`;

const MIME: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
};

/** A static server for the built page; anything missing is a 404. */
function serve(dir: string): Promise<Server> {
  const server = createServer((request, response) => {
    const file = join(
      dir,
      new URL(request.url ?? '/', 'http://x').pathname.replace(/\/$/, '/index.html'),
    );
    if (!file.startsWith(dir) || !existsSync(file)) {
      response.writeHead(404).end('not found');
      return;
    }
    response.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' });
    response.end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe.skipIf(!haveChromium)('in headless Chromium, a page built from the tarballs', () => {
  const { dir } = haveChromium ? inject('packed') : { dir: '' };
  const page = join(dir, 'browser-page');
  const out = join(page, 'dist');
  let server: Server;
  let url: string;

  beforeAll(async () => {
    mkdirSync(page, { recursive: true });
    writeFileSync(
      join(page, 'index.html'),
      '<!doctype html><script type="module" src="./main.ts"></script>\n',
    );
    writeFileSync(join(page, 'main.ts'), `${readmeBrowserSetup()}\n${TRAINING}`);
    await build({
      root: page,
      logLevel: 'warn',
      configFile: false,
      build: { outDir: out, target: 'es2022', emptyOutDir: true },
    });
    server = await serve(out);
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => server?.close());

  async function open(at = url): Promise<{ result?: unknown; error?: string }> {
    const browser = await launchChromium();
    try {
      const tab = await browser.newPage();
      let error: string | undefined;
      const failed = new Promise<void>((resolve) =>
        tab.on('pageerror', (e) => {
          error = e.message;
          resolve();
        }),
      );
      await tab.goto(at);
      const done = tab.waitForFunction(() => 'result' in window, undefined, { timeout: 60_000 });
      await Promise.race([done, failed]).catch(() => {
        error ??= 'the page set no result within 60 s';
      });
      return {
        result: await tab.evaluate(() => (window as unknown as { result?: unknown }).result),
        error,
      };
    } finally {
      await browser.close();
    }
  }

  /** The page trained on wasm, which `initBackend('wasm')` started without skipping anything. */
  function expectTrained({ result, error }: { result?: unknown; error?: string }) {
    expect(error).toBeUndefined();
    const { name, skipped, backend, losses } = result as {
      name: string;
      skipped: unknown[];
      backend: string;
      losses: number[];
    };
    expect({ name, skipped, backend }).toEqual({ name: 'wasm', skipped: [], backend: 'wasm' });
    expect(losses).toHaveLength(10);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
  }

  it("vite build: trains on wasm with the README's default setup (Vite copied the .wasm files)", async () => {
    expectTrained(await open());
  });

  it("vite's dev server: trains with the optimizeDeps setting the README gives", async () => {
    const dev = await createViteServer({
      root: page,
      logLevel: 'silent',
      configFile: false,
      server: { host: '127.0.0.1', port: 0 },
      // As in @usam/backend's README ("Vite's dev server"); es2022 for top-level await.
      optimizeDeps: {
        esbuildOptions: { target: 'es2022' },
        exclude: ['@usam/backend'],
        include: [
          '@usam/backend > @tensorflow/tfjs-backend-wasm',
          '@usam/backend > @tensorflow/tfjs-backend-cpu',
          '@usam/backend > @tensorflow/tfjs-core/dist/register_all_gradients',
          '@usam/backend > @tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops',
        ],
      },
    });
    await dev.listen();
    try {
      expectTrained(await open(dev.resolvedUrls!.local[0]!));
    } finally {
      await dev.close();
    }
  });

  it('esbuild: trains once the .wasm files are copied next to the bundle, as the README says', async () => {
    const bundle = join(page, 'esbuild');
    mkdirSync(bundle, { recursive: true });
    await esbuild({
      entryPoints: [join(page, 'main.ts')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      outfile: join(bundle, 'main.js'),
      logLevel: 'silent',
    });
    writeFileSync(
      join(bundle, 'index.html'),
      '<!doctype html><script type="module" src="./main.js"></script>\n',
    );
    const packaged = join(dir, 'node_modules/@usam/backend/dist');
    for (const file of readdirSync(packaged).filter((f) => f.endsWith('.wasm'))) {
      copyFileSync(join(packaged, file), join(bundle, file));
    }
    const esbuildServer = await serve(bundle);
    try {
      expectTrained(
        await open(`http://127.0.0.1:${(esbuildServer.address() as AddressInfo).port}/`),
      );
    } finally {
      esbuildServer.close();
    }
  });

  it('without the .wasm files, fails naming the URL it fetched and the fix', async () => {
    for (const file of readdirWasm(out)) rmSync(file);
    const { error } = await open();
    console.log(`the page's error: ${error}`);
    expect(error).toMatch(
      /Backend 'wasm' is not available \(could not load http:\/\/127\.0\.0\.1:\d+\/assets\/tfjs-backend-wasm[\w-]*\.wasm \(HTTP 404\): serve the \.wasm files of @usam\/backend\/dist\//,
    );
  });
});

function readdirWasm(out: string): string[] {
  const assets = join(out, 'assets');
  return readdirSync(assets)
    .filter((f) => f.endsWith('.wasm'))
    .map((f) => join(assets, f));
}
