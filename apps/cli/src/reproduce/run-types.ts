// What one run's training reports, shared by runs.ts (in process) and pool.ts
// (worker processes) without either importing the other's types.
import type { EpochMetrics, StartInfo, StepInfo } from '../train/index';
import type { Divergence } from '../train/run-dir';

export type RunOutcome =
  | 'trained'
  | 'resumed'
  | 'restarted'
  | 'skipped'
  | 'busy'
  | 'diverged'
  | 'failed';

/** One run's training, wherever it happens: what it reports back. */
export interface RunHooks {
  onStart?(info: StartInfo): void;
  onStep?(info: StepInfo): void;
  onEpoch?(metrics: EpochMetrics): void;
  onPhase?(phase: 'evaluate' | 'hessian' | 'checkpoint'): void;
  /** A note on the way (e.g. why a checkpoint could not be resumed). */
  onNote?(note: string): void;
  /** The process that trains the run (a worker's, with `jobs` > 1). */
  onWorker?(pid: number): void;
}

/** What training one run ended in (a run trained to its end, or stopped on divergence). */
export interface TrainedRun {
  readonly outcome: Extract<RunOutcome, 'trained' | 'resumed' | 'restarted' | 'diverged'>;
  readonly divergence?: Divergence;
}
