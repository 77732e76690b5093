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
import { mkdir, readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSite, root, type Site, unavailable } from './chromium';

const shots = `${root}screenshots`;
const missing = unavailable();

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

  it('trains SGD against Frob-SAM on MNIST-S for two epochs: charts fill, loss falls', async () => {
    await page.selectOption('select[name=dataset]', 'mnist-s');
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
    await page.waitForSelector('#toy-status[data-diverged*=frob-sam]', { timeout: 30_000 });
    expect(await page.locator('#toy-status').textContent()).toContain('Diverged at lr 0.5');
    await page.fill('#toy-form input[name=lr]', '0.02');
    await page.locator('#toy-form input[name=lr]').dispatchEvent('change');
    await page.waitForSelector('#toy-status[data-state=done][data-diverged=""]', {
      timeout: 30_000,
    });
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
