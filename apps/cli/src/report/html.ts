import type { Plan, PlannedRun, RunSettings } from '../reproduce/plan';
import { METHOD_LABELS } from '../reproduce/plan';
import { TRAIN_OPTION_NAMES } from '../train/index';
import type { Claim } from './claims';
import type { RunResult } from './collect';
import type { Figure2Accuracy } from './figures';
import { PAPER_RESULTS } from './paper-results';
import { type AccuracyTable, columnTitle, formatMeanSe } from './tables';

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

export interface ReportPage {
  readonly plan: Plan;
  readonly results: readonly RunResult[];
  readonly tables: { readonly id: 'table2' | 'table3'; readonly table: AccuracyTable }[];
  readonly figure2?: { readonly svg: string; readonly accuracy: readonly Figure2Accuracy[] };
  /** Per-dataset training-curve figures (SVG) of the table runs. */
  readonly curves: { readonly dataset: string; readonly svg: string }[];
  /** The paper's claims, checked. */
  readonly claims?: readonly Claim[];
  readonly sources: readonly string[];
  readonly generatedAt: string;
}

const CAPTIONS = {
  table2: 'Table 2: final test accuracy (%) on the full and 10% sub-sampled datasets.',
  table3: 'Table 3: final test accuracy (%) when 20% of the training labels are corrupted.',
};

function tableHtml(id: 'table2' | 'table3', table: AccuracyTable, withPaper: boolean): string {
  const head = table.datasets.map((d) => `<th>${escapeHtml(columnTitle(d))}</th>`).join('');
  const body = table.methods
    .map((method) => {
      const cells = table.datasets.map((dataset) => {
        const cell = table.cells[method]![dataset];
        let text = cell ? escapeHtml(formatMeanSe(cell)) : '—';
        if (cell?.bold) text = `<strong>${text}</strong>`;
        if (cell && cell.n === 0) text = '—';
        if (cell && cell.n < cell.planned) {
          const diverged = cell.diverged ? `, ${cell.diverged} diverged` : '';
          text += ` <small>(n = ${cell.n}/${cell.planned}${diverged})</small>`;
        }
        const published = withPaper ? PAPER_RESULTS[dataset]?.[method] : undefined;
        if (published) text += `<br><small class="paper">paper ${escapeHtml(published)}</small>`;
        return `<td>${text}</td>`;
      });
      return `<tr><th>${METHOD_LABELS[method]}</th>${cells.join('')}</tr>`;
    })
    .join('\n');
  return `<p class="caption">${CAPTIONS[id]} Mean ± standard error over seeds; entries within two standard errors of the best in bold.</p>
<table id="${id}">
<thead><tr><th></th>${head}</tr></thead>
<tbody>
${body}
</tbody>
</table>`;
}

// Every train option a run sets, but those shown as their own columns.
const SETTING_KEYS = TRAIN_OPTION_NAMES.filter(
  (k) => !['dataset', 'optimizer', 'seed'].includes(k),
) as (keyof RunSettings)[];

/** One row per experiment, dataset and method setting (seeds folded into one column). */
function settingsHtml(runs: readonly PlannedRun[]): string {
  const groups = new Map<string, { run: PlannedRun; seeds: number[] }>();
  for (const run of runs) {
    const { seed: _seed, ...rest } = run.settings;
    const key = `${run.experiment} ${JSON.stringify(rest)}`;
    const group = groups.get(key) ?? { run, seeds: [] };
    group.seeds.push(run.seed);
    groups.set(key, group);
  }
  const keys = SETTING_KEYS.filter((k) => runs.some((r) => r.settings[k] !== undefined));
  const rows = [...groups.values()].map(({ run, seeds }) => {
    const values = keys.map((k) => {
      const v = run.settings[k];
      return `<td>${v === undefined ? '' : escapeHtml(Array.isArray(v) ? v.join(', ') : String(v))}</td>`;
    });
    return `<tr><td>${run.experiment}</td><td>${escapeHtml(run.dataset)}</td><td>${METHOD_LABELS[run.method]}</td><td>${seeds.join(', ')}</td>${values.join('')}</tr>`;
  });
  return `<p class="caption">Every run's settings (the options of its <code>usam train</code> run; λ in this project's units, docs/lambda.md).</p>
<table id="settings">
<thead><tr><th>experiment</th><th>dataset</th><th>method</th><th>seeds</th>${keys.map((k) => `<th>${k}</th>`).join('')}</tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>`;
}

const VERDICT_CLASS = { holds: 'holds', 'does not hold': 'fails', inconclusive: 'unsure' } as const;

/** The claims with their verdicts, numbers and detail tables. */
function claimsHtml(claims: readonly Claim[]): string {
  const items = claims.map((c) => {
    const detail =
      c.rows && c.header
        ? `<table class="detail"><thead><tr>${c.header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${c.rows
            .map((r) => `<tr>${r.map((v) => `<td>${escapeHtml(v)}</td>`).join('')}</tr>`)
            .join('')}</tbody></table>`
        : '';
    return `<tr data-claim="${escapeHtml(c.id)}"><td class="${VERDICT_CLASS[c.verdict]}">${c.verdict}</td><td style="text-align:left">${escapeHtml(c.claim)}<br><small>${escapeHtml(c.evidence)}</small>${detail}</td></tr>`;
  });
  return `<section id="claims"><h2>The paper's claims, checked</h2>
<p class="caption">Verdicts: two means differ when their difference exceeds twice its standard error (z &gt; 2, over seeds); diverged runs are never averaged in.</p>
<table><thead><tr><th>verdict</th><th style="text-align:left">claim and our numbers</th></tr></thead>
<tbody>
${items.join('\n')}
</tbody></table></section>`;
}

/** Runs that diverged: where, and the loss there. */
function divergedHtml(results: readonly RunResult[]): string {
  const diverged = results.filter((r) => r.status === 'diverged');
  if (diverged.length === 0) return '';
  const rows = diverged.map(
    (r) =>
      `<tr><td style="text-align:left">${escapeHtml(r.run.id)}</td><td>${r.divergence!.epoch}</td><td>${r.divergence!.step}</td><td>${escapeHtml(String(r.divergence!.loss))}</td></tr>`,
  );
  return `<section id="diverged"><h2>Diverged runs</h2>
<p class="caption">Stopped at the first step whose minibatch loss was not finite or above 10·ln 10; shown here, never averaged into a table or figure.</p>
<table><thead><tr><th>run</th><th>epoch</th><th>step</th><th>loss</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table></section>`;
}

/** `report.html`: one self-contained page (inline SVG and CSS, no scripts, no network). */
export function reportHtml(page: ReportPage): string {
  const { plan, results } = page;
  const done = results.filter((r) => r.status === 'done').length;
  const withPaper = plan.profile === 'paper';
  const figure2 = page.figure2
    ? `<section id="figure2"><h2>Figure 2</h2>
<figure>${page.figure2.svg}
<figcaption>‖H‖_F² (exact Hessian-vector products) while training the 6×128 MLP on MNIST with Frob-SAM (ρ = 0.01, n = 2) for each λ. Final test accuracy: ${page.figure2.accuracy
        .map((a) => `λ = ${a.lambda}: ${escapeHtml(formatMeanSe(a))}%`)
        .join('; ')}.</figcaption></figure></section>`
    : '';
  const tables = page.tables
    .map(
      ({ id, table }) => `<section><h2>${id === 'table2' ? 'Table 2' : 'Table 3'}</h2>
${tableHtml(id, table, withPaper)}</section>`,
    )
    .join('\n');
  const curves = page.curves
    .map(
      ({ dataset, svg }) =>
        `<figure class="curves" data-dataset="${escapeHtml(dataset)}">${svg}</figure>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>usam reproduce: ${plan.profile} profile</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child { text-align: left; }
p.caption { margin-bottom: 0.2em; }
td { white-space: nowrap; }
small.paper { color: #666; }
figure { margin: 1em 0; }
figure svg { max-width: 100%; height: auto; }
td.holds { color: #1a7f37; font-weight: bold; }
td.fails { color: #cf222e; font-weight: bold; }
td.unsure { color: #9a6700; font-weight: bold; }
table.detail { font-size: 0.85em; margin: 0.4em 0; }
</style>
</head>
<body>
<h1>A Universal Class of Sharpness-Aware Minimization Algorithms: reproduction</h1>
<p>Profile <strong>${plan.profile}</strong>: ${done} of ${results.length} runs finished. Results from ${page.sources
    .map((s) => `<code>${escapeHtml(s)}</code>`)
    .join(
      ', ',
    )}; built ${escapeHtml(page.generatedAt)}.${withPaper ? " The paper's published numbers are shown under ours." : ''}</p>
${page.claims && page.claims.length > 0 ? claimsHtml(page.claims) : ''}
${divergedHtml(results)}
${figure2}
${tables}
${curves ? `<section id="curves"><h2>Training curves</h2>\n${curves}</section>` : ''}
<section><h2>Settings</h2>
${settingsHtml(plan.runs)}
</section>
</body>
</html>
`;
}
