import { Resvg } from '@resvg/resvg-js';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { METHOD_LABELS } from '../reproduce/plan';
import type { RunResult } from './collect';
import { type MeanSe, meanSe } from './tables';

/** Renders a Vega-Lite spec to SVG headlessly (no DOM, no canvas). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises an SVG at `scale`× its size with the system's fonts. */
export function svgToPng(svg: string, scale = 2): Uint8Array {
  return new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  })
    .render()
    .asPng();
}

/** One point of Figure 2: ‖H‖_F² over seeds at one λ and epoch. */
export interface Figure2Point extends MeanSe {
  readonly lambda: number;
  readonly epoch: number;
  /** mean ∓ one standard error (the shaded band; the mean alone with one seed). */
  readonly lower: number;
  readonly upper: number;
}

/** Final test accuracy (%) per λ over the finished seeds. */
export interface Figure2Accuracy extends MeanSe {
  readonly lambda: number;
}

/**
 * Figure 2's numbers: for each λ and epoch, mean ± standard error over seeds of
 * the ‖H‖_F² estimate recorded in `metrics.jsonl` (epochs where every run with
 * that epoch measured it), and each λ's final test accuracy.
 */
export function figure2Data(results: readonly RunResult[]): {
  points: Figure2Point[];
  accuracy: Figure2Accuracy[];
} {
  const lambdas = [...new Set(results.map((r) => r.run.settings.lambda ?? 0))].sort(
    (a, b) => a - b,
  );
  const points: Figure2Point[] = [];
  const accuracy: Figure2Accuracy[] = [];
  for (const lambda of lambdas) {
    // A diverged run is shown as diverged (report.html), never averaged in.
    const runs = results.filter(
      (r) => (r.run.settings.lambda ?? 0) === lambda && r.status !== 'diverged',
    );
    const epochs = [...new Set(runs.flatMap((r) => r.epochs.map((e) => e.epoch)))].sort(
      (a, b) => a - b,
    );
    for (const epoch of epochs) {
      const values = runs
        .map((r) => r.epochs.find((e) => e.epoch === epoch)?.hessian?.frobenius?.estimate)
        .filter((v): v is number => v !== undefined && Number.isFinite(v));
      if (values.length === 0) continue;
      const s = meanSe(values);
      const se = Number.isFinite(s.standardError) ? s.standardError : 0;
      points.push({ lambda, epoch, ...s, lower: s.mean - se, upper: s.mean + se });
    }
    const done = runs.filter((r) => r.status === 'done');
    if (done.length > 0) {
      const s = meanSe(done.map((r) => 100 * r.summary!.finalTestAccuracy));
      accuracy.push({ lambda, ...s });
    }
  }
  return { points, accuracy };
}

const lambdaLabel = (lambda: number, accuracy: readonly Figure2Accuracy[]) => {
  const acc = accuracy.find((a) => a.lambda === lambda);
  return `λ = ${lambda}${acc ? ` (test ${acc.mean.toFixed(1)}%)` : ''}`;
};

/**
 * Figure 2: ‖H‖_F² while training the MNIST MLP with Frob-SAM for each λ, mean
 * over seeds with one standard error shaded, on a log axis (the values span
 * decades), the legend giving each λ's final test accuracy.
 */
export function figure2Spec(data: ReturnType<typeof figure2Data>): TopLevelSpec {
  const values = data.points.map((p) => ({ ...p, series: lambdaLabel(p.lambda, data.accuracy) }));
  const order = [...new Set(values.map((v) => v.series))];
  const color = {
    field: 'series',
    type: 'nominal' as const,
    sort: order,
    title: 'Frob-SAM (ρ = 0.01, n = 2)',
    legend: { labelLimit: 320, titleLimit: 320 },
  };
  const x = {
    field: 'epoch',
    type: 'quantitative' as const,
    title: 'epoch',
    axis: { tickMinStep: 1, format: 'd' },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'Figure 2: ‖H‖_F² while training on MNIST',
      subtitle: 'mean over seeds, one standard error shaded',
    },
    width: 480,
    height: 300,
    data: { values },
    layer: [
      {
        mark: { type: 'area', opacity: 0.25 },
        encoding: {
          x,
          y: { field: 'lower', type: 'quantitative', scale: { type: 'log' }, title: '‖H‖_F²' },
          y2: { field: 'upper' },
          color,
        },
      },
      {
        mark: { type: 'line', point: true },
        encoding: { x, y: { field: 'mean', type: 'quantitative' }, color },
      },
    ],
  };
}

/**
 * One run's training curves: train and test loss, train and test accuracy per
 * epoch, and ‖H‖_F² when the run measured it.
 */
export function runCurvesSpec(result: RunResult): TopLevelSpec {
  const rows = result.epochs.flatMap((e) => [
    { epoch: e.epoch, panel: 'loss', series: 'train', value: e.trainLoss },
    { epoch: e.epoch, panel: 'loss', series: 'test', value: e.testLoss },
    { epoch: e.epoch, panel: 'accuracy (%)', series: 'train', value: 100 * e.trainAccuracy },
    { epoch: e.epoch, panel: 'accuracy (%)', series: 'test', value: 100 * e.testAccuracy },
    ...(e.hessian?.frobenius
      ? [
          {
            epoch: e.epoch,
            panel: '‖H‖_F²',
            series: 'estimate',
            value: e.hessian.frobenius.estimate,
          },
        ]
      : []),
  ]);
  const { run } = result;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `${run.id} (${METHOD_LABELS[run.method]}, ${result.status})`,
    data: { values: rows },
    facet: {
      column: { field: 'panel', type: 'nominal', title: null, sort: ['loss', 'accuracy (%)'] },
    },
    spec: {
      width: 220,
      height: 160,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1, format: 'd' } },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
        color: { field: 'series', type: 'nominal', title: null },
      },
    },
    resolve: { scale: { y: 'independent' } },
  };
}

/**
 * Mean test accuracy per epoch of each method on one dataset (all seeds), the
 * report's view of the table runs' training curves.
 */
export function datasetCurvesSpec(dataset: string, results: readonly RunResult[]): TopLevelSpec {
  const rows: { method: string; epoch: number; accuracy: number }[] = [];
  for (const method of new Set(results.map((r) => r.run.method))) {
    const runs = results.filter((r) => r.run.method === method);
    const epochs = [...new Set(runs.flatMap((r) => r.epochs.map((e) => e.epoch)))];
    for (const epoch of epochs) {
      const values = runs.flatMap((r) =>
        r.epochs.filter((e) => e.epoch === epoch).map((e) => 100 * e.testAccuracy),
      );
      rows.push({ method: METHOD_LABELS[method], epoch, accuracy: meanSe(values).mean });
    }
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `${dataset.toUpperCase()}: test accuracy while training (mean over seeds)`,
    width: 360,
    height: 200,
    data: { values: rows },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1, format: 'd' } },
      y: {
        field: 'accuracy',
        type: 'quantitative',
        title: 'test accuracy (%)',
        scale: { zero: false },
      },
      color: { field: 'method', type: 'nominal', title: null },
    },
  };
}
