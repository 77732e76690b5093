import { METHOD_LABELS } from './plan';
import type { ShardProgress } from './runs';

/** Seconds as `1h02m`, `3m05s` or `42s`. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s >= 3600)
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** One progress line: which run, how far, the elapsed time and the ETA of the shard. */
export function formatProgress(p: ShardProgress): string {
  const { run } = p;
  const what = `${run.experiment} ${run.dataset} ${METHOD_LABELS[run.method]}${run.experiment === 'figure2' ? ` λ=${run.settings.lambda}` : ''} seed ${run.seed}`;
  const state =
    p.outcome !== undefined
      ? {
          trained: 'done',
          resumed: 'done (resumed)',
          skipped: 'already done, skipped',
          busy: 'running elsewhere, skipped',
        }[p.outcome]
      : `epoch ${p.epoch}/${run.settings.epochs}${p.testAccuracy !== undefined ? `, test ${(100 * p.testAccuracy).toFixed(1)}%` : ''}`;
  const eta = p.eta !== undefined ? `, ETA ${formatDuration(p.eta)}` : '';
  return `[${p.position}/${p.total}] ${what}: ${state} (${formatDuration(p.elapsed)} elapsed${eta})`;
}
