import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { EpochMetrics, StartInfo, StepInfo, TrainHooks } from '../train/index';
import { colorAllowed } from './output';

/** How progress is shown: bars on a terminal, periodic lines otherwise, or nothing (`--quiet`). */
export type ProgressMode = 'bars' | 'lines' | 'none';

/** Bars when stderr (where progress goes, keeping stdout for results) is a terminal. */
export const progressMode = (quiet: boolean): ProgressMode =>
  quiet ? 'none' : process.stderr.isTTY ? 'bars' : 'lines';

/** Seconds between two plain progress lines. */
const LINE_INTERVAL_S = 10;

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** One epoch's line, as both modes print it. */
export function epochLine(m: EpochMetrics, epochs: number): string {
  const hessian = Object.entries(m.hessian ?? {})
    .map(([k, v]) => ` | ${k} ${v.estimate.toPrecision(4)} ± ${v.standardError.toPrecision(2)}`)
    .join('');
  return (
    `epoch ${m.epoch}/${epochs}: train loss ${m.trainLoss.toFixed(4)} acc ${pct(m.trainAccuracy)}` +
    ` | test loss ${m.testLoss.toFixed(4)} acc ${pct(m.testAccuracy)} | lr ${m.learningRate.toPrecision(3)}` +
    ` | ${m.seconds.toFixed(1)} s${hessian}`
  );
}

/** Where progress is drawn: stderr, or in tests any stream that says it is a terminal. */
export type ProgressStream = Pick<NodeJS.WriteStream, 'write' | 'isTTY' | 'columns'>;

/** Training progress as hooks for `train`, drawn on `stream`. `stop()` clears the bars. */
export function trainProgress(
  mode: ProgressMode,
  stream: ProgressStream = process.stderr,
): Required<Pick<TrainHooks, 'onStart' | 'onStep' | 'onEpoch' | 'onPhase'>> & { stop(): void } {
  const write = (text: string) => {
    stream.write(text);
  };
  let epochs = 0;
  let lastLine = 0;
  let multi: MultiBar | undefined;
  let epochBar: SingleBar | undefined;
  let stepBar: SingleBar | undefined;
  const stop = () => {
    // MultiBar.log() only buffers; the buffer is written on the next redraw, which stop()
    // never does, so the last epoch's line would be lost: redraw once, then clear.
    multi?.update();
    multi?.stop();
    multi = undefined;
  };
  if (mode === 'none') {
    return { onStart() {}, onStep() {}, onEpoch() {}, onPhase() {}, stop };
  }
  return {
    onStart(info: StartInfo) {
      epochs = info.epochs;
      const where = info.resumed
        ? `resuming at epoch ${info.epoch + 1}, step ${info.step}`
        : 'starting';
      write(
        `usam train: ${where} on ${info.backend}; ${info.trainExamples} training examples, ${info.parameters} parameters, ${info.stepsPerEpoch} steps per epoch\n`,
      );
      if (mode !== 'bars') return;
      multi = new MultiBar(
        {
          stream: stream as NodeJS.WriteStream,
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 50,
          format: colorAllowed(stream)
            ? '{label} {bar} {value}/{total} | ETA {eta_formatted} {extra}'
            : '{label} [{bar}] {value}/{total} | ETA {eta_formatted} {extra}',
        },
        Presets.shades_classic,
      );
      epochBar = multi.create(info.epochs, info.epoch, { label: 'epochs', extra: '' });
      stepBar = multi.create(info.stepsPerEpoch, info.step, {
        label: `epoch ${info.epoch + 1}`.padEnd(6),
        extra: '',
      });
    },
    onStep(s: StepInfo) {
      if (mode === 'bars') {
        stepBar?.update(s.step, {
          label: `epoch ${s.epoch}`,
          extra: `| loss ${s.loss.toFixed(4)}`,
        });
        return;
      }
      const now = performance.now();
      if (now - lastLine >= LINE_INTERVAL_S * 1000) {
        lastLine = now;
        write(`epoch ${s.epoch}/${epochs} step ${s.step}/${s.steps} loss ${s.loss.toFixed(4)}\n`);
      }
    },
    onEpoch(m: EpochMetrics) {
      const line = epochLine(m, epochs);
      if (mode === 'bars' && multi) {
        multi.log(`${line}\n`);
        epochBar?.update(m.epoch);
        stepBar?.update(0, { label: `epoch ${m.epoch + 1}`, extra: '' });
      } else {
        write(`${line}\n`);
      }
    },
    onPhase(phase) {
      if (mode === 'bars') stepBar?.update({ extra: `| ${phase}…` });
    },
    stop,
  };
}
