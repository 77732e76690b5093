import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveTrainOptions } from './options';
import {
  appendMetrics,
  type EpochMetrics,
  prepareRunDir,
  readMetrics,
  resumeMetrics,
} from './run-dir';

const roots: string[] = [];
const fresh = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'usam-run-dir-'));
  roots.push(dir);
  return dir;
};
afterAll(async () => {
  for (const dir of roots) await rm(dir, { recursive: true, force: true });
});

const line = (epoch: number, more: Partial<EpochMetrics> = {}): EpochMetrics => ({
  epoch,
  trainLoss: 1 / epoch,
  trainAccuracy: 0.5,
  testLoss: 1.5 / epoch,
  testAccuracy: 0.4,
  learningRate: 0.1,
  seconds: 2,
  gradientEvaluations: 18,
  refusedSteps: 0,
  ...more,
});
const text = (...epochs: number[]) => epochs.map((e) => `${JSON.stringify(line(e))}\n`).join('');

describe('prepareRunDir', () => {
  const options = (out: string, more = {}) =>
    resolveTrainOptions({ dataset: 'mnist', out, ...more });

  it('refuses a non-empty directory that holds no run, unless --force (which keeps other files)', async () => {
    const out = await fresh();
    // What a run directory without config.json looks like (or anything else a user keeps).
    await mkdir(join(out, 'checkpoint'));
    writeFileSync(join(out, 'checkpoint', 'progress.json'), '{}');
    writeFileSync(join(out, 'metrics.jsonl'), text(1, 2));
    writeFileSync(join(out, 'notes.txt'), 'mine');
    await expect(prepareRunDir(options(out))).rejects.toThrow(
      `--out ${out} is not empty (checkpoint, metrics.jsonl, notes.txt) and holds no complete run (no config.json); pass a new or empty directory, or --force to train there (replacing any run files in it).`,
    );
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8')).toBe(text(1, 2));
    expect(existsSync(join(out, 'checkpoint', 'progress.json'))).toBe(true);
    await expect(prepareRunDir(options(out, { force: true }))).resolves.toBeUndefined();
    expect(existsSync(join(out, 'metrics.jsonl'))).toBe(false);
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('accepts a new or an empty directory', async () => {
    const root = await fresh();
    await expect(prepareRunDir(options(join(root, 'new')))).resolves.toBeUndefined();
    await expect(prepareRunDir(options(root))).rejects.toThrow(/is not empty \(new\)/);
    await expect(prepareRunDir(options(join(root, 'new')))).resolves.toBeUndefined();
  });

  it('names the file and field of a config.json that does not check on --resume', async () => {
    const out = await fresh();
    await writeFile(join(out, 'config.json'), '{"versions": {}');
    await expect(prepareRunDir(options(out, { resume: true }))).rejects.toThrow(
      `${join(out, 'config.json')} is not valid JSON`,
    );
    await writeFile(join(out, 'config.json'), '{"versions": {}}');
    await expect(prepareRunDir(options(out, { resume: true }))).rejects.toThrow(
      `${join(out, 'config.json')}: field 'options' is missing;`,
    );
  });
});

describe('metrics.jsonl on resume: history is never rewritten', () => {
  it('a non-UTF-8 byte in line 1 is refused, naming the line; the file is untouched', async () => {
    const out = await fresh();
    const bytes = Buffer.from(text(1, 2));
    const bad = Buffer.concat([bytes.subarray(0, 3), Buffer.from([0xff]), bytes.subarray(3)]);
    writeFileSync(join(out, 'metrics.jsonl'), bad);
    await expect(resumeMetrics(out, 2)).rejects.toThrow(
      `${join(out, 'metrics.jsonl')} line 1 is not valid UTF-8 text; restore the file from a copy, or start the run over with usam train --force.`,
    );
    expect(readFileSync(join(out, 'metrics.jsonl')).equals(bad)).toBe(true);
    await expect(readMetrics(out)).rejects.toThrow('line 1 is not valid UTF-8');
  });

  it('a line cut short at an epoch the checkpoint has completed is refused, not dropped', async () => {
    const out = await fresh();
    const cut = text(1, 2).slice(0, -20);
    writeFileSync(join(out, 'metrics.jsonl'), cut);
    await expect(resumeMetrics(out, 2)).rejects.toThrow(
      'line 2 is cut short, but the checkpoint has completed 2; the missing epochs',
    );
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8')).toBe(cut);
    await expect(resumeMetrics(out, 3)).rejects.toThrow('line 2 is cut short');
  });

  it('a last line whole but for its newline is kept (completed)', async () => {
    const out = await fresh();
    writeFileSync(join(out, 'metrics.jsonl'), text(1, 2).slice(0, -1));
    expect((await resumeMetrics(out, 2)).map((m) => m.epoch)).toEqual([1, 2]);
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8')).toBe(text(1, 2));
  });

  it('lines after the checkpoint are cut off the end; the lines before stay byte for byte', async () => {
    const out = await fresh();
    const kept = text(1, 2);
    writeFileSync(join(out, 'metrics.jsonl'), `${kept}${text(3)}{"epoch": 4, "trainL`);
    expect((await resumeMetrics(out, 2)).map((m) => m.epoch)).toEqual([1, 2]);
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8')).toBe(kept);
    expect(await resumeMetrics(out, 0)).toEqual([]);
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8')).toBe('');
  });

  it.each([
    ['not JSON', (t: string) => t.replace('"epoch":1', '"epoch":1,,'), 'line 1 is not valid JSON'],
    [
      'a field of the wrong type',
      (t: string) => t.replace('"testAccuracy":0.4', '"testAccuracy":"x"'),
      "line 1: field 'testAccuracy' must be number",
    ],
    [
      'a missing field',
      (t: string) => t.replace('"epoch":1,', ''),
      "line 1: field 'epoch' is missing",
    ],
    [
      'epochs out of order',
      (t: string) => t.replace('"epoch":1,', '"epoch":2,'),
      "line 1: field 'epoch' is 2, expected 1",
    ],
  ])('a line with %s is refused, naming file, line and field', async (_, edit, message) => {
    const out = await fresh();
    const bad = edit(text(1, 2));
    writeFileSync(join(out, 'metrics.jsonl'), bad);
    await expect(resumeMetrics(out, 2)).rejects.toThrow(`${join(out, 'metrics.jsonl')} ${message}`);
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8')).toBe(bad);
  });

  it('NaN and ±∞ losses are kept apart (JSON null would lose which)', async () => {
    const out = await fresh();
    writeFileSync(join(out, 'metrics.jsonl'), '');
    await appendMetrics(
      out,
      line(1, { trainLoss: Number.NaN, testLoss: Number.POSITIVE_INFINITY }),
    );
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8')).toContain(
      '"trainLoss":"NaN","trainAccuracy":0.5,"testLoss":"Infinity"',
    );
    const [read] = await readMetrics(out);
    expect(read!.trainLoss).toBeNaN();
    expect(read!.testLoss).toBe(Number.POSITIVE_INFINITY);
  });
});
