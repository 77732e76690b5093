import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { browserUnavailable, launchChromium } from '@usam/chromium';
import { parse as parseCsv } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import { createProgram } from '../program';
import { CSV_COLUMNS } from '../report/csv';
import { columnTitle, markBest, meanSe } from '../report/tables';
import { reproduce } from './index';
import { createPlan } from './plan';

const exec = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../../../..');
// The README's first command writes under results/ of the working directory.
const OUT = join(ROOT, 'results', 'tiny');

async function run(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const program = createProgram({ out: (t) => out.push(t), err: (t) => err.push(t) });
  await program.parseAsync(['node', 'usam', ...args]);
  return { out: out.join(''), err: err.join('') };
}

const plan = createPlan('tiny');

beforeAll(async () => {
  process.chdir(ROOT);
  await rm(OUT, { recursive: true, force: true });
  // The main job, as `pnpm reproduce` runs it but with the tiny profile, into the default place.
  const { out } = await run('reproduce', '--profile', 'tiny', '--samples', '200', '--quiet');
  expect(out).toContain(`results in ${join('results', 'tiny')}`);
  expect(out).toMatch(/Table 2 \(final test accuracy/);
  expect(out).toMatch(/Figure 2 \(‖H‖_F²/);
}, 600_000);

describe('usam reproduce --profile tiny, end to end', () => {
  it('writes every run directory and results.csv with one row per run', async () => {
    const rows = parseCsv(await readFile(join(OUT, 'results.csv'), 'utf8'), {
      columns: true,
    }) as Record<string, string>[];
    expect(Object.keys(rows[0]!)).toEqual([...CSV_COLUMNS]);
    expect(rows.map((r) => r.id).sort()).toEqual(plan.runs.map((r) => r.id).sort());
    for (const row of rows) {
      expect(row.status, row.id).toBe('done');
      const accuracy = Number(row.finalTestAccuracy);
      expect(accuracy).toBeGreaterThan(0);
      expect(accuracy).toBeLessThanOrEqual(1);
      // An ordinary usam train run directory.
      const files = await readdir(join(OUT, 'runs', row.id!));
      expect(files).toEqual(
        expect.arrayContaining(['config.json', 'metrics.jsonl', 'summary.json', 'checkpoint']),
      );
      const config = JSON.parse(await readFile(join(OUT, 'runs', row.id!, 'config.json'), 'utf8'));
      const options = config.options ?? config;
      expect(options.optimizer).toBe(row.method);
    }
    const figure2 = rows.filter((r) => r.experiment === 'figure2');
    expect(figure2.every((r) => Number(r.finalFrobenius) > 0)).toBe(true);
  });

  it('bolds exactly the entries within two standard errors of the best (from results.csv)', async () => {
    const rows = parseCsv(await readFile(join(OUT, 'results.csv'), 'utf8'), {
      columns: true,
    }) as Record<string, string>[];
    for (const table of ['table2', 'table3']) {
      const md = (await readFile(join(OUT, `${table}.md`), 'utf8')).trim().split('\n');
      const header = md[0]!
        .split('|')
        .map((c) => c.trim())
        .filter(Boolean);
      const body = md.slice(2).map((l) =>
        l
          .split('|')
          .map((c) => c.trim())
          .slice(1, -1),
      );
      expect(body.map((r) => r[0])).toEqual(['Frob', 'Trace', 'Det', 'SSAM', 'ASAM', 'SAM', 'SGD']);
      for (const [c, column] of header.entries()) {
        const methods = ['frob-sam', 'trace-sam', 'det-sam', 'ssam', 'asam', 'sam', 'sgd'];
        const stats = methods.map((m) =>
          meanSe(
            rows
              .filter(
                (r) =>
                  r.experiment === table && columnTitle(r.dataset) === column && r.method === m,
              )
              .map((r) => 100 * Number(r.finalTestAccuracy)),
          ),
        );
        const bold = markBest(stats);
        body.forEach((cells, i) => {
          const cell = cells[c + 1]!;
          expect(cell.startsWith('**'), `${table} ${column} ${cells[0]}`).toBe(bold[i]);
          expect(cell).toContain(
            `${stats[i]!.mean.toFixed(2)} ± ${stats[i]!.standardError.toFixed(2)}`,
          );
        });
      }
    }
  });

  it('draws figure2.svg and figure2.png, per-run curves and a self-contained report.html', async () => {
    const svg = await readFile(join(OUT, 'figure2.svg'), 'utf8');
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*width="\d+"/);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('λ = 0 (test');
    const png = await readFile(join(OUT, 'figure2.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.subarray(12, 16).toString()).toBe('IHDR');
    expect(png.subarray(-8, -4).toString()).toBe('IEND');
    expect((await readdir(join(OUT, 'curves'))).sort()).toEqual(
      plan.runs.map((r) => `${r.id}.svg`).sort(),
    );
    const html = await readFile(join(OUT, 'report.html'), 'utf8');
    for (const id of ['table2', 'table3', 'settings']) expect(html).toContain(`<table id="${id}">`);
    expect(html).toContain('<section id="figure2">');
    expect(html).not.toMatch(/<script|<link|src="http/);
  });

  it('keeps results/ out of git and out of the lint step (biome ci passes after the run)', async () => {
    await exec('git', ['check-ignore', '-q', join('results', 'tiny', 'results.csv')], {
      cwd: ROOT,
    });
    const biome = join(ROOT, 'node_modules', '.bin', 'biome');
    const { stdout } = await exec(biome, ['ci', '.', '--colors=off'], { cwd: ROOT });
    expect(stdout).toMatch(/Checked \d+ files/);
  });

  it('skips finished runs on rerun and resumes an interrupted one', async () => {
    const { err } = await run('reproduce', '--profile', 'tiny', '--experiments', 'table2');
    expect(err.match(/already done, skipped/g)).toHaveLength(
      plan.runs.filter((r) => r.experiment === 'table2').length,
    );

    // SGD: its optimizer state resumes exactly (variants without savable state start over).
    const victim = plan.runs.find((r) => r.experiment === 'table3' && r.method === 'sgd')!;
    await rm(join(OUT, 'runs', victim.id), { recursive: true });
    const abort = new AbortController();
    const outcome = reproduce({
      profile: 'tiny',
      experiments: ['table3'],
      backend: 'auto',
      seed: 0,
      samples: 2,
      signal: abort.signal,
      log: () => {},
      hooks: { onStep: (s) => s.step === 2 && abort.abort() },
    });
    await expect(outcome).rejects.toThrow(/abort/i);
    expect(existsSync(join(OUT, 'runs', victim.id, 'summary.json'))).toBe(false);
    expect(existsSync(join(OUT, 'runs', victim.id, 'checkpoint'))).toBe(true);

    const again = await reproduce({
      profile: 'tiny',
      experiments: ['table3'],
      backend: 'auto',
      seed: 0,
      samples: 2,
      log: () => {},
    });
    expect(again.outcomes!.get(victim.id)).toBe('resumed');
    expect([...again.outcomes!.values()].filter((o) => o === 'skipped')).toHaveLength(
      again.runs.length - 1,
    );
    expect(again.report!.done).toBe(plan.runs.length);
  });

  it.skipIf(browserUnavailable() !== undefined)(
    'renders report.html in headless Chromium with its tables and figures',
    async () => {
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        const requests: string[] = [];
        page.on('request', (r) => requests.push(r.url()));
        await page.goto(`file://${join(OUT, 'report.html')}`);
        expect(await page.locator('#table2 tbody tr').count()).toBe(7);
        expect(await page.locator('#table3 tbody tr').count()).toBe(7);
        expect(await page.locator('#table2 strong').count()).toBeGreaterThan(0);
        const figure = await page.locator('#figure2 svg').boundingBox();
        expect(figure!.width).toBeGreaterThan(300);
        expect(figure!.height).toBeGreaterThan(200);
        expect(await page.locator('#curves svg').count()).toBe(2); // one per table dataset
        expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([]);
        await page.screenshot({ path: join(OUT, 'report-screenshot.png'), fullPage: true });
      } finally {
        await browser.close();
      }
    },
  );
});
