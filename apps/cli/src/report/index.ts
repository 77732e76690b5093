import { join } from 'node:path';
import { writeAtomic } from '../reproduce/results';
import { type Claim, checkClaims } from './claims';
import { collectResults, type RunResult } from './collect';
import { resultsCsv } from './csv';
import {
  datasetCurvesSpec,
  figure2Data,
  figure2Spec,
  renderSvg,
  runCurvesSpec,
  svgToPng,
} from './figures';
import { reportHtml } from './html';
import { type AccuracyTable, accuracyTable, tableMarkdown } from './tables';

export interface ReportSummary {
  /** Files written, relative to the output directory. */
  readonly files: string[];
  readonly runs: number;
  readonly done: number;
  readonly tables: Partial<Record<'table2' | 'table3', AccuracyTable>>;
  readonly figure2?: ReturnType<typeof figure2Data>;
  /** The paper's claims, checked (also in claims.json and report.html). */
  readonly claims: readonly Claim[];
  /** Runs that diverged (shown as such, never averaged in). */
  readonly diverged: readonly RunResult[];
}

/**
 * `usam report DIR...`: reads the plans and run directories of one or more
 * `usam reproduce` output directories (shards merge) and writes into `out`:
 * results.csv, claims.json (the paper's claims, checked), table2.md, table3.md,
 * figure2.svg, figure2.png, curves/<run>.svg and report.html.
 */
export async function buildReport(dirs: readonly string[], out: string): Promise<ReportSummary> {
  const { plan, results } = await collectResults(dirs);
  const files: string[] = [];
  const write = async (name: string, data: string | Uint8Array) => {
    await writeAtomic(join(out, name), data);
    files.push(name);
  };
  await write('results.csv', resultsCsv(results));
  const claims = checkClaims(results);
  await write('claims.json', `${JSON.stringify(claims, null, 2)}\n`);

  const of = (experiment: string) => results.filter((r) => r.run.experiment === experiment);
  const tables: { id: 'table2' | 'table3'; table: AccuracyTable }[] = [];
  for (const id of ['table2', 'table3'] as const) {
    if (of(id).length === 0) continue;
    const table = accuracyTable(of(id));
    tables.push({ id, table });
    await write(`${id}.md`, tableMarkdown(table, plan.profile === 'paper'));
  }

  let figure2: { svg: string; data: ReturnType<typeof figure2Data> } | undefined;
  if (of('figure2').length > 0) {
    const data = figure2Data(of('figure2'));
    const svg = await renderSvg(figure2Spec(data));
    figure2 = { svg, data };
    await write('figure2.svg', svg);
    await write('figure2.png', svgToPng(svg));
  }

  for (const result of results) {
    if (result.epochs.length === 0) continue;
    await write(`curves/${result.run.id}.svg`, await renderSvg(runCurvesSpec(result)));
  }
  const curves: { dataset: string; svg: string }[] = [];
  const tableRuns = results.filter((r) => r.run.experiment !== 'figure2' && r.epochs.length > 0);
  for (const dataset of new Set(tableRuns.map((r) => r.run.dataset))) {
    const runs: RunResult[] = tableRuns.filter((r) => r.run.dataset === dataset);
    curves.push({ dataset, svg: await renderSvg(datasetCurvesSpec(dataset, runs)) });
  }

  await write(
    'report.html',
    reportHtml({
      plan,
      results,
      tables,
      figure2: figure2 && { svg: figure2.svg, accuracy: figure2.data.accuracy },
      curves,
      claims,
      sources: dirs,
      generatedAt: new Date().toISOString(),
    }),
  );
  return {
    files,
    runs: results.length,
    done: results.filter((r) => r.status === 'done').length,
    tables: Object.fromEntries(tables.map(({ id, table }) => [id, table])),
    figure2: figure2?.data,
    claims,
    diverged: results.filter((r) => r.status === 'diverged'),
  };
}
