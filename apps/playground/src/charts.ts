/**
 * Live line charts on uPlot: about 50 kB minified, canvas-drawn, and
 * `setData` redraws thousands of points in well under a millisecond, so the
 * page can append points as the worker posts them. (Vega-Lite and Observable
 * Plot redraw through a scene graph or SVG and weigh several times more.)
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** Okabe–Ito colours: distinguishable with the common colour-vision deficiencies. */
export const RUN_COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9'];

export interface SeriesSpec {
  readonly label: string;
  readonly colour: string;
  readonly dash?: boolean;
}

export interface ChartSpec {
  /** Title, also the accessible name's start. */
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly SeriesSpec[];
  readonly logY?: boolean;
  readonly points?: boolean;
}

export interface LineChart {
  /** x, one y array per series (null for gaps), optional ± error per point. */
  setData(x: number[], ys: (number | null)[][], errors?: (number | null)[][]): void;
  /** Points drawn so far, per series (for tests and the accessible summary). */
  readonly counts: number[];
  destroy(): void;
}

/** Vertical whiskers at y ± error for each point that has one. */
function errorBars(errors: () => (number | null)[][] | undefined): uPlot.Plugin {
  return {
    hooks: {
      draw: (u) => {
        const all = errors();
        if (all === undefined) return;
        const { ctx } = u;
        const cap = 4 * devicePixelRatio;
        ctx.save();
        ctx.lineWidth = devicePixelRatio;
        all.forEach((err, k) => {
          const s = k + 1;
          const stroke = u.series[s]?.stroke;
          ctx.strokeStyle = typeof stroke === 'function' ? stroke(u, s) : String(stroke ?? '#000');
          const ys = u.data[s]!;
          err.forEach((e, j) => {
            const y = ys[j];
            if (e == null || y == null || !Number.isFinite(e)) return;
            const x = u.valToPos(u.data[0][j]!, 'x', true);
            const lo = u.valToPos(y - e, 'y', true);
            const hi = u.valToPos(y + e, 'y', true);
            ctx.beginPath();
            ctx.moveTo(x, lo);
            ctx.lineTo(x, hi);
            ctx.moveTo(x - cap, lo);
            ctx.lineTo(x + cap, lo);
            ctx.moveTo(x - cap, hi);
            ctx.lineTo(x + cap, hi);
            ctx.stroke();
          });
        });
        ctx.restore();
      },
    },
  };
}

const fmt = (v: number | null | undefined) =>
  v == null || !Number.isFinite(v)
    ? '–'
    : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)
      ? v.toExponential(2)
      : v.toPrecision(4);

/**
 * A chart in `container` (a `<figure>` is made inside it, labelled for screen
 * readers with the title and the latest value of each series).
 */
export function lineChart(container: HTMLElement, spec: ChartSpec): LineChart {
  const figure = document.createElement('figure');
  figure.className = 'chart';
  figure.setAttribute('role', 'img');
  const caption = document.createElement('figcaption');
  caption.textContent = spec.title;
  figure.append(caption);
  const plot = document.createElement('div');
  figure.append(plot);
  container.append(figure);

  let currentErrors: (number | null)[][] | undefined;
  const counts = spec.series.map(() => 0);
  const width = () => Math.max(240, plot.clientWidth || container.clientWidth || 320);
  const u = new uPlot(
    {
      width: width(),
      height: 220,
      scales: { x: { time: false }, y: spec.logY ? { distr: 3 } : {} },
      axes: [
        { label: spec.xLabel, size: 36 },
        { label: spec.yLabel, size: 56, values: (_u, vals) => vals.map((v) => fmt(v)) },
      ],
      series: [
        { label: spec.xLabel },
        ...spec.series.map((s) => ({
          label: s.label,
          stroke: s.colour,
          width: 2,
          ...(s.dash && { dash: [6, 4] }),
          spanGaps: true,
          points: { show: spec.points ?? false, size: 6 },
          value: (_u: uPlot, v: number | null) => fmt(v),
        })),
      ],
      legend: { live: false },
      plugins: [errorBars(() => currentErrors)],
    },
    [[], ...spec.series.map(() => [])],
    plot,
  );
  const label = () =>
    `${spec.title}. ${spec.series
      .map((s, k) => {
        const ys = u.data[k + 1] ?? [];
        const last = [...ys].reverse().find((v) => v != null);
        return `${s.label}: ${counts[k]} points${last != null ? `, latest ${fmt(last)}` : ''}`;
      })
      .join('; ')}.`;
  figure.setAttribute('aria-label', label());
  const resize = new ResizeObserver(() => u.setSize({ width: width(), height: 220 }));
  resize.observe(container);

  return {
    counts,
    setData(x, ys, errors) {
      currentErrors = errors;
      ys.forEach((y, k) => {
        counts[k] = y.filter((v) => v != null).length;
      });
      u.setData([x, ...ys] as uPlot.AlignedData);
      figure.setAttribute('aria-label', label());
      figure.dataset.points = String(counts.reduce((a, b) => a + b, 0));
    },
    destroy() {
      resize.disconnect();
      u.destroy();
      figure.remove();
    },
  };
}
