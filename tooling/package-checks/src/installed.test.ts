import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { root } from './packages';
import { bareImports, packageOf, run } from './packed-project';

const { dir, readmes } = inject('packed');
const installed = (name: string) =>
  JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8'));

/**
 * What each library brings besides its peers, so a new dependency is a
 * decision. @usam/backend had the whole @tensorflow/tfjs (webgl, tfjs-data,
 * core-js, yargs, 310 MB with the optimizer) only for gradient registration.
 */
const DEPENDENCIES: Record<string, string[]> = {
  '@usam/backend': ['@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm'],
  '@usam/measures': ['ml-matrix', 'pure-rand', 'seedrandom'],
  '@usam/estimators': ['@usam/measures', 'ml-matrix'],
  '@usam/optimizer': ['@usam/measures'],
  '@usam/datasets': ['mnist', 'tar'],
  '@usam/models': [],
};

describe('the packed packages, installed from their tarballs', () => {
  const names = readmes.map((r) => r.name);

  it.each(names)('%s: release metadata (engines, LICENSE, resolved internal ranges)', (name) => {
    const m = installed(name);
    // ESM-only, so CommonJS users need require(esm): Node 20.19+ on 20.x, 22.12+ on 22.x
    // (also what the CLI's yargs 18 needs).
    expect(m.engines).toEqual({ node: '^20.19.0 || >=22.12.0' });
    expect(existsSync(join(dir, 'node_modules', name, 'LICENSE'))).toBe(true);
    for (const deps of [m.dependencies, m.peerDependencies]) {
      for (const [dep, range] of Object.entries<string>(deps ?? {})) {
        expect(range, dep).not.toMatch(/^workspace:/);
        if (dep.startsWith('@usam/')) expect(range, dep).toBe(`^${installed(dep).version}`);
      }
    }
  });

  it.each(Object.entries(DEPENDENCIES))('%s depends on exactly %j', (name, deps) => {
    expect(Object.keys(installed(name).dependencies ?? {}).sort()).toEqual([...deps].sort());
  });

  it('the minimal app (optimizer, measures, backend and their peers) installs no umbrella tfjs, webgl or tfjs-data', () => {
    const reached = closure([
      '@usam/optimizer',
      '@usam/measures',
      '@usam/backend',
      '@tensorflow/tfjs-core',
    ]);
    console.log(`minimal app's packages (${reached.length}): ${reached.join(', ')}`);
    expect(reached.filter((n) => n.startsWith('@tensorflow/'))).toEqual([
      '@tensorflow/tfjs-backend-cpu',
      '@tensorflow/tfjs-backend-wasm',
      '@tensorflow/tfjs-core',
    ]);
    for (const heavy of ['core-js', 'yargs']) expect(reached).not.toContain(heavy);
  });

  it("the packed CLI's `usam` command starts, and --version says the installed version", async () => {
    const usam = join(dir, 'node_modules/.bin/usam');
    const { stdout } = await run(usam, ['--help'], { cwd: dir });
    expect(stdout).toContain('reproduce');
    // Read from package.json when the CLI is built, so a release's version shows (not 0.0.0).
    const version = await run(usam, ['--version'], { cwd: dir });
    expect(version.stdout.trim()).toBe(installed('@usam/cli').version);
  });

  it('installed globally beside the libraries, the CLI loads one tfjs-core and prints no tfjs noise', async () => {
    // `npm install -g` of every tarball in one command puts each library at the global root
    // with its own peer tfjs-core; a CLI that imported them would load 7 copies ("Platform
    // node has already been set" 6 times). The CLI bundles them (docs/cli-install.md).
    const base = dirname(dir);
    const prefix = join(base, 'global');
    const tarballs = readdirSync(join(base, 'tarballs')).map((f) => join(base, 'tarballs', f));
    const npm = [
      'install',
      '-g',
      '--prefix',
      prefix,
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
    ];
    const install = await run('npm', [...npm, ...tarballs], { maxBuffer: 16 * 1024 * 1024 });
    expect(install.stderr).not.toMatch(/EBADENGINE/);
    const cli = join(prefix, 'lib/node_modules/@usam/cli');
    expect(tfjsCoreCopies(cli)).toEqual([join(cli, 'node_modules/@tensorflow/tfjs-core')]);
    const usam = join(prefix, 'bin/usam');
    const help = await run(usam, ['--help'], { cwd: base });
    expect(help.stderr).toBe('');
    const tiny = ['--dataset', 'mnist-s', '--subsample', '0.01', '--batch-size', '10'];
    const train = await run(
      usam,
      ['train', ...tiny, '--backend', 'cpu', '--epochs', '1', '--out', join(base, 'global-run')],
      { cwd: base },
    );
    expect(train.stderr).not.toMatch(/Platform node|running TensorFlow\.js in Node\.js/);
    expect(train.stderr).toContain('epoch 1/1: train loss');
  });

  it('the project install holds one tfjs-core', () => {
    expect(tfjsCoreCopies(dir)).toEqual([join(dir, 'node_modules/@tensorflow/tfjs-core')]);
  });

  it('ships the browser .wasm files inside @usam/backend', () => {
    for (const file of [
      'tfjs-backend-wasm.wasm',
      'tfjs-backend-wasm-simd.wasm',
      'tfjs-backend-wasm-threaded-simd.wasm',
    ]) {
      expect(existsSync(join(dir, 'node_modules/@usam/backend/dist', file)), file).toBe(true);
    }
  });

  it('subpath exports resolve under moduleResolution node10 too (typesVersions)', async () => {
    const check = join(dir, 'node10');
    mkdirSync(check, { recursive: true });
    writeFileSync(
      join(check, 'check.ts'),
      [
        "import { loadMnist } from '@usam/datasets/mnist';",
        "import { loadDataset } from '@usam/datasets/node';",
        "import { saveModel } from '@usam/models/node';",
        'export const used = [loadMnist, loadDataset, saveModel];',
      ].join('\n'),
    );
    const options = { strict: true, module: 'commonjs', moduleResolution: 'node10', noEmit: true };
    writeFileSync(
      join(check, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { ...options, skipLibCheck: true, types: [] } }),
    );
    await expect(typecheck(check)).resolves.toBe('');
  });
});

/**
 * The installed packages that `names` need: dependencies and installed peers,
 * resolved as Node does (nested node_modules first, then the project's).
 */
function closure(names: string[]): string[] {
  const seen = new Map<string, string>();
  const visit = (name: string, from: string) => {
    for (let base = from; base.startsWith(dir); base = dirname(base)) {
      const at = join(base, 'node_modules', name);
      if (!existsSync(join(at, 'package.json'))) continue;
      if (seen.has(at)) return;
      seen.set(at, name);
      const m = JSON.parse(readFileSync(join(at, 'package.json'), 'utf8'));
      const deps = { ...m.peerDependencies, ...m.optionalDependencies, ...m.dependencies };
      for (const dep of Object.keys(deps)) visit(dep, at);
      return;
    } // not found: an optional peer that is not installed
  };
  for (const name of names) visit(name, dir);
  return [...new Set(seen.values())].sort();
}

/** Every installed copy of tfjs-core under `folder`. */
function tfjsCoreCopies(folder: string): string[] {
  const found: string[] = [];
  const walk = (modules: string) => {
    if (!existsSync(modules)) return;
    for (const entry of readdirSync(modules)) {
      const names = entry.startsWith('@')
        ? readdirSync(join(modules, entry)).map((n) => `${entry}/${n}`)
        : [entry];
      for (const name of names) {
        const at = join(modules, name);
        if (name === '@tensorflow/tfjs-core') found.push(at);
        walk(join(at, 'node_modules'));
      }
    }
  };
  walk(join(folder, 'node_modules'));
  return found.sort();
}

/** Runs this repository's tsc on a project; the errors, or '' when there are none. */
async function typecheck(project: string): Promise<string> {
  try {
    await run(join(root, 'node_modules/.bin/tsc'), ['-p', project], { cwd: project });
    return '';
  } catch (error) {
    return (error as { stdout?: string }).stdout || String(error);
  }
}

describe('README examples, as a stranger runs them', () => {
  const withCode = readmes.filter((r) => r.examples.length > 0);
  // One pair of files per example: backend-1.mjs and backend-1.ts, …
  const examples = withCode.flatMap((r) =>
    r.examples.map((example, i) => ({ name: `${r.name.split('/')[1]}-${i + 1}`, ...example })),
  );
  const out = join(dir, 'readmes');
  beforeAll(() => {
    mkdirSync(out, { recursive: true });
    for (const { name, js, ts } of examples) {
      writeFileSync(join(out, `${name}.mjs`), js);
      writeFileSync(join(out, `${name}.ts`), ts);
    }
  });

  it('every published package has a README with an install line', () => {
    for (const readme of readmes) expect(readme.install, readme.name).toContain(readme.name);
    expect(withCode.length).toBeGreaterThanOrEqual(6);
  });

  it.each(withCode.map((r) => [r.name, r] as const))(
    '%s: the install line installs every package the examples import',
    (_name, readme) => {
      const code = readme.examples.flatMap((e) => [e.js, e.ts]).join('\n');
      const imported = bareImports(code).map(packageOf);
      expect(imported.filter((p) => !readme.install.includes(p))).toEqual([]);
    },
  );

  it('a TypeScript form is its JavaScript program plus types (the same emitted code)', () => {
    const typed = examples.filter((e) => e.ts !== e.js);
    expect(typed.length).toBeGreaterThan(0);
    const emit = (code: string) =>
      ts.transpileModule(code, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText;
    for (const { name, js, ts: typedForm } of typed) expect(emit(typedForm), name).toBe(emit(js));
  });

  // As a TypeScript user's strict project would check them, without skipLibCheck: our
  // examples and declarations must pass; tfjs-layers 4.22's declarations do not, which is
  // why the READMEs tell TypeScript users to set skipLibCheck.
  it('the TypeScript forms type-check under strict (module nodenext); only tfjs-layers needs skipLibCheck', async () => {
    const compilerOptions = {
      strict: true,
      module: 'nodenext',
      moduleResolution: 'nodenext',
      target: 'es2022',
      noEmit: true,
    };
    writeFileSync(
      join(out, 'tsconfig.json'),
      JSON.stringify({ compilerOptions, include: ['*.ts'] }),
    );
    const errors = (await typecheck(out)).split('\n').filter((l) => /\): error TS/.test(l));
    const files = [...new Set(errors.map((l) => l.slice(0, l.indexOf('('))))];
    expect(errors.filter((l) => !l.includes('node_modules/'))).toEqual([]);
    expect(files.filter((f) => !f.includes('node_modules/@tensorflow/tfjs-layers/'))).toEqual([]);
    // When tfjs-layers' declarations pass, the READMEs' skipLibCheck advice goes.
    expect(
      files.length,
      'tfjs-layers now passes: drop skipLibCheck from the READMEs',
    ).toBeGreaterThan(0);
  });

  // Plain Node ESM on the README's text, one process per example, as a reader runs it.
  it.each(examples.map((e) => e.name))('%s.mjs runs under plain Node', async (name) => {
    await expect(
      run('node', [join(out, `${name}.mjs`)], { cwd: out, timeout: 240_000 }).then(() => 'ok'),
    ).resolves.toBe('ok');
  });
});
