import { stripVTControlCharacters } from 'node:util';
import Table from 'cli-table3';

/** Where the program writes; tests capture it, the binary uses the process streams. */
export interface ProgramOutput {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

/**
 * Colour only on a terminal and never with NO_COLOR set (https://no-color.org):
 * piped or redirected output carries no ANSI codes.
 */
export function colorAllowed(stream: { isTTY?: boolean }): boolean {
  return stream.isTTY === true && !process.env.NO_COLOR;
}

const writer =
  (stream: NodeJS.WriteStream) =>
  (text: string): void => {
    stream.write(colorAllowed(stream) ? text : stripVTControlCharacters(text));
  };

/** The process streams, with ANSI codes removed wherever colour is not allowed. */
export const processOutput: ProgramOutput = {
  out: writer(process.stdout),
  err: writer(process.stderr),
};

/** A cli-table3 table, uncoloured unless stdout allows colour. */
export function createTable(head: string[]): InstanceType<typeof Table> {
  return colorAllowed(process.stdout)
    ? new Table({ head })
    : new Table({ head, style: { head: [], border: [] } });
}

/** A number for a table: fixed for ordinary magnitudes, exponential for tiny or huge ones. */
export const fmt = (x: number): string =>
  !Number.isFinite(x)
    ? String(x)
    : Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3)
      ? x.toExponential(3)
      : x.toFixed(4);

/** Writes one JSON document to stdout, alone (the `--json` convention). */
export function printJson(output: ProgramOutput, value: unknown): void {
  output.out(`${JSON.stringify(value, null, 2)}\n`);
}
