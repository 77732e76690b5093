import type { Command } from 'commander';
import type { ProgramOutput } from '../program';
import { buildReport } from './index';

/** `usam report DIR...`, added to `program`. */
export function addReportCommand(program: Command, output: ProgramOutput): void {
  program
    .command('report')
    .description(
      'rebuild results.csv, tables, figures and report.html from usam reproduce output directories (shards merge)',
    )
    .argument('<dirs...>', 'output directories of usam reproduce (e.g. one per shard)')
    .option('-o, --out <dir>', 'where to write (default: the first directory)')
    .action(async (dirs: string[], opts: { out?: string }) => {
      const out = opts.out ?? dirs[0]!;
      const summary = await buildReport(dirs, out);
      output.out(
        `${summary.done} of ${summary.runs} runs finished; wrote ${summary.files.length} files in ${out} (report.html, results.csv, …).\n`,
      );
    });
}
