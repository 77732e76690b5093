import { Command } from 'commander';
import type { ProgramOutput } from '../cli/output';
import { buildReport } from './index';

/** `usam report DIR...`. */
export function reportCommand(output: ProgramOutput): Command {
  return new Command('report')
    .description(
      'rebuild results.csv, table2.md, table3.md, figure2.svg/png, curves/ and report.html from usam reproduce output directories (shards merge)',
    )
    .argument('<dirs...>', 'output directories of usam reproduce (e.g. one per shard)')
    .option('-o, --out <dir>', 'where to write (default: the first directory)')
    .action(async (dirs: string[], opts: { out?: string }) => {
      const out = opts.out ?? dirs[0]!;
      const summary = await buildReport(dirs, out);
      output.out(
        `${summary.done} of ${summary.runs} runs finished; wrote ${summary.files.length} files in ${out}: report.html, results.csv, …\n`,
      );
    });
}
