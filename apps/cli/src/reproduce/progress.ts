import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import { colorAllowed, type ProgramOutput } from '../cli/output';
import { epochLine, type ProgressMode } from '../cli/progress';
import type { TrainHooks } from '../train/index';
import { METHOD_LABELS } from './plan';
import type { ShardProgress } from './runs';

/** Seconds as `1h02m`, `3m05s` or `42s`. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s >= 3600) {
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  }
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

const OUTCOMES = {
  trained: 'done',
  resumed: 'done (resumed)',
  restarted: 'done (started over)',
  skipped: 'already done, skipped',
  busy: 'being trained by another process, skipped',
  diverged: 'DIVERGED (stopped; reported as diverged, not averaged)',
  failed: 'FAILED',
} as const;

/** A run as the progress shows it: `table2 mnist-s SAM seed 1`. */
export function runLabel(p: ShardProgress): string {
  const { run } = p;
  const lambda = run.experiment === 'figure2' ? ` λ=${run.settings.lambda}` : '';
  return `${run.experiment} ${run.dataset} ${METHOD_LABELS[run.method]}${lambda} seed ${run.seed}`;
}

/** One progress line: which run, its state, the shard's elapsed time and ETA. */
export function formatProgress(p: ShardProgress): string {
  const state =
    p.outcome !== undefined
      ? `${OUTCOMES[p.outcome]}${p.error ? `: ${p.error}` : ''}`
      : p.epoch
        ? epochLine(p.epoch, p.run.settings.epochs)
        : (p.error ?? 'training');
  const eta = p.eta !== undefined ? `, ETA ${formatDuration(p.eta)}` : '';
  return `[${p.position}/${p.total}] ${runLabel(p)}: ${state} (${formatDuration(p.elapsed)} elapsed${eta})`;
}

/** Seconds between two plain progress lines within a run. */
const LINE_INTERVAL_S = 15;

/**
 * Live progress of a reproduce shard on stderr: on a terminal, a bar over the
 * shard's runs with the ETA and a bar per worker over its run's current epoch;
 * otherwise a line per epoch and per finished run, and one every 15 s in
 * between. `log` prints results (stdout) without tearing the bars.
 */
export function shardProgress(mode: ProgressMode, output: ProgramOutput) {
  let multi: MultiBar | undefined;
  let runsBar: SingleBar | undefined;
  const stepBars: SingleBar[] = [];
  let lastLine = performance.now();
  const bars = () => {
    if (mode !== 'bars' || multi) return;
    multi = new MultiBar(
      {
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: true,
        format: colorAllowed(process.stderr)
          ? '{label} {bar} {value}/{total} | {extra}'
          : '{label} [{bar}] {value}/{total} | {extra}',
      },
      Presets.shades_classic,
    );
    runsBar = multi.create(1, 0, { label: 'runs ', extra: '' });
  };
  const stepBar = (slot: number) => {
    bars();
    while (multi && stepBars.length <= slot) {
      stepBars.push(multi.create(1, 0, { label: 'steps', extra: '' }));
    }
    return stepBars[slot];
  };
  const hooks: Omit<TrainHooks, 'signal'> & {
    onProgress(p: ShardProgress): void;
    log(text: string): void;
    stop(): void;
  } = {
    onProgress(p) {
      const eta = p.eta !== undefined ? `ETA ${formatDuration(p.eta)}` : 'ETA …';
      if (mode === 'bars') {
        bars();
        runsBar?.setTotal(p.total);
        const running = p.active && p.active > 1 ? ` | ${p.active} running` : '';
        runsBar?.update(p.outcome ? p.position : p.position - 1, {
          extra: `${eta} | ${formatDuration(p.elapsed)}${running}`,
        });
        if (p.step) {
          const bar = stepBar(p.slot ?? 0);
          bar?.setTotal(p.step.steps);
          bar?.update(p.step.step, {
            extra: `${runLabel(p)}, epoch ${p.step.epoch}, loss ${p.step.loss.toFixed(4)}`,
          });
        }
        if (p.epoch || p.error || p.outcome === 'diverged' || p.outcome === 'failed') {
          multi?.log(`${formatProgress(p)}\n`);
        }
        return;
      }
      if (mode === 'none') return;
      const now = performance.now();
      if (p.outcome || p.epoch || p.error || now - lastLine >= LINE_INTERVAL_S * 1000) {
        lastLine = now;
        output.err(`${formatProgress(p)}\n`);
      }
    },
    log(text) {
      if (multi && process.stdout.isTTY) multi.log(text);
      else output.out(text);
    },
    stop() {
      // Draw what was logged since the last redraw before the bars go.
      multi?.update();
      multi?.stop();
      multi = undefined;
      stepBars.length = 0;
    },
  };
  return hooks;
}
