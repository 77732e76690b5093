import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { TestProject } from 'vitest/node';
import { installPackedProject, type PackedProject } from './packed-project';

declare module 'vitest' {
  export interface ProvidedContext {
    packed: PackedProject;
  }
}

/** Packs and installs once for every test file that needs the tarballs. */
export default async function setup(project: TestProject) {
  const started = Date.now();
  const packed = await installPackedProject();
  console.log(
    `packed and installed the tarballs in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  project.provide('packed', packed);
  return () => rmSync(dirname(packed.dir), { recursive: true, force: true });
}
