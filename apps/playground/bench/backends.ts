/**
 * Step time per backend in headless Chromium: the built page's own `auto`
 * comparison (one warm-up, then the median of three SGD steps on webgl and on
 * wasm, batch 32 unless BENCH_BATCH), read from the page, for the MLP and the
 * CNN, over BENCH_ROUNDS fresh page loads (default 5). Reports each round's
 * webgl/wasm ratio and their median (the robust figure on a noisy host), and
 * writes bench-results/backends.json.
 *
 * Chromium runs with --disable-gpu here (no GPU on these machines), so its
 * webgl is SwiftShader, a CPU rasteriser: the figure says which backend the
 * page picks on such machines, not what a GPU does.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { openSite, root, unavailable } from '../src/chromium';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BATCH = process.env.BENCH_BATCH ?? '32';
const missing = unavailable();
if (missing) {
  console.error(`bench: ${missing}.`);
  process.exit(1);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const site = await openSite();
const results: Record<string, { webgl: number[]; wasm: number[]; ratio: number[] }> = {};
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const model of ['mlp', 'cnn']) {
      const page = await site.browser.newPage();
      await page.goto(site.url);
      await page.selectOption('select[name=model]', model);
      await page.fill('input[name=batchSize]', BATCH);
      await page.click('#start');
      const stepMs = JSON.parse(
        (await page
          .locator('#backend[data-step-ms]')
          .getAttribute('data-step-ms', { timeout: 120_000 }))!,
      ) as Record<string, number>;
      await page.click('#stop');
      await page.close();
      results[model] ??= { webgl: [], wasm: [], ratio: [] };
      const r = results[model];
      r.webgl.push(stepMs.webgl ?? Number.NaN);
      r.wasm.push(stepMs.wasm ?? Number.NaN);
      r.ratio.push((stepMs.webgl ?? Number.NaN) / (stepMs.wasm ?? Number.NaN));
    }
  }
} finally {
  await site.close();
}

const summary = Object.fromEntries(
  Object.entries(results).map(([model, r]) => [
    model,
    {
      batch: Number(BATCH),
      webglMs: r.webgl,
      wasmMs: r.wasm,
      webglOverWasm: r.ratio,
      medianWebglMs: median(r.webgl),
      medianWasmMs: median(r.wasm),
      medianRatio: median(r.ratio),
    },
  ]),
);
const out = { chromium: 'headless, --disable-gpu (webgl on SwiftShader)', rounds: ROUNDS, summary };
await mkdir(`${root}bench-results`, { recursive: true });
await writeFile(`${root}bench-results/backends.json`, `${JSON.stringify(out, null, 2)}\n`);
console.log(JSON.stringify(out, null, 2));
