/** The toy-loss section: a draggable start, trajectories from the toy worker, measures along them. */
import { findVariant, optionRequirement } from '@usam/optimizer';
import { type LineChart, lineChart, RUN_COLOURS } from './charts';
import { drawHeatmap, type Frame } from './heatmap';
import type { RunSettings } from './settings';
import {
  type Point,
  TOY_DEFAULTS,
  TOY_LABELS,
  TOY_LOSSES,
  TOY_OPTIMIZERS,
  TOY_RUNS,
  type ToyLoss,
  type ToyMeasures,
  type ToyOptimizer,
  type ToyRequest,
  type ToyResponse,
  type Trajectory,
} from './toy';
import { findToyPreset, TOY_PRESETS } from './toy-presets';
import { fitView, type View, zoomView } from './toy-view';

const EXPLAINERS: Record<ToyLoss['name'], string> = {
  example2:
    'Example 2 of the paper, L = (x₁x₂ − 1)², is scale-invariant: L(kx₁, x₂/k) = L(x₁, x₂). On its zero-loss hyperbola x₁x₂ = 1, tr H = 2(x₁² + x₂²) and ‖H‖_F² = (tr H)² are smallest at |x₁| = |x₂| = 1, while det H = 0 everywhere on it. From a start on the hyperbola, SGD and SAM stay (∇L = 0 there), Trace-SAM and Frob-SAM slide along it toward (1, 1), and Det-SAM barely moves: its measure prefers no point of the hyperbola (Theorem 4). The sampled Det-SAM only approximates that measure; on a hypercube of half-width h it regularises h²·tr H/6 to first order, so it drifts slowly for small h. The log damped determinant (Universal SAM with a measure of the scale-invariant family) makes the whole objective invariant, so it stays put as well, and started at (kx₁, x₂/k) it ends at the rescaled image of its run from (x₁, x₂).',
  example1:
    'Example 1 of the paper, L = ½(x₁² − x₂²), a saddle: H = diag(1, −1) everywhere, so tr H = 0 calls every point flat, while ‖H‖_F² = 2 and det H = −1. Every optimizer leaves along x₂; the trace measure cannot tell this saddle from a flat minimum.',
};

const rowsOf = (t: Trajectory) => t.path.length - 1;

export function setupToy() {
  const form = document.querySelector<HTMLFormElement>('#toy-form')!;
  const canvas = document.querySelector<HTMLCanvasElement>('#toy-canvas')!;
  const status = document.querySelector<HTMLElement>('#toy-status')!;
  const tbody = document.querySelector<HTMLTableSectionElement>('#toy-table tbody')!;
  const headings = [...document.querySelectorAll('#toy-table thead th')].map(
    (th) => th.textContent ?? '',
  );
  const measureSelect = document.querySelector<HTMLSelectElement>('#toy-measure')!;
  const explainer = document.querySelector<HTMLElement>('#toy-explainer')!;
  const checks = document.querySelector<HTMLElement>('#toy-optimizers')!;
  const presetSelect = document.querySelector<HTMLSelectElement>('#toy-preset')!;
  const presetNote = document.querySelector<HTMLElement>('#toy-preset-note')!;
  const toySelect = form.elements.namedItem('toy') as HTMLSelectElement;
  const input = (name: string) => form.elements.namedItem(name) as HTMLInputElement;
  const colour = (o: ToyOptimizer) => RUN_COLOURS[TOY_OPTIMIZERS.indexOf(o)]!;

  checks.replaceChildren(
    ...TOY_OPTIMIZERS.map((o) => {
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.name = 'optimizer';
      box.value = o;
      box.checked = true;
      const label = document.createElement('label');
      // Colour as a swatch, text in the body colour: several of the palette's colours
      // are too light for text on white.
      label.style.borderBottom = `4px solid ${colour(o)}`;
      label.append(box, TOY_LABELS[o]!);
      // ρ and h adjustable per optimizer (the text invites trying h = 1).
      const wrap = document.createElement('span');
      wrap.className = 'toy-run';
      wrap.append(label);
      for (const option of findVariant(TOY_RUNS[o].optimizer).options) {
        if (option.name !== 'rho' && option.name !== 'halfWidth') continue;
        const field = document.createElement('input');
        field.type = 'number';
        field.step = 'any';
        field.name = `${option.name}-${o}`;
        field.value = String(TOY_RUNS[o][option.name]);
        field.setAttribute('aria-label', `${TOY_LABELS[o]} ${option.symbol}`);
        const small = document.createElement('label');
        small.append(option.symbol, field);
        wrap.append(small);
      }
      return wrap;
    }),
  );
  input('lr').value = String(TOY_DEFAULTS.lr);
  input('steps').value = String(TOY_DEFAULTS.steps);
  presetSelect.replaceChildren(
    new Option('Custom', ''),
    ...TOY_PRESETS.map((p) => new Option(p.label, p.id)),
  );

  const worker = new Worker(new URL('./toy-worker.ts', import.meta.url), { type: 'module' });
  let toy: ToyLoss = TOY_LOSSES.example2;
  let start: Point = toy.start;
  /** The part of the plane drawn (zoom): the toy's square until zoomed or fitted. */
  let view: View = [-toy.extent, toy.extent, -toy.extent, toy.extent];
  let trajectories: Trajectory[] = [];
  let frame: Frame | undefined;
  let nextId = 0;
  let inFlight = false;
  let queued = false;
  let chart: LineChart | undefined;
  /** The learning rate of the trajectories in flight. */
  let sentLr = TOY_DEFAULTS.lr;

  const request = () => {
    if (inFlight) {
      queued = true;
      return;
    }
    inFlight = true;
    queued = false;
    const optimizers = [...checks.querySelectorAll<HTMLInputElement>('input:checked')].map(
      (c) => c.value as ToyOptimizer,
    );
    const lr = input('lr').valueAsNumber;
    if (!(Number.isFinite(lr) && lr > 0)) {
      // Refused, not replaced by the default: the plot would not be of the rate shown.
      inFlight = false;
      status.className = 'error';
      status.textContent = `Learning rate must be a number > 0, got '${input('lr').value}'.`;
      status.dataset.state = 'refused';
      return;
    }
    const runs: Partial<Record<ToyOptimizer, RunSettings>> = {};
    for (const o of optimizers) {
      let run: RunSettings = TOY_RUNS[o];
      for (const option of findVariant(TOY_RUNS[o].optimizer).options) {
        const field = form.elements.namedItem(`${option.name}-${o}`) as HTMLInputElement | null;
        if (field === null) continue;
        const value = field.value.trim() === '' ? Number.NaN : field.valueAsNumber;
        const requirement = optionRequirement(option, value);
        if (requirement !== undefined) {
          inFlight = false;
          status.className = 'error';
          status.textContent = `${TOY_LABELS[o]} ${option.symbol} must be ${requirement}, got '${field.value}'.`;
          status.dataset.state = 'refused';
          return;
        }
        run = { ...run, [option.name]: value };
      }
      runs[o] = run;
    }
    sentLr = lr;
    const message: ToyRequest = {
      id: ++nextId,
      toy: toy.name,
      start,
      options: {
        lr,
        steps: Math.max(
          1,
          Math.min(5000, Math.round(input('steps').valueAsNumber || TOY_DEFAULTS.steps)),
        ),
        seed: TOY_DEFAULTS.seed,
      },
      optimizers,
      runs,
    };
    status.textContent = 'Running the optimizers…';
    status.dataset.state = 'running';
    // What diverged belongs to the result shown in the status, which this request replaces.
    delete status.dataset.diverged;
    worker.postMessage(message);
  };

  worker.addEventListener('message', (event: MessageEvent<ToyResponse>) => {
    inFlight = false;
    const response = event.data;
    if (response.type === 'error') {
      status.className = 'error';
      status.textContent = response.message;
    } else if (!queued) {
      status.className = '';
      trajectories = response.trajectories;
      draw();
      renderTable();
      renderChart();
      const diverged = trajectories.filter((t) => t.left !== undefined);
      const steps = Math.max(0, ...trajectories.map(rowsOf));
      status.textContent = `${trajectories.length} trajectories of up to ${steps} steps from (${start[0].toFixed(2)}, ${start[1].toFixed(2)}).`;
      if (diverged.length > 0) {
        // lr 0.1 already sends Frob-SAM off Example 2 in 6 steps, 0.5 Trace- and Det-SAM too
        // (to |x| ~ 1e14 unchecked): say so rather than draw a line off the plot.
        status.className = 'error';
        status.textContent += ` Diverged at lr ${sentLr}: ${diverged
          .map((t) => `${TOY_LABELS[t.optimizer]} (left the plot at step ${t.left})`)
          .join(
            ', ',
          )}; lower the learning rate (at ${TOY_DEFAULTS.lr} every optimizer stays on the plot from the default start).`;
      }
      status.dataset.state = 'done';
      status.dataset.diverged = diverged.map((t) => t.optimizer).join(',');
    }
    if (queued) request();
  });

  // The loss on a fixed grid, drawn once per toy (log scale for the quartic).
  const N = 121;
  let field: number[] = [];
  const computeField = () => {
    const [x0, x1, y0, y1] = view;
    field = [];
    for (let j = 0; j < N; j++) {
      for (let i = 0; i < N; i++) {
        field.push(toy.value(x0 + ((x1 - x0) * i) / (N - 1), y0 + ((y1 - y0) * j) / (N - 1)));
      }
    }
  };

  function draw() {
    frame = drawHeatmap(
      canvas,
      { values: field, nx: N, ny: N, extent: view },
      {
        levels: 14,
        ...(toy.name === 'example2' && { transform: (v: number) => Math.log1p(v) }),
        xLabel: 'x₁',
        yLabel: 'x₂',
      },
    );
    const ctx = canvas.getContext('2d')!;
    ctx.save();
    // Paths inside the plot area only (a zoomed view cuts them at its edges).
    const [left, top] = frame.toPixel(view[0], view[3]);
    const [right, bottom] = frame.toPixel(view[1], view[2]);
    ctx.beginPath();
    ctx.rect(left, top, right - left, bottom - top);
    ctx.clip();
    for (const t of trajectories) {
      ctx.strokeStyle = colour(t.optimizer);
      ctx.lineWidth = 2.5;
      ctx.beginPath();
      t.path.forEach(([x, y], k) => {
        const [px, py] = frame!.toPixel(x, y);
        if (k === 0) ctx.moveTo(px, py);
        else ctx.lineTo(px, py);
      });
      ctx.stroke();
      const [ex, ey] = t.path.at(-1)!;
      const [px, py] = frame.toPixel(ex, ey);
      ctx.fillStyle = colour(t.optimizer);
      ctx.beginPath();
      ctx.arc(px, py, 4, 0, 2 * Math.PI);
      ctx.fill();
    }
    const [sx, sy] = frame.toPixel(start[0], start[1]);
    ctx.fillStyle = '#fff';
    ctx.strokeStyle = '#000';
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(sx, sy, 7, 0, 2 * Math.PI);
    ctx.fill();
    ctx.stroke();
    ctx.restore();
    canvas.dataset.view = view.map((v) => Number(v.toPrecision(6))).join(',');
    canvas.setAttribute(
      'aria-label',
      `${toy.label}, x₁ from ${view[0].toFixed(2)} to ${view[1].toFixed(2)}, x₂ from ${view[2].toFixed(2)} to ${view[3].toFixed(2)}: trajectories from (${start[0].toFixed(2)}, ${start[1].toFixed(2)}). ${trajectories
        .map((t) => {
          const [x, y] = t.path.at(-1)!;
          return `${TOY_LABELS[t.optimizer]} ends at (${x.toFixed(2)}, ${y.toFixed(2)})`;
        })
        .join('; ')}.`,
    );
  }

  const fmt = (v: number) =>
    Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : v.toFixed(3);

  function renderTable() {
    tbody.replaceChildren(
      ...trajectories.map((t) => {
        const [x1, x2] = t.path.at(-1)!;
        const m = t.measures.at(-1)!;
        const tr = document.createElement('tr');
        tr.dataset.optimizer = t.optimizer;
        tr.dataset.x1 = String(x1);
        tr.dataset.x2 = String(x2);
        const head = document.createElement('th');
        head.scope = 'row';
        head.textContent = TOY_LABELS[t.optimizer];
        head.style.borderLeft = `6px solid ${colour(t.optimizer)}`;
        tr.append(head);
        for (const [k, v] of [
          x1,
          x2,
          m.loss,
          m.trace,
          m.frobenius,
          m.lambdaMax,
          m.determinant,
        ].entries()) {
          const td = document.createElement('td');
          td.textContent = fmt(v);
          // A phone shows each row as a card, each value under its heading (style.css).
          td.dataset.label = headings[k + 1]!;
          tr.append(td);
        }
        return tr;
      }),
    );
  }

  function renderChart() {
    chart?.destroy();
    const key = measureSelect.value as keyof ToyMeasures;
    const name = measureSelect.selectedOptions[0]?.textContent ?? key;
    chart = lineChart(document.querySelector<HTMLElement>('#toy-chart')!, {
      title: `${name} along each path`,
      xLabel: 'step',
      yLabel: name,
      series: trajectories.map((t) => ({
        label: TOY_LABELS[t.optimizer],
        colour: colour(t.optimizer),
      })),
    });
    const steps = Math.max(0, ...trajectories.map((t) => t.path.length));
    chart.setData(
      Array.from({ length: steps }, (_, k) => k),
      trajectories.map((t) =>
        Array.from({ length: steps }, (_, k) => t.measures[k]?.[key] ?? null),
      ),
    );
  }

  const setStart = (p: Point, run = true) => {
    const e = toy.extent;
    start = [Math.max(-e, Math.min(e, p[0])), Math.max(-e, Math.min(e, p[1]))];
    input('x1').value = start[0].toFixed(2);
    input('x2').value = start[1].toFixed(2);
    if (frame) draw();
    if (run) request();
  };

  const setView = (next: View) => {
    view = next;
    computeField();
    if (frame) draw();
  };
  const fullView = (): View => [-toy.extent, toy.extent, -toy.extent, toy.extent];

  const selectToy = (from: Point = toy.start) => {
    toy = TOY_LOSSES[toySelect.value as ToyLoss['name']];
    explainer.textContent = EXPLAINERS[toy.name];
    view = fullView();
    computeField();
    trajectories = [];
    setStart(from);
  };

  /** The preset these fields are (all optimizers at their TOY_RUNS settings), or ''. */
  const matchingPreset = () => {
    const boxes = [...checks.querySelectorAll<HTMLInputElement>('input[type=checkbox]')];
    const defaults = TOY_OPTIMIZERS.every((o) =>
      findVariant(TOY_RUNS[o].optimizer).options.every((option) => {
        const f = form.elements.namedItem(`${option.name}-${o}`) as HTMLInputElement | null;
        return f === null || f.valueAsNumber === TOY_RUNS[o][option.name];
      }),
    );
    const preset = TOY_PRESETS.find(
      (p) =>
        p.toy === toy.name &&
        p.start[0].toFixed(2) === input('x1').value &&
        p.start[1].toFixed(2) === input('x2').value &&
        input('lr').valueAsNumber === p.lr &&
        input('steps').valueAsNumber === p.steps,
    );
    return preset !== undefined && defaults && boxes.every((b) => b.checked) ? preset.id : '';
  };
  const showPreset = (id: string) => {
    presetSelect.value = id;
    presetNote.textContent = findToyPreset(id)?.note ?? '';
  };

  presetSelect.addEventListener('change', (event) => {
    event.stopPropagation();
    const preset = findToyPreset(presetSelect.value);
    if (preset === undefined) return showPreset('');
    toySelect.value = preset.toy;
    input('lr').value = String(preset.lr);
    input('steps').value = String(preset.steps);
    for (const box of checks.querySelectorAll<HTMLInputElement>('input[type=checkbox]'))
      box.checked = true;
    for (const o of TOY_OPTIMIZERS) {
      for (const option of findVariant(TOY_RUNS[o].optimizer).options) {
        const f = form.elements.namedItem(`${option.name}-${o}`) as HTMLInputElement | null;
        if (f !== null) f.value = String(TOY_RUNS[o][option.name]);
      }
    }
    showPreset(preset.id);
    selectToy(preset.start);
  });

  // Zoom: buttons, +/− on the plane, the wheel at the pointer; "Fit" frames the paths.
  const zoomBy = (factor: number, at?: Point) => {
    const centre: Point = at ?? [(view[0] + view[1]) / 2, (view[2] + view[3]) / 2];
    const next = zoomView(view, factor, centre);
    // Never wider than the toy's square, never narrower than a thousandth of it,
    // and inside the square (shifted back where zooming out at an edge left it).
    const e = toy.extent;
    const width = next[1] - next[0];
    if (width > 2 * e - 1e-9) return setView(fullView());
    if (width < (2 * e) / 1000) return;
    const shift = (lo: number, hi: number) => (lo < -e ? -e - lo : hi > e ? e - hi : 0);
    const dx = shift(next[0], next[1]);
    const dy = shift(next[2], next[3]);
    setView([next[0] + dx, next[1] + dx, next[2] + dy, next[3] + dy]);
  };
  const fit = () => setView(fitView([start, ...trajectories.flatMap((t) => t.path)], toy.extent));
  document.querySelector('#toy-zoom-in')!.addEventListener('click', () => zoomBy(0.5));
  document.querySelector('#toy-zoom-out')!.addEventListener('click', () => zoomBy(2));
  document.querySelector('#toy-fit')!.addEventListener('click', fit);
  document.querySelector('#toy-full')!.addEventListener('click', () => setView(fullView()));
  canvas.addEventListener(
    'wheel',
    (event) => {
      if (!frame) return;
      event.preventDefault();
      const rect = canvas.getBoundingClientRect();
      const at = frame.fromPixel(event.clientX - rect.left, event.clientY - rect.top);
      zoomBy(event.deltaY > 0 ? 1.25 : 0.8, at);
    },
    { passive: false },
  );

  form.addEventListener('change', (event) => {
    const target = event.target as HTMLElement;
    if (target === presetSelect) return;
    if (target === toySelect) selectToy();
    else if (target === input('x1') || target === input('x2')) {
      setStart([input('x1').valueAsNumber || 0, input('x2').valueAsNumber || 0]);
    } else request();
    showPreset(matchingPreset());
  });
  form.addEventListener('submit', (event) => event.preventDefault());
  measureSelect.addEventListener('change', renderChart);

  let dragging = false;
  const pointAt = (event: PointerEvent): Point => {
    const rect = canvas.getBoundingClientRect();
    return frame!.fromPixel(event.clientX - rect.left, event.clientY - rect.top);
  };
  canvas.addEventListener('pointerdown', (event) => {
    if (!frame) return;
    dragging = true;
    canvas.setPointerCapture(event.pointerId);
    setStart(pointAt(event), false);
  });
  canvas.addEventListener('pointermove', (event) => {
    if (dragging) setStart(pointAt(event));
  });
  canvas.addEventListener('pointerup', (event) => {
    if (!dragging) return;
    dragging = false;
    setStart(pointAt(event));
    showPreset(matchingPreset());
  });
  canvas.addEventListener('keydown', (event) => {
    if (event.key === '+' || event.key === '=') return zoomBy(0.5);
    if (event.key === '-') return zoomBy(2);
    const step = event.shiftKey ? 0.5 : 0.1;
    const moves: Record<string, Point> = {
      ArrowLeft: [-step, 0],
      ArrowRight: [step, 0],
      ArrowUp: [0, step],
      ArrowDown: [0, -step],
    };
    const move = moves[event.key];
    if (move === undefined) return;
    event.preventDefault();
    setStart([start[0] + move[0], start[1] + move[1]]);
    showPreset(matchingPreset());
  });
  new ResizeObserver(() => {
    if (field.length > 0) draw();
  }).observe(canvas);

  selectToy();
  showPreset(matchingPreset());
}
