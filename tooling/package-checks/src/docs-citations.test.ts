import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './packages';

/**
 * Design notes live in the repository's docs/ (docs/README.md), and comments cite them by
 * path. The specification the early code cited is not in the repository, so a citation of
 * it is a dead end for whoever clones it; so is a docs/ path that does not exist.
 */

/** Every tracked text file (git's list, so build outputs and scratch files are not read). */
function trackedTextFiles(): { path: string; text: string }[] {
  const listed = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' });
  return listed
    .split('\0')
    .filter((path) => path !== '' && path !== 'pnpm-lock.yaml' && existsSync(join(root, path)))
    .map((path) => ({ path, text: readFileSync(join(root, path), 'utf8') }))
    .filter(({ text }) => !text.includes('\0'));
}

// Built from parts so that this file does not cite what it forbids.
const SPEC_CITATION = new RegExp(`\\b${'SP'}EC\\b`);
// docs/<name>.md anywhere (also as ../../docs/<name>.md in a package README).
const DOCS_PATH = /(?<![\w.-])docs\/([\w./-]+\.md)\b/g;
// A relative Markdown link target: [text](target), not a URL or an anchor.
const MARKDOWN_LINK = /\]\(([^)\s#]+)(?:#[^)]*)?\)/g;

describe('design-note citations', () => {
  const files = trackedTextFiles();

  it('reads the tracked files', () => {
    // A wrong root or a missing git would make every check below pass vacuously.
    expect(files.some((f) => f.path === 'packages/optimizer/src/index.ts')).toBe(true);
    expect(files.some((f) => f.path === 'docs/README.md')).toBe(true);
  });

  it('cites no specification outside the repository', () => {
    const offenders = files.flatMap(({ path, text }) =>
      text
        .split('\n')
        .flatMap((line, i) =>
          SPEC_CITATION.test(line) ? [`${path}:${i + 1}: ${line.trim()}`] : [],
        ),
    );
    expect(offenders).toEqual([]);
  });

  it('cites only docs/*.md files that exist', () => {
    const cited = files.flatMap(({ path, text }) =>
      [...text.matchAll(DOCS_PATH)].map((m) => ({ path, doc: `docs/${m[1]}` })),
    );
    expect(cited.length).toBeGreaterThan(50);
    const missing = cited.filter(({ doc }) => !existsSync(join(root, doc)));
    expect(missing.map(({ path, doc }) => `${path} cites ${doc}`)).toEqual([]);
  });

  it('links from docs/ only to files that exist', () => {
    const notes = files.filter(({ path }) => path.startsWith('docs/') && path.endsWith('.md'));
    expect(notes.length).toBeGreaterThan(10);
    const broken = notes.flatMap(({ path, text }) =>
      [...text.matchAll(MARKDOWN_LINK)]
        .map((m) => m[1]!)
        .filter((target) => !/^[a-z]+:/.test(target))
        .filter((target) => !existsSync(join(root, dirname(path), target)))
        .map((target) => `${path} links to ${target}`),
    );
    expect(broken).toEqual([]);
  });
});
