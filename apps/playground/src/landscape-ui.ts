/** The landscape section: slice requests to the training worker, and their pictures. */
import { type LineChart, lineChart, RUN_COLOURS } from './charts';
import { drawHeatmap } from './heatmap';
import type { Request, Response } from './protocol';

type Result = Extract<Response, { type: 'landscape' } | { type: 'density' }>;

export function setupLandscape(send: (request: Request) => void) {
  const form = document.querySelector<HTMLFormElement>('#landscape-form')!;
  const status = document.querySelector<HTMLElement>('#landscape-status')!;
  const runSelect = form.elements.namedItem('run') as HTMLSelectElement;
  const sliceButton = document.querySelector<HTMLButtonElement>('#slice')!;
  const densityButton = document.querySelector<HTMLButtonElement>('#density-button')!;
  const figure2d = document.querySelector<HTMLElement>('#slice-2d-figure')!;
  const canvas = document.querySelector<HTMLCanvasElement>('#slice-2d')!;
  const caption2d = figure2d.querySelector('figcaption')!;
  let line: LineChart | undefined;
  let density: LineChart | undefined;
  let labels: string[] = [];
  let busy = false;
  /** The heat map shown, redrawn at the canvas's new size when the page's width changes. */
  let redraw2d: (() => void) | undefined;
  new ResizeObserver(() => redraw2d?.()).observe(canvas);

  const value = (name: string) => (form.elements.namedItem(name) as HTMLInputElement).valueAsNumber;
  const setBusy = (b: boolean) => {
    busy = b;
    sliceButton.disabled = b || labels.length === 0;
    densityButton.disabled = b || labels.length === 0;
  };
  setBusy(false);

  /** Sends one request at a time, saying what is under way. */
  const ask = (doing: string, request: Request) => {
    if (busy) return;
    setBusy(true);
    status.className = '';
    status.textContent = doing;
    send(request);
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    ask('Slicing… (training waits between two steps meanwhile)', {
      type: 'landscape',
      run: Number(runSelect.value),
      dimensions: Number((form.elements.namedItem('dimensions') as HTMLSelectElement).value) as
        | 1
        | 2,
      points: value('points'),
      span: value('span'),
      examples: value('examples'),
      seed: value('seed'),
    });
  });
  densityButton.addEventListener('click', () => {
    ask('Running stochastic Lanczos quadrature…', {
      type: 'density',
      run: Number(runSelect.value),
      steps: value('steps'),
      probes: value('probes'),
      examples: value('examples'),
      seed: value('seed'),
    });
  });

  const fmt = (v: number) => (Math.abs(v) >= 1e4 ? v.toExponential(2) : v.toPrecision(3));

  function show(result: Result) {
    const name = labels[result.run] ?? `run ${result.run + 1}`;
    const colour = RUN_COLOURS[result.run]!;
    status.className = '';
    if (result.type === 'density') {
      density?.destroy();
      const box = document.querySelector<HTMLElement>('#density')!;
      density = lineChart(box, {
        title: `Spectral density of H, ${name} (SLQ; log scale)`,
        xLabel: 'eigenvalue λ',
        yLabel: 'density',
        series: [{ label: name, colour }],
        logY: true,
      });
      // A log axis needs positive values; the Gaussian-broadened density underflows far
      // out, so six decades below the peak are shown.
      const floor = Math.max(...result.density) * 1e-6;
      density.setData(result.grid, [result.density.map((v) => Math.max(v, floor))]);
      status.textContent = `Spectral density of ${name} in ${result.seconds.toFixed(1)} s; tr H from the same quadrature ≈ ${fmt(result.trace.estimate)} ± ${fmt(result.trace.standardError)} (standard error over the probes).`;
      return;
    }
    const n = result.grid.length;
    const finite = result.values.filter(Number.isFinite);
    const missing = result.values.length - finite.length;
    if (finite.length === 0) {
      throw new RangeError(
        `Every point of the slice of ${name} has a non-finite loss: its weights are too far gone to draw; slice another run.`,
      );
    }
    if (result.dimensions === 1) {
      line?.destroy();
      line = lineChart(document.querySelector<HTMLElement>('#slice-1d')!, {
        title: `Loss along d₁, ${name}`,
        xLabel: 'α',
        yLabel: 'loss',
        series: [{ label: name, colour }],
      });
      line.setData(result.grid, [result.values.map((v) => (Number.isFinite(v) ? v : null))]);
    } else {
      figure2d.hidden = false;
      caption2d.textContent = `Loss of ${name} on the plane θ + α·d₁ + β·d₂ (+: the run's weights; grey: not finite)`;
      const span = result.grid[n - 1]!;
      const lo = Math.min(...finite);
      redraw2d = () =>
        drawHeatmap(
          canvas,
          { values: result.values, nx: n, ny: n, extent: [-span, span, -span, span] },
          {
            transform: (v) => Math.log(v - lo + 1e-3),
            xLabel: 'α (d₁)',
            yLabel: 'β (d₂)',
            colourBar: { format: fmt },
            marker: [0, 0],
          },
        );
      redraw2d();
      const centre = result.values[((n - 1) / 2) * n + (n - 1) / 2];
      canvas.setAttribute(
        'aria-label',
        `Heat map with contours of the loss of ${name} on a ${n} by ${n} grid over ±${span} along two filter-normalised directions; loss from ${fmt(lo)} to ${fmt(Math.max(...finite))}${centre === undefined ? '' : `, ${fmt(centre)} at the weights`}${missing > 0 ? `; ${missing} points not finite` : ''}.`,
      );
      canvas.dataset.points = String(result.values.length);
      canvas.dataset.run = String(result.run);
    }
    status.textContent = `Sliced ${name} (${result.values.length} points${missing > 0 ? `, ${missing} of them with a non-finite loss` : ''}) in ${result.seconds.toFixed(1)} s.`;
  }

  return {
    setRuns(next: string[]) {
      labels = next;
      runSelect.replaceChildren(...labels.map((l, i) => new Option(l, String(i))));
      setBusy(busy);
    },
    error(message: string) {
      if (!busy) return;
      setBusy(false);
      status.className = 'error';
      status.textContent = message;
    },
    receive(result: Result) {
      setBusy(false);
      try {
        show(result);
      } catch (error) {
        status.className = 'error';
        status.textContent = (error as Error).message;
      }
    },
  };
}
