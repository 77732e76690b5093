/**
 * Runs bench/<name>.ts bundled as the build bundles src/node.ts (Node cannot
 * load src/node-registrations.ts's tfjs-core imports unbundled; see
 * tfjs-core-registrations.ts). Usage: `tsx bench/bundled.ts kernels-ab`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleForNode } from '../tfjs-core-registrations';

const name = process.argv[2] ?? 'kernels-ab';
const dir = fileURLToPath(new URL('../node_modules/.usam-bench/', import.meta.url));
mkdirSync(dir, { recursive: true });
const outfile = join(dir, `${name}.mjs`);
await bundleForNode(fileURLToPath(new URL(`./${name}.ts`, import.meta.url)), outfile);
await import(pathToFileURL(outfile).href);
