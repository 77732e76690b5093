import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, requireFreshBuild } from '../test-binary';
import type { EpochMetrics } from '../train/index';
import { trainProgress } from './progress';

const metrics = (epoch: number): EpochMetrics => ({
  epoch,
  trainLoss: 1 / epoch,
  trainAccuracy: 0.5,
  testLoss: 1 / epoch,
  testAccuracy: 0.5,
  learningRate: 0.05,
  seconds: 0.1,
  gradientEvaluations: 9,
  refusedSteps: 0,
});

describe('progress bars on a terminal', () => {
  it('write every epoch line, the last one included, before the bars are cleared', () => {
    let text = '';
    const terminal = {
      isTTY: true,
      columns: 120,
      write(chunk: string | Uint8Array) {
        text += String(chunk);
        return true;
      },
    };
    const progress = trainProgress('bars', terminal);
    progress.onStart({
      backend: 'cpu',
      epochs: 3,
      stepsPerEpoch: 9,
      epoch: 0,
      step: 0,
      resumed: false,
      parameters: 10,
      trainExamples: 86,
    });
    // A short run: the epochs end faster than the bars redraw (every 100 ms).
    for (const epoch of [1, 2, 3]) progress.onEpoch(metrics(epoch));
    progress.stop();
    const lines = stripVTControlCharacters(text);
    for (const epoch of [1, 2, 3]) expect(lines).toContain(`epoch ${epoch}/3: train loss`);
  });
});

// The real command under a pseudo-terminal (util-linux `script`), as a user sees it.
describe.runIf(existsSync('/usr/bin/script'))('usam train on a pseudo-terminal', () => {
  const out = mkdtempSync(join(tmpdir(), 'usam-tty-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("prints the last epoch's summary line", () => {
    requireFreshBuild();
    const args = [
      BIN,
      'train',
      ...['--dataset', 'mnist-s', '--subsample', '0.01', '--batch-size', '10'],
      ...['--lr', '0.05', '--backend', 'cpu', '--epochs', '2', '--out', join(out, 'run')],
    ];
    const command = [process.execPath, ...args].map((a) => `'${a}'`).join(' ');
    const shown = execFileSync('/usr/bin/script', ['-qec', command, '/dev/null'], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', USAM_DEBUG: '' },
    });
    const lines = stripVTControlCharacters(shown);
    expect(lines).toContain('epoch 1/2: train loss');
    expect(lines).toContain('epoch 2/2: train loss');
  });
});
