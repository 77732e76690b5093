/**
 * The built site in headless Chromium: served as static files on 127.0.0.1,
 * SGD against Frob-SAM on MNIST-S for two epochs, the toy trajectories, a
 * landscape slice, the downloads, offline reload, and no console error.
 * Screenshots go to apps/playground/screenshots/ (gitignored).
 *
 * Needs a built `dist/` (turbo builds it before this package's tests) and
 * Chromium (Debian's /usr/bin/chromium, or CHROMIUM_PATH). Without Chromium
 * it is skipped with the reason printed, unless USAM_REQUIRE_BROWSER=1.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSite, root, type Site, unavailable } from './chromium';
import { MARGIN } from './heatmap';
import type { EpochMetrics } from './protocol';

const shots = `${root}screenshots`;
const missing = unavailable();
const execFileAsync = promisify(execFile);

/**
 * Relative difference allowed between the page's metrics and the exported
 * command's (both on wasm, same seeds): the page's wasm build may run a
 * different variant (threads/SIMD) than Node's, whose sums can differ in
 * the last float32 bits, and 54 steps of training carry such a difference
 * forward. Measured: a largest difference of 0 (docs/playground.md); 1e-3 leaves room
 * for the variants while a wrong seed, subset or schedule (differences of
 * percents) still fails.
 */
const REPRODUCE_TOLERANCE = 1e-3;

/** Runs `usam train …` as the page exported it; its metrics.jsonl lines. */
async function reproduce(command: string): Promise<EpochMetrics[]> {
  const args = command.split(' ');
  expect(args.slice(0, 2)).toEqual(['usam', 'train']);
  const out = await mkdtemp(`${tmpdir()}/usam-playground-`);
  try {
    await execFileAsync(
      process.execPath,
      [`${root}../cli/dist/bin.js`, ...args.slice(1), '--out', `${out}/run`, '--quiet'],
      { maxBuffer: 1 << 24 },
    );
    const lines = (await readFile(`${out}/run/metrics.jsonl`, 'utf8')).trim().split('\n');
    return lines.map((line) => JSON.parse(line));
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

/** An epoch's numbers that must agree within REPRODUCE_TOLERANCE (seconds excluded). */
function closeFields(m: EpochMetrics): Record<string, number> {
  const fields: Record<string, number> = {
    trainLoss: m.trainLoss,
    trainAccuracy: m.trainAccuracy,
    testLoss: m.testLoss,
    testAccuracy: m.testAccuracy,
    learningRate: m.learningRate,
  };
  for (const [q, e] of Object.entries(m.hessian ?? {})) {
    fields[`${q}.estimate`] = e.estimate;
    fields[`${q}.standardError`] = e.standardError;
  }
  return fields;
}

describe.skipIf(missing !== undefined)('the playground in headless Chromium', () => {
  let site: Site;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    await mkdir(shots, { recursive: true });
    site = await openSite();
    const context = await site.browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page: ${error.message}`));
    await page.goto(site.url);
  });

  afterAll(async () => {
    await site?.close();
  });

  /** A fresh page at `viewport`, its console errors added to `problems`. */
  const freshPage = async (viewport = { width: 1400, height: 900 }) => {
    const p = await (await site.browser.newContext({ viewport })).newPage();
    p.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    p.on('pageerror', (error) => problems.push(`page: ${error.message}`));
    return p;
  };

  /** The page of the first click, kept for the layout checks. */
  let first: Page | undefined;

  it(
    'trains the default configuration to its end on the first click, every loss finite',
    { timeout: 900_000 },
    async () => {
      first = await freshPage();
      await first.goto(site.url);
      // Nothing the CLI would warn about (usam train's own rule for Frob-SAM's lr·4λ/ρ²).
      expect(await first.locator('.run-warning:not([hidden])').count()).toBe(0);
      await first.click('#start');
      await first.waitForSelector('#status[data-state=done]', { timeout: 840_000 });
      expect(await first.locator('#run-notes li').allTextContents()).toEqual([]);
      expect(await first.textContent('#status')).toBe('Done.');
      // Every step of both runs (20 epochs × 27 steps), all finite (non-finite ones halt a run).
      expect(
        await first
          .locator('figure.chart', { has: first.locator('figcaption', { hasText: 'Minibatch' }) })
          .getAttribute('data-counts'),
      ).toBe('540,540');
      const rows = await first.locator('#summary-table tbody tr').evaluateAll((trs) =>
        trs.map((tr) => ({
          epochs: (tr as HTMLTableRowElement).cells[1]!.textContent,
          accuracy: Number((tr as HTMLElement).dataset.testAccuracy),
          note: (tr as HTMLTableRowElement).cells[6]!.textContent,
        })),
      );
      expect(rows).toHaveLength(2);
      for (const row of rows) {
        expect(row.epochs).toBe('20');
        expect(row.note).toBe('');
        // Off the initial plateau: well above chance (10%).
        expect(row.accuracy).toBeGreaterThan(0.6);
      }
      await first.screenshot({ path: `${shots}/first-click.png`, fullPage: true });
    },
  );

  it('lays out the charts, the heat map and the tables at 1400×900 and on a 390×844 phone', async () => {
    const p = first!;
    await p.fill('#landscape-form input[name=points]', '9');
    await p.fill('#landscape-form input[name=examples]', '128');
    await p.click('#slice');
    await p.waitForSelector('#slice-2d[data-points="81"]', { timeout: 60_000 });
    for (const viewport of [
      { width: 1400, height: 900 },
      { width: 390, height: 844 },
    ]) {
      await p.setViewportSize(viewport);
      // The charts and canvases redraw on their ResizeObservers.
      await p.waitForTimeout(500);
      const problems = await p.evaluate(layoutProblems);
      expect(problems, `${viewport.width}×${viewport.height}`).toEqual([]);
      await p.screenshot({ path: `${shots}/layout-${viewport.width}.png`, fullPage: true });
      for (const id of ['toy-table', 'summary-table', 'slice-2d-figure']) {
        await p.locator(`#${id}`).screenshot({ path: `${shots}/${id}-${viewport.width}.png` });
      }
    }
    await p.context().close();
  });

  it('names a forced divergence (run, step, what to change) and trains the other run on', async () => {
    const p = await freshPage();
    // λ = 10⁴: Frob-SAM's regulariser outweighs the loss by orders; its loss leaves float32.
    await p.goto(`${site.url}?epochs=2&measureEvery=0&run1=sgd&run2=frob-sam&run2.lambda=10000`);
    // usam train's warning, before anything runs.
    expect(await p.locator('#runs li').nth(1).locator('.run-warning').textContent()).toContain(
      'Expected to diverge: frob-sam with lr 0.02, λ 10000',
    );
    expect(await p.locator('#runs li').nth(0).locator('.run-warning').isHidden()).toBe(true);
    await p.click('#start');
    await p.waitForSelector('#status[data-state=done]', { timeout: 300_000 });
    const notes = await p
      .locator('#run-notes li')
      .evaluateAll((lis) => lis.map((li) => [(li as HTMLElement).dataset.run, li.textContent]));
    expect(notes).toHaveLength(1);
    expect(notes[0]![0]).toBe('1');
    expect(notes[0]![1]).toMatch(
      /^2\. Frob-SAM \(.*\): diverged at epoch 1, step \d+ \(loss (NaN|-?Infinity); .*\); what to change: .*a lower lr or λ \(or a larger ρ\) trains\.$/,
    );
    expect(await p.textContent('#status')).toContain('1 of 2 runs halted');
    // SGD went on to the end (2 × 27 steps); the diverged run's chart stops where it diverged.
    const counts = (await p
      .locator('figure.chart', { has: p.locator('figcaption', { hasText: 'Minibatch' }) })
      .getAttribute('data-counts'))!
      .split(',')
      .map(Number);
    const step = Number(notes[0]![1]!.match(/step (\d+)/)![1]);
    expect(counts).toEqual([54, step - 1]);
    const summary = await p.locator('#summary-table tbody tr').allTextContents();
    expect(summary[0]).not.toContain('diverged');
    expect(summary[1]).toContain('diverged at epoch 1');
    // The controls are usable again: another start runs, and Stop stops it.
    expect(await p.isEnabled('#start')).toBe(true);
    await p.click('#start');
    await p.waitForSelector('#status[data-state=running]', { timeout: 60_000 });
    await p.click('#stop');
    await p.waitForSelector('#status[data-state=stopped]', { timeout: 60_000 });
    expect(await p.isEnabled('#start')).toBe(true);
    await p.context().close();
  });

  it('trains SGD against Frob-SAM on MNIST-S for two epochs: charts fill, loss falls', async () => {
    await page.selectOption('select[name=dataset]', 'mnist-s');
    // wasm, which Node has too: the exported command can then be run here and compared.
    await page.selectOption('select[name=backend]', 'wasm');
    await page.fill('input[name=epochs]', '2');
    // Off the initial plateau within two epochs (the default 0.02 needs about four).
    await page.fill('input[name=lr]', '0.05');
    await page.fill('input[name=measureEvery]', '2');
    await page.fill('input[name=hessianExamples]', '128');
    await page.fill('input[name=probes]', '4');
    expect(
      await page
        .locator('#runs select')
        .evaluateAll((s) => s.map((e) => (e as HTMLSelectElement).value)),
    ).toEqual(['sgd', 'frob-sam']);
    await page.click('#start');
    await page.waitForSelector('#status[data-state=done]', { timeout: 100_000 });

    const points = async (caption: string) =>
      Number(
        await page
          .locator('figure.chart', { has: page.locator('figcaption', { hasText: caption }) })
          .getAttribute('data-points'),
      );
    expect(await points('Minibatch loss per step')).toBeGreaterThan(20);
    expect(await points('Loss per epoch')).toBe(8); // 2 runs × (train, test) × 2 epochs
    expect(await points('‖H‖_F²')).toBe(2); // epoch 2, both runs
    expect(await points('λ₁')).toBe(2);
    // Every step of both runs on the per-step chart (2 epochs × 27 steps each).
    expect(
      await page
        .locator('figure.chart', { has: page.locator('figcaption', { hasText: 'Minibatch loss' }) })
        .getAttribute('data-counts'),
    ).toBe('54,54');

    // The downloads: JSON metrics of each run, whose loss falls from epoch 1 to 2.
    for (const run of [0, 1]) {
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page
          .locator('.export-run')
          .nth(run)
          .getByRole('button', { name: 'Metrics and settings as JSON' })
          .click(),
      ]);
      const json = JSON.parse(await readFile((await download.path())!, 'utf8'));
      const [e1, e2] = json.metrics;
      expect(e2.trainLoss).toBeLessThan(e1.trainLoss);
      expect(e2.trainLoss).toBeLessThan(Math.log(10));
      expect(json.command).toContain(`--optimizer ${run === 0 ? 'sgd' : 'frob-sam'}`);
      expect(Number.isFinite(e2.hessian.frobenius.estimate)).toBe(true);

      // The exported command, run in Node, reproduces the page's epochs, Hessian included.
      const cli = await reproduce(json.command);
      expect(cli).toHaveLength(json.metrics.length);
      let largest = 0;
      json.metrics.forEach((page: EpochMetrics, k: number) => {
        const node = cli[k]!;
        for (const [key, value] of Object.entries(closeFields(page))) {
          largest = Math.max(
            largest,
            Math.abs(value - closeFields(node)[key]!) / Math.max(1, Math.abs(value)),
          );
          expect(Math.abs(value - closeFields(node)[key]!), `epoch ${k + 1} ${key}`).toBeLessThan(
            REPRODUCE_TOLERANCE * Math.max(1, Math.abs(value)),
          );
        }
        expect([node.epoch, node.gradientEvaluations, node.refusedSteps]).toEqual([
          page.epoch,
          page.gradientEvaluations,
          page.refusedSteps,
        ]);
        expect(node.hessian?.topEigenvalue?.converged).toBe(page.hessian?.topEigenvalue?.converged);
      });
      console.info(
        `browser test: run ${run + 1} against its command, largest difference ${largest}`,
      );
    }
    const backend = page.locator('#backend');
    console.info(
      `browser test: backend ${await backend.getAttribute('data-backend')}, SGD step ms per backend ${await backend.getAttribute('data-step-ms')}`,
    );
    await page.screenshot({ path: `${shots}/training.png`, fullPage: true });
  });

  it('slices the loss around the Frob-SAM run (2-D heat map) and draws its spectral density', async () => {
    await page.selectOption('#landscape-form select[name=run]', '1');
    await page.fill('#landscape-form input[name=points]', '9');
    await page.fill('#landscape-form input[name=examples]', '128');
    await page.click('#slice');
    await page.waitForSelector('#slice-2d[data-points="81"]', { timeout: 30_000 });
    await page.fill('#landscape-form input[name=steps]', '20');
    await page.fill('#landscape-form input[name=probes]', '1');
    await page.click('#density-button');
    await page.waitForSelector('#density figure[data-points]', { timeout: 30_000 });
    await page.locator('#landscape').screenshot({ path: `${shots}/landscape.png` });
  });

  it('ends the toy trajectories where the theory says (Example 2 from (2.5, 0.4))', async () => {
    await page.waitForSelector('#toy-status[data-state=done]', { timeout: 30_000 });
    const ends = Object.fromEntries(
      await page.locator('#toy-table tbody tr').evaluateAll((rows) =>
        rows.map((r) => {
          const d = (r as HTMLElement).dataset;
          return [d.optimizer!, [Number(d.x1), Number(d.x2)]];
        }),
      ),
    ) as Record<string, [number, number]>;
    for (const o of ['sgd', 'sam', 'asam']) {
      expect(ends[o]![0]).toBeCloseTo(2.5, 5);
      expect(ends[o]![1]).toBeCloseTo(0.4, 5);
    }
    for (const o of ['trace-sam', 'frob-sam']) {
      // toy.test.ts: within 0.2 of (1, 1), the manifold's point of least tr H.
      expect(Math.abs(ends[o]![0] - 1)).toBeLessThan(0.2);
      expect(Math.abs(ends[o]![1] - 1)).toBeLessThan(0.2);
    }
    const moved = ([x, y]: [number, number]) => Math.hypot(x - 2.5, y - 0.4);
    expect(moved(ends['det-sam']!)).toBeLessThan(0.25 * moved(ends['trace-sam']!));
    // toy.test.ts: the scale-invariant objective pulls nowhere along the manifold (moved 0.01).
    expect(moved(ends['log-damped-determinant']!)).toBeLessThan(0.1);

    // Keyboard: arrows move the start and rerun the optimizers.
    await page.focus('#toy-canvas');
    await page.keyboard.press('ArrowUp');
    await page.waitForFunction(
      () => (document.querySelector('input[name=x2]') as HTMLInputElement).value === '0.50',
    );
    await page.waitForSelector('#toy-status[data-state=done]');
    await page.locator('#toy').screenshot({ path: `${shots}/toy.png` });
  });

  it('names the toy trajectories a too-large learning rate sends off the plot', async () => {
    await page.fill('#toy-form input[name=lr]', '0.5');
    await page.press('#toy-form input[name=lr]', 'Enter');
    await page.locator('#toy-form input[name=lr]').dispatchEvent('change');
    await page.waitForSelector('#toy-status[data-state=done][data-diverged*=frob-sam]', {
      timeout: 30_000,
    });
    expect(await page.locator('#toy-status').textContent()).toContain('Diverged at lr 0.5');
    await page.fill('#toy-form input[name=lr]', '0.02');
    await page.locator('#toy-form input[name=lr]').dispatchEvent('change');
    await page.waitForSelector('#toy-status[data-state=done][data-diverged=""]', {
      timeout: 30_000,
    });
  });

  it('opens the toy presets, and zooms the plane at the pointer and onto the paths', async () => {
    // Moved by the arrow key above: no preset's settings.
    expect(await page.inputValue('#toy-preset')).toBe('');
    await page.selectOption('#toy-preset', 'example1');
    await page.waitForSelector('#toy-status[data-state=done]');
    expect(await page.inputValue('#toy-form select[name=toy]')).toBe('example1');
    expect([
      await page.inputValue('input[name=x1]'),
      await page.inputValue('input[name=x2]'),
    ]).toEqual(['1.00', '0.20']);
    await page.selectOption('#toy-preset', 'example2');
    await page.waitForSelector('#toy-status[data-state=done]');
    expect(await page.textContent('#toy-preset-note')).toContain('hyperbola');
    expect(await page.inputValue('#toy-form select[name=toy]')).toBe('example2');
    expect([
      await page.inputValue('input[name=x1]'),
      await page.inputValue('input[name=x2]'),
    ]).toEqual(['2.50', '0.40']);

    const view = async () =>
      (await page.getAttribute('#toy-canvas', 'data-view'))!.split(',').map(Number) as [
        number,
        number,
        number,
        number,
      ];
    expect(await view()).toEqual([-3, 3, -3, 3]);
    // Fit: a square around the start and every path, narrower than the toy's ±3.
    await page.click('#toy-fit');
    const fitted = await view();
    expect(fitted[1] - fitted[0]).toBeLessThan(3);
    // data-view has 6 significant digits.
    expect(fitted[1] - fitted[0]).toBeCloseTo(fitted[3] - fitted[2], 4);
    const ends = await page
      .locator('#toy-table tbody tr')
      .evaluateAll((rows) =>
        rows.map((r) => [
          Number((r as HTMLElement).dataset.x1),
          Number((r as HTMLElement).dataset.x2),
        ]),
      );
    for (const [x, y] of [[2.5, 0.4], ...ends] as [number, number][]) {
      expect(x).toBeGreaterThan(fitted[0]);
      expect(x).toBeLessThan(fitted[1]);
      expect(y).toBeGreaterThan(fitted[2]);
      expect(y).toBeLessThan(fitted[3]);
    }
    // The wheel zooms in by 0.8 about the point under the pointer, which stays put.
    await page.click('#toy-full');
    const canvas = (await page.locator('#toy-canvas').boundingBox())!;
    // Whole page pixels: the wheel event's clientX/Y are integers.
    const [mx, my] = [
      Math.round(canvas.x + 0.6 * canvas.width),
      Math.round(canvas.y + 0.4 * canvas.height),
    ];
    const [px, py] = [mx - canvas.x, my - canvas.y];
    await page.mouse.move(mx, my);
    await page.mouse.wheel(0, -100);
    await page.waitForFunction(
      () => document.querySelector<HTMLElement>('#toy-canvas')!.dataset.view !== '-3,3,-3,3',
    );
    const zoomed = await view();
    expect(zoomed[1] - zoomed[0]).toBeCloseTo(0.8 * 6, 4);
    // The plane's point under the pointer (heatmap.ts's frame: the plot inside MARGIN).
    const w = canvas.width - MARGIN.left - MARGIN.right;
    const h = canvas.height - MARGIN.top - MARGIN.bottom;
    const under = [-3 + ((px - MARGIN.left) / w) * 6, 3 - ((py - MARGIN.top) / h) * 6];
    // Fixed point of x ↦ p + 0.8 (x − p): p = (x′ − 0.8 x) / 0.2, from the view's ends (data-view
    // has 6 digits, so p to about 1e-4).
    expect((zoomed[0] - 0.8 * -3) / 0.2).toBeCloseTo(under[0]!, 3);
    expect((zoomed[3] - 0.8 * 3) / 0.2).toBeCloseTo(under[1]!, 3);
    // Out again past the square: the whole square, never more.
    await page.click('#toy-zoom-out');
    expect(await view()).toEqual([-3, 3, -3, 3]);
  });

  it('opens the experiment a link holds, naming an invalid value in one line', async () => {
    const other = await page.context().newPage();
    await other.goto(`${site.url}?lr=fast&epochs=3&run1=sam&run1.rho=0.2`);
    await other.waitForSelector('#url-status:not([hidden])');
    expect(await other.locator('#url-status').textContent()).toContain(
      "lr must be a number ≥ 0, got 'fast' (the default 0.02 used)",
    );
    expect(await other.inputValue('input[name=epochs]')).toBe('3');
    expect(await other.inputValue('input[name=lr]')).toBe('0.02');
    expect(
      await other
        .locator('#runs select')
        .evaluateAll((s) => s.map((e) => (e as HTMLSelectElement).value)),
    ).toEqual(['sam']);
    // A preset writes itself into the address, and that address opens it again.
    await other.selectOption('#preset', 'figure2');
    const again = await page.context().newPage();
    await again.goto(other.url());
    expect(await again.inputValue('#preset')).toBe('figure2');
    expect(await again.locator('#runs select').count()).toBe(4);
    await again.close();
    await other.close();
  });

  it('reads at 360 px wide without horizontal scrolling', async () => {
    await page.setViewportSize({ width: 360, height: 800 });
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: `${shots}/narrow-360-top.png` });
    await page.locator('#toy-canvas').scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${shots}/narrow-360-toy.png` });
  });

  it('loads offline once loaded, and no console error appeared', async () => {
    await page.evaluate(() => navigator.serviceWorker.ready);
    await page.context().setOffline(true);
    await page.reload();
    await page.waitForSelector('#toy-status[data-state=done]', { timeout: 30_000 });
    await page.context().setOffline(false);
    expect(problems).toEqual([]);
  });
});

/**
 * Runs in the page: what of the layout is wrong, one line each. Boxes are
 * compared with half a pixel of slack (subpixel layout). Checked: no sideways
 * scroll; charts inside the page and apart from each other, uPlot's plot and
 * legend inside their figure; every text drawn on the heat map and the toy
 * plane (heatmap.ts records their measured boxes) inside its canvas and apart
 * from every other, "β (d₂)" among them; the tables' cells inside their
 * table, apart, at 12 px or larger.
 */
function layoutProblems(): string[] {
  const out: string[] = [];
  const slack = 0.5;
  type Box = { left: number; top: number; right: number; bottom: number };
  const inside = (a: Box, b: Box) =>
    a.left >= b.left - slack &&
    a.right <= b.right + slack &&
    a.top >= b.top - slack &&
    a.bottom <= b.bottom + slack;
  const apart = (a: Box, b: Box) =>
    a.right <= b.left + slack ||
    b.right <= a.left + slack ||
    a.bottom <= b.top + slack ||
    b.bottom <= a.top + slack;
  const show = (b: Box) =>
    `[${[b.left, b.top, b.right, b.bottom].map((v) => Math.round(v)).join(', ')}]`;
  const page = document.documentElement;
  if (page.scrollWidth > page.clientWidth) {
    out.push(`the page scrolls sideways (${page.scrollWidth} > ${page.clientWidth})`);
  }
  const screen: Box = { left: 0, top: -Infinity, right: page.clientWidth, bottom: Infinity };

  const figures = [...document.querySelectorAll<HTMLElement>('#charts figure.chart')];
  if (figures.length !== 6) out.push(`${figures.length} training charts, not 6`);
  figures.forEach((f, i) => {
    const box = f.getBoundingClientRect();
    const name = f.querySelector('figcaption')?.textContent?.slice(0, 30);
    if (!inside(box, screen)) out.push(`chart "${name}" ${show(box)} leaves the page`);
    for (const part of ['.uplot', '.u-legend', 'figcaption']) {
      const el = f.querySelector(part);
      if (el && !inside(el.getBoundingClientRect(), box)) {
        out.push(
          `chart "${name}": ${part} ${show(el.getBoundingClientRect())} leaves its figure ${show(box)}`,
        );
      }
    }
    for (const g of figures.slice(i + 1)) {
      if (!apart(box, g.getBoundingClientRect())) {
        out.push(
          `charts "${name}" and "${g.querySelector('figcaption')?.textContent?.slice(0, 30)}" overlap`,
        );
      }
    }
  });

  for (const id of ['slice-2d', 'toy-canvas']) {
    const canvas = document.getElementById(id) as HTMLCanvasElement;
    const texts = JSON.parse(canvas.dataset.texts ?? '[]') as {
      text: string;
      box: [number, number, number, number];
    }[];
    if (texts.length < 5) out.push(`#${id}: only ${texts.length} texts drawn`);
    if (id === 'slice-2d' && !texts.some((t) => t.text === 'β (d₂)')) out.push('no β (d₂) label');
    const own: Box = { left: 0, top: 0, right: canvas.clientWidth, bottom: canvas.clientHeight };
    const boxes = texts.map(({ text, box: [left, top, right, bottom] }) => ({
      text,
      box: { left, top, right, bottom },
    }));
    boxes.forEach((a, i) => {
      if (!inside(a.box, own))
        out.push(`#${id}: "${a.text}" ${show(a.box)} leaves the canvas ${show(own)}`);
      for (const b of boxes.slice(i + 1)) {
        if (!apart(a.box, b.box)) {
          out.push(`#${id}: "${a.text}" ${show(a.box)} overlaps "${b.text}" ${show(b.box)}`);
        }
      }
    });
    const figure = canvas.closest('figure')!;
    if (!inside(canvas.getBoundingClientRect(), figure.getBoundingClientRect())) {
      out.push(`#${id} leaves its figure`);
    }
  }

  for (const id of ['toy-table', 'summary-table']) {
    const table = document.getElementById(id);
    if (table === null) {
      out.push(`no #${id}`);
      continue;
    }
    const wrap = table.closest('.table-wrap')!;
    if (wrap.scrollWidth > wrap.clientWidth) {
      out.push(`#${id} needs a sideways scroll (${wrap.scrollWidth} > ${wrap.clientWidth})`);
    }
    const own = table.getBoundingClientRect();
    for (const row of table.querySelectorAll('tbody tr')) {
      const cells = [...row.children].filter((c) => (c as HTMLElement).offsetParent !== null);
      cells.forEach((c, i) => {
        const box = c.getBoundingClientRect();
        const size = Number.parseFloat(getComputedStyle(c).fontSize);
        if (size < 12) out.push(`#${id}: "${c.textContent}" at ${size} px`);
        if (!inside(box, own) || !inside(box, screen))
          out.push(`#${id}: "${c.textContent}" ${show(box)} leaves the table ${show(own)}`);
        for (const d of cells.slice(i + 1)) {
          if (!apart(box, d.getBoundingClientRect())) {
            out.push(`#${id}: "${c.textContent}" overlaps "${d.textContent}"`);
          }
        }
      });
    }
  }
  return out;
}
