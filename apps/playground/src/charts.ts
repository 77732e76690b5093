/**
 * Live line charts on uPlot: about 50 kB minified, canvas-drawn, and
 * `setData` redraws thousands of points in well under a millisecond, so the
 * page can append points as the worker posts them. (Vega-Lite and Observable
 * Plot redraw through a scene graph or SVG and weigh several times more.)
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** Okabe–Ito colours: distinguishable with the common colour-vision deficiencies. */
export const RUN_COLOURS = [
  '#0072B2',
  '#D55E00',
  '#009E73',
  '#CC79A7',
  '#E69F00',
  '#56B4E9',
  '#000000',
];

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
  /**
   * Clamp the y range to 100 × the median of the values shown, so that one
   * spike does not flatten the rest; the caption says when points are cut off.
   */
  readonly clampY?: boolean;
  /** Integer ticks on x only (epochs). */
  readonly integerX?: boolean;
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
        // Inside the plotting area only: a long bar must not run over the axis labels.
        ctx.beginPath();
        ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
        ctx.clip();
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

/** The splits of a log axis worth a line: 1, 2 and 5 × 10^k, or decades over a wide range. */
function logSplits(_u: uPlot, splits: number[]): (number | null)[] {
  const finite = splits.filter((v) => v > 0);
  const wide = finite.length > 0 && Math.log10(Math.max(...finite) / Math.min(...finite)) > 2;
  const keep = wide ? [1] : [1, 2, 5];
  return splits.map((v) => {
    if (!(v > 0)) return null;
    const mantissa = v / 10 ** Math.floor(Math.log10(v) + 1e-9);
    return keep.some((m) => Math.abs(mantissa - m) < 1e-6) ? v : null;
  });
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
  /** The clamp's upper end while points lie above it (clampY). */
  let clampedAt: number | undefined;
  const counts = spec.series.map(() => 0);
  const width = () => Math.max(240, plot.clientWidth || container.clientWidth || 320);
  const u = new uPlot(
    {
      width: width(),
      height: 220,
      scales: {
        x: { time: false },
        y: {
          ...(spec.logY && { distr: 3 }),
          ...(spec.clampY && {
            range: (_u: uPlot, min: number, max: number): uPlot.Range.MinMax => {
              const hi = clampedAt ?? max;
              return spec.logY
                ? uPlot.rangeLog(Math.max(min, hi * 1e-6), hi, 10, true)
                : uPlot.rangeNum(min, hi, 0.1, true);
            },
          }),
        },
      },
      axes: [
        {
          label: spec.xLabel,
          size: 36,
          // Epochs are whole numbers: no tick at 0.5.
          ...(spec.integerX && { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] }),
        },
        {
          label: spec.yLabel,
          size: 56,
          values: (_u, vals) => vals.map((v) => (v == null ? '' : fmt(v))),
          // A log axis: labels, ticks and grid lines at 1, 2, 5 × 10^k (whole decades
          // alone when it spans more than two), not at every minor split.
          ...(spec.logY && {
            filter: logSplits,
            grid: { filter: logSplits },
            ticks: { filter: logSplits },
          }),
        },
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
      if (spec.clampY) {
        const values = ys
          .flat()
          .filter((v): v is number => v != null && Number.isFinite(v))
          .sort((a, b) => a - b);
        const median = values[Math.floor(values.length / 2)];
        const top = values.at(-1);
        clampedAt =
          median !== undefined && top !== undefined && top > 100 * median
            ? 100 * median
            : undefined;
        caption.textContent =
          clampedAt === undefined
            ? spec.title
            : `${spec.title}; cut off above ${fmt(clampedAt)} (100 × the median), the largest is ${fmt(top!)}`;
      }
      u.setData([x, ...ys] as uPlot.AlignedData);
      figure.setAttribute('aria-label', label());
      figure.dataset.points = String(counts.reduce((a, b) => a + b, 0));
      figure.dataset.counts = counts.join(',');
    },
    destroy() {
      resize.disconnect();
      u.destroy();
      figure.remove();
    },
  };
}
