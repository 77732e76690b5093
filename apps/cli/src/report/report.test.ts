import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { createPlan, FIGURE2_LAMBDAS, type PlannedRun } from '../reproduce/plan';
import { writePlan } from '../reproduce/runs';
import { CSV_COLUMNS } from './csv';
import { buildReport } from './index';
import { markBest, meanSe } from './tables';
import { writeRunDir } from './test-fixtures';

// Final test accuracies per method on MNIST (two seeds each), chosen so that the bold
// rule has one clear answer: best Frob 97.25 ± 0.25, so the bar is 96.75.
const ACCURACY: Record<string, [number, number]> = {
  'frob-sam': [0.97, 0.975], // 97.25, bold (best)
  'trace-sam': [0.968, 0.968], // 96.80, bold (0.45 ≤ 0.5 below)
  'det-sam': [0.96, 0.961], // 96.05, not bold
  ssam: [0.95, 0.951],
  asam: [0.95, 0.951],
  sam: [0.967, 0.967], // 96.70, not bold (0.55 > 0.5 below)
  sgd: [0.94, 0.941],
};

/** A tiny-profile output directory with every run finished (or only those `keep` selects). */
async function fixture(root: string, keep: (run: PlannedRun) => boolean = () => true) {
  const plan = createPlan('tiny');
  await writePlan(root, plan);
  for (const run of plan.runs.filter(keep)) {
    if (run.experiment === 'figure2') {
      // ‖H‖_F² falls over epochs; larger λ gives lower values; seeds differ slightly.
      const lambda = run.settings.lambda!;
      const epochs = [0, 1].map((e) => ({
        testAccuracy: 0.95,
        frobenius: (100 / (1 + 20 * lambda)) * 0.5 ** e * (1 + 0.02 * run.seed),
      }));
      await writeRunDir(root, run, epochs);
    } else {
      const accuracy = ACCURACY[run.method]![run.seed]!;
      await writeRunDir(root, run, [{ testAccuracy: accuracy - 0.01 }, { testAccuracy: accuracy }]);
    }
  }
  return plan;
}

describe('usam report', () => {
  it('marks the entries within two standard errors of the best', () => {
    const best = { mean: 97.25, standardError: 0.25, n: 2 };
    expect(
      markBest([
        best,
        { mean: 96.75, standardError: 9, n: 2 },
        { mean: 96.74, standardError: 0, n: 2 },
        undefined,
      ]),
    ).toEqual([true, true, false, false]);
    // One seed: no error bar, only the best is bold.
    expect(markBest([meanSe([0.9]), meanSe([0.8999])])).toEqual([true, false]);
    expect(meanSe([1, 2, 3])).toEqual({ mean: 2, standardError: Math.sqrt(1 / 3), n: 3 });
  });

  it('writes results.csv, table2/3.md, figure2.svg/png, curves and report.html from run directories', async () => {
    const root = await mkdtemp(join(tmpdir(), 'usam-report-'));
    const plan = await fixture(root);
    const summary = await buildReport([root], root);
    expect(summary.done).toBe(plan.runs.length);

    const rows = parseCsv(await readFile(join(root, 'results.csv'), 'utf8'), {
      columns: true,
    }) as Record<string, string>[];
    expect(Object.keys(rows[0]!)).toEqual([...CSV_COLUMNS]);
    expect(rows.map((r) => r.id).sort()).toEqual(plan.runs.map((r) => r.id).sort());
    const frob = rows.find((r) => r.id === 'table2-mnist-s-frob-sam-seed-1')!;
    expect(frob).toMatchObject({
      status: 'done',
      method: 'frob-sam',
      dataset: 'mnist-s',
      finalTestAccuracy: '0.975',
      epochsDone: '2',
    });
    expect(Number(frob.lambda)).toBe(plan.runs.find((r) => r.id === frob.id)!.settings.lambda);

    const table2 = await readFile(join(root, 'table2.md'), 'utf8');
    const line = (label: string) => table2.split('\n').find((l) => l.startsWith(`| ${label} `))!;
    expect(line('Frob')).toContain('**97.25 ± 0.25**');
    expect(line('Trace')).toContain('**96.80 ± 0.00**');
    expect(line('SAM')).toMatch(/\|\s+96\.70 ± 0\.00 \|/);
    expect(line('SAM')).not.toContain('**');
    expect(line('Det')).not.toContain('**');
    expect(table2).toMatch(/^\| +\| +MNIST-S \(embedded\) \|\n/);
    expect(await readFile(join(root, 'table3.md'), 'utf8')).toContain('MNIST-S-C (embedded)');

    const svg = await readFile(join(root, 'figure2.svg'), 'utf8');
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg.trimEnd()).toMatch(/<\/svg>$/);
    expect(svg).toContain('λ = 0 (test 95.0%)');
    expect(svg).toContain(`λ = ${FIGURE2_LAMBDAS.tiny[1]} (test 95.0%)`);
    expect((svg.match(/<path /g) ?? []).length).toBeGreaterThan(4); // bands, lines, points
    const png = await readFile(join(root, 'figure2.png'));
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(png.readUInt32BE(16)).toBeGreaterThan(500); // IHDR width at 2×
    // Figure 2's numbers: the larger λ's curve lies below λ = 0's, both fall.
    const top = FIGURE2_LAMBDAS.tiny[1]!;
    const at = (lambda: number, epoch: number) =>
      summary.figure2!.points.find((p) => p.lambda === lambda && p.epoch === epoch)!;
    expect(at(top, 2).mean).toBeLessThan(at(0, 2).mean);
    expect(at(0, 2).mean).toBeLessThan(at(0, 1).mean);
    expect(at(0, 1)).toMatchObject({ n: 2, mean: 100 * 1.01 });
    expect(at(0, 1).standardError).toBeCloseTo(1, 10); // values 100 and 102

    const curve = await readFile(join(root, 'curves', `${plan.runs[0]!.id}.svg`), 'utf8');
    expect(curve).toContain('<svg');

    const html = await readFile(join(root, 'report.html'), 'utf8');
    expect(html).toContain('<table id="table2">');
    expect(html).toContain('<table id="table3">');
    expect(html).toContain('<table id="settings">');
    expect(html).toContain('<strong>97.25 ± 0.25</strong>');
    expect(html).toMatch(/<section id="figure2">[\s\S]*<svg/);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/); // self-contained
  });

  it('merges shards: two directories give the report of one', async () => {
    const whole = await mkdtemp(join(tmpdir(), 'usam-report-'));
    const a = await mkdtemp(join(tmpdir(), 'usam-report-a-'));
    const b = await mkdtemp(join(tmpdir(), 'usam-report-b-'));
    await fixture(whole);
    await fixture(a, (run) => run.seed === 0);
    await fixture(b, (run) => run.seed === 1);
    const merged = await mkdtemp(join(tmpdir(), 'usam-report-merged-'));
    const one = await buildReport([whole], whole);
    const two = await buildReport([a, b], merged);
    expect(two.done).toBe(one.done);
    for (const file of ['table2.md', 'table3.md']) {
      expect(await readFile(join(merged, file), 'utf8')).toBe(
        await readFile(join(whole, file), 'utf8'),
      );
    }
    expect(two.figure2).toEqual(one.figure2);
  });

  it('reports unfinished runs as such and refuses directories of different profiles', async () => {
    const root = await mkdtemp(join(tmpdir(), 'usam-report-'));
    const plan = await fixture(root, (run) => !(run.method === 'sgd' && run.seed === 1));
    await writeRunDir(
      root,
      plan.runs.find((r) => r.id === 'table2-mnist-s-sgd-seed-1')!,
      [{ testAccuracy: 0.5 }],
      false,
    );
    await buildReport([root], root);
    const table2 = await readFile(join(root, 'table2.md'), 'utf8');
    // One of two seeds finished on MNIST-S: shown with its count; the unfinished run is not averaged in.
    expect(table2.split('\n').find((l) => l.startsWith('| SGD'))).toContain('94.00 (n = 1/2)');
    const csv = await readFile(join(root, 'results.csv'), 'utf8');
    expect(csv).toMatch(/table2-mnist-s-sgd-seed-1,table2,mnist-s,sgd,1,partial,/);
    expect(csv).toMatch(/table3-mnist-s-c-sgd-seed-1,table3,mnist-s-c,sgd,1,missing,/);

    const other = await mkdtemp(join(tmpdir(), 'usam-report-'));
    await writePlan(other, createPlan('quick'));
    await expect(buildReport([root, other], root)).rejects.toThrow(
      /is profile 'quick' but .* is 'tiny'/,
    );
    await expect(buildReport([await mkdtemp(join(tmpdir(), 'x-'))], root)).rejects.toThrow(
      /has no plan.json/,
    );
  });

  it("shows the paper's published numbers beside ours for the paper profile", async () => {
    const root = await mkdtemp(join(tmpdir(), 'usam-report-'));
    const plan = createPlan('paper');
    await writePlan(root, plan);
    for (const run of plan.runs.filter((r) => r.dataset === 'cifar10' && r.seed < 2)) {
      await writeRunDir(root, run, [{ testAccuracy: ACCURACY[run.method]![run.seed]! }]);
    }
    await buildReport([root], root);
    const table2 = await readFile(join(root, 'table2.md'), 'utf8');
    const frob = table2.split('\n').find((l) => l.startsWith('| Frob'))!;
    expect(frob).toContain('**97.25 ± 0.25** (n = 2/4) (paper 94.96 ± 0.05)');
    expect(frob).toContain('— (paper 77.16 ± 0.16)'); // CIFAR100: no run finished yet
    const html = await readFile(join(root, 'report.html'), 'utf8');
    expect(html).toContain('<small class="paper">paper 95.78 ± 0.05</small>');
  });
});
