/**
 * The page: forms, charts and downloads. All numerical work happens in the
 * workers (train-worker.ts, toy-worker.ts); this thread only draws.
 */
import './style.css';
import { findVariant, optionAccepts, type Variant, type VariantOption } from '@usam/optimizer';
import { type LineChart, lineChart, RUN_COLOURS } from './charts';
import { metricsCsv, metricsJson } from './export';
import { M_SHARPNESS_HELP, optionHelp } from './help';
import { setupLandscape } from './landscape-ui';
import { findPreset, PRESETS } from './presets';
import { type EpochMetrics, parseSettings, type Request, type Response } from './protocol';
import {
  BACKENDS,
  DATASETS,
  defaultRun,
  type ExperimentSettings,
  expectedDivergence,
  MAX_RUNS,
  MODELS,
  NUMBER_SETTINGS,
  OPTIMIZER_LABELS,
  OPTIMIZERS,
  type RunSettings,
  runLabel,
  trainCommand,
} from './settings';
import { setupToy } from './toy-ui';
import { settingsFromQuery, settingsToQuery } from './url-state';

const $ = <T extends HTMLElement>(selector: string) => document.querySelector<T>(selector)!;

const form = $<HTMLFormElement>('#experiment');
const statusLine = $('#status');
const backendLine = $('#backend');
const chartsBox = $('#charts');
const runsList = $<HTMLOListElement>('#runs');
const startButton = $<HTMLButtonElement>('#start');
const pauseButton = $<HTMLButtonElement>('#pause');
const stopButton = $<HTMLButtonElement>('#stop');
const addRunButton = $<HTMLButtonElement>('#add-run');

// ---------------------------------------------------------------- the form

function fillSelect(name: string, values: readonly string[], labels?: Record<string, string>) {
  const select = form.elements.namedItem(name) as HTMLSelectElement;
  select.replaceChildren(...values.map((v) => new Option(labels?.[v] ?? v, v)));
}
fillSelect('dataset', DATASETS, {
  'mnist-s': 'MNIST-S (10%: 857 training digits)',
  mnist: 'MNIST (8,569 training digits)',
  'mnist-c': 'MNIST-C (20% labels flipped)',
  'mnist-s-c': 'MNIST-S-C',
});
fillSelect('model', MODELS, { mlp: "The paper's MLP (6 × 128 ReLU)", cnn: 'Small CNN' });
fillSelect('backend', BACKENDS, { auto: 'auto: the faster of webgl and wasm' });

const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement;
const runs: RunSettings[] = [];

/** Puts `s` into the form (fields and runs). */
function applySettings(s: ExperimentSettings) {
  for (const name of ['dataset', 'model', 'backend', ...NUMBER_SETTINGS] as const) {
    field(name).value = String(s[name]);
  }
  runs.splice(0, runs.length, ...s.runs);
  renderRuns();
}

/** A form field for one of a variant's options, with the range its table entry states. */
function optionField(
  option: VariantOption,
  value: number | string,
  set: (v: number | string) => void,
  helpId: string,
) {
  const label = document.createElement('label');
  label.title = `${option.description}: ${optionAccepts(option)}`;
  if (option.type === 'choice') {
    const select = document.createElement('select');
    select.append(...(option.choices ?? []).map((c) => new Option(c, c)));
    select.value = String(value);
    select.setAttribute('aria-describedby', helpId);
    select.addEventListener('change', () => set(select.value));
    label.append(option.symbol, select);
    return label;
  }
  const input = document.createElement('input');
  input.type = 'number';
  input.step = option.type === 'integer' ? '1' : 'any';
  if (option.min !== undefined) input.min = String(option.min);
  if (option.max !== undefined) input.max = String(option.max);
  input.value = String(value);
  input.setAttribute('aria-describedby', helpId);
  input.addEventListener('change', () => set(input.valueAsNumber));
  label.append(option.symbol === option.name ? option.name : option.symbol, input);
  return label;
}

function renderRuns() {
  runsList.replaceChildren(
    ...runs.map((run, i) => {
      const li = document.createElement('li');
      li.style.setProperty('--run-colour', RUN_COLOURS[i]!);
      const select = document.createElement('select');
      select.setAttribute('aria-label', `Run ${i + 1} optimizer`);
      select.append(...OPTIMIZERS.map((o) => new Option(OPTIMIZER_LABELS[o], o)));
      select.value = run.optimizer;
      select.addEventListener('change', () => {
        runs[i] = defaultRun(select.value);
        renderRuns();
        settingsChanged();
        runsList.querySelectorAll('select')[i]?.focus();
      });
      const name = document.createElement('label');
      name.append(`Run ${i + 1}`, select);
      li.append(name);
      const variant: Variant = findVariant(run.optimizer);
      const help = document.createElement('ul');
      help.className = 'help';
      for (const option of variant.options) {
        const helpId = `run${i + 1}-${option.name}-help`;
        li.append(
          optionField(
            option,
            run[option.name]!,
            (value) => {
              runs[i] = { ...runs[i]!, [option.name]: value };
              settingsChanged();
            },
            helpId,
          ),
        );
        const line = document.createElement('li');
        line.id = helpId;
        line.textContent = optionHelp(variant, option);
        help.append(line);
      }
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.textContent = 'Remove';
      remove.setAttribute('aria-label', `Remove run ${i + 1}`);
      remove.disabled = runs.length <= 1;
      remove.addEventListener('click', () => {
        runs.splice(i, 1);
        renderRuns();
        settingsChanged();
        addRunButton.focus();
      });
      li.append(remove);
      if (help.childElementCount > 0) li.append(help);
      const warning = document.createElement('p');
      warning.className = 'help-line error run-warning';
      warning.hidden = true;
      li.append(warning);
      return li;
    }),
  );
  addRunButton.disabled = runs.length >= MAX_RUNS;
}
addRunButton.addEventListener('click', () => {
  const used = new Set(runs.map((r) => r.optimizer));
  runs.push(defaultRun(OPTIMIZERS.find((o) => !used.has(o)) ?? 'sam'));
  renderRuns();
  settingsChanged();
});

// ---------------------------------------------------------------- presets and the address

const presetSelect = $<HTMLSelectElement>('#preset');
const presetNote = $('#preset-note');
const urlStatus = $('#url-status');
presetSelect.replaceChildren(
  new Option('Custom', ''),
  ...PRESETS.map((p) => new Option(p.label, p.id)),
);
function showPreset(id: string) {
  presetSelect.value = id;
  presetNote.textContent = findPreset(id)?.note ?? '';
}
presetSelect.addEventListener('change', () => {
  const preset = findPreset(presetSelect.value);
  if (preset === undefined) return;
  applySettings(preset.settings);
  showPreset(preset.id);
  urlStatus.hidden = true;
  writeAddress(preset.settings);
  renderWarnings(preset.settings);
});

/** The address holds the settings, so that a link opens the same experiment. */
function writeAddress(s: ExperimentSettings) {
  history.replaceState(null, '', `${location.pathname}?${settingsToQuery(s)}${location.hash}`);
}

/** After any edit: the preset whose settings these are (or Custom), and the address. */
function settingsChanged() {
  let s: ExperimentSettings;
  try {
    s = readSettings();
  } catch {
    return; // Start names the bad field.
  }
  const query = settingsToQuery(s);
  showPreset(PRESETS.find((p) => settingsToQuery(p.settings) === query)?.id ?? '');
  writeAddress(s);
  renderWarnings(s);
}

/** Under each run usam train would warn about: why it is expected to diverge. */
function renderWarnings(s: ExperimentSettings) {
  runsList.querySelectorAll<HTMLElement>('.run-warning').forEach((p, i) => {
    const why = i < s.runs.length ? expectedDivergence(s, i) : undefined;
    p.hidden = why === undefined;
    p.textContent = why === undefined ? '' : `Expected to diverge: ${why}.`;
  });
}
form.addEventListener('change', (event) => {
  if (event.target !== presetSelect) settingsChanged();
});

{
  const { settings: initial, problems } = settingsFromQuery(location.search);
  applySettings(initial);
  renderWarnings(initial);
  const query = settingsToQuery(initial);
  showPreset(PRESETS.find((p) => settingsToQuery(p.settings) === query)?.id ?? '');
  if (problems.length > 0) {
    urlStatus.hidden = false;
    urlStatus.textContent = `This link's settings were partly invalid, defaults used: ${problems.join('; ')}.`;
  }
}

function readSettings(): ExperimentSettings {
  const numbers = Object.fromEntries(
    NUMBER_SETTINGS.map((name) => {
      const input = field(name);
      return [name, input.value.trim() === '' ? Number.NaN : input.valueAsNumber];
    }),
  );
  return parseSettings({
    dataset: field('dataset').value,
    model: field('model').value,
    backend: field('backend').value,
    ...numbers,
    runs,
  });
}

// ---------------------------------------------------------------- training state

let settings: ExperimentSettings | undefined;
let backend: string | undefined;
let data: { trainExamples: number; testExamples: number; stepsPerEpoch: number } | undefined;
let metrics: EpochMetrics[][] = [];
/** Minibatch loss per global step (x = 1, 2, …), one row per run; null where not (yet) known. */
let steps: { x: number[]; ys: (number | null)[][] } = { x: [], ys: [] };
let stepMs: (number | undefined)[] = [];
let latest: { epoch: number; step: number } | undefined;
/** Per run: why it stopped early, if it did. */
let halted: (string | undefined)[] = [];
let charts: Record<string, LineChart> = {};
const notes = document.createElement('ul');
notes.id = 'run-notes';
notes.className = 'run-notes';
statusLine.after(notes);
const summary = document.createElement('div');
summary.id = 'summary';
summary.className = 'table-wrap';
notes.after(summary);

function makeCharts(s: ExperimentSettings) {
  for (const chart of Object.values(charts)) chart.destroy();
  chartsBox.replaceChildren();
  const perRun = (suffix = '', dash = false) =>
    s.runs.map((run, i) => ({
      label: `${runLabel(run, i)}${suffix}`,
      colour: RUN_COLOURS[i]!,
      dash,
    }));
  const both = s.runs.flatMap((run, i) => [
    { label: `${runLabel(run, i)} train`, colour: RUN_COLOURS[i]! },
    { label: `${runLabel(run, i)} test`, colour: RUN_COLOURS[i]!, dash: true },
  ]);
  const box = () => {
    const div = document.createElement('div');
    chartsBox.append(div);
    return div;
  };
  const perEpoch = { xLabel: 'epoch', integerX: true, points: true } as const;
  charts = {
    steps: lineChart(box(), {
      title: 'Minibatch loss per step (log scale)',
      xLabel: 'step',
      yLabel: 'loss',
      series: perRun(),
      logY: true,
      // A spike (a run on its way to diverging) would squeeze the rest into a line.
      clampY: true,
    }),
    loss: lineChart(box(), {
      ...perEpoch,
      title: 'Loss per epoch (train: running mean over the epoch, solid; test dashed)',
      yLabel: 'loss',
      series: both,
    }),
    accuracy: lineChart(box(), {
      ...perEpoch,
      title: 'Accuracy per epoch (train: running mean, solid; test dashed)',
      yLabel: 'accuracy',
      series: both,
    }),
    frobenius: lineChart(box(), {
      ...perEpoch,
      title: '‖H‖_F² (± standard error)',
      yLabel: '‖H‖_F²',
      series: perRun(),
    }),
    trace: lineChart(box(), {
      ...perEpoch,
      title: 'tr H (± standard error)',
      yLabel: 'tr H',
      series: perRun(),
    }),
    topEigenvalue: lineChart(box(), {
      ...perEpoch,
      title: 'λ₁, the eigenvalue of largest |λ| (power iteration; ± residual ‖Hv − λv‖)',
      yLabel: 'λ₁',
      series: perRun(),
    }),
  };
}

function epochData(pick: (m: EpochMetrics) => number | undefined) {
  const epochs = [
    ...new Set(
      metrics
        .flat()
        .filter((m) => pick(m) !== undefined)
        .map((m) => m.epoch),
    ),
  ].sort((a, b) => a - b);
  const ys = metrics.map((run) =>
    epochs.map((e) => {
      const v = run.find((m) => m.epoch === e);
      return v === undefined ? null : (pick(v) ?? null);
    }),
  );
  return { epochs, ys };
}

function redrawEpochCharts() {
  const train = epochData((m) => m.trainLoss);
  const test = epochData((m) => m.testLoss);
  const interleave = (a: (number | null)[][], b: (number | null)[][]) =>
    a.flatMap((row, i) => [row, b[i]!]);
  charts.loss!.setData(train.epochs, interleave(train.ys, test.ys));
  const trainAcc = epochData((m) => m.trainAccuracy);
  const testAcc = epochData((m) => m.testAccuracy);
  charts.accuracy!.setData(trainAcc.epochs, interleave(trainAcc.ys, testAcc.ys));
  for (const q of ['frobenius', 'trace', 'topEigenvalue'] as const) {
    const value = epochData((m) => m.hessian?.[q]?.estimate);
    const error = epochData((m) => m.hessian?.[q]?.standardError);
    charts[q]!.setData(value.epochs, value.ys, error.ys);
  }
}

/** Adds run `run`'s losses of global steps `last − losses.length + 1` … `last`. */
function addLosses(run: number, losses: readonly number[], last: number) {
  while (steps.x.length < last) {
    steps.x.push(steps.x.length + 1);
    for (const ys of steps.ys) ys.push(null);
  }
  losses.forEach((loss, k) => {
    steps.ys[run]![last - losses.length + k] = loss;
  });
  charts.steps!.setData(steps.x, steps.ys);
}

function renderNotes() {
  if (!settings) return;
  notes.replaceChildren(
    ...settings.runs.flatMap((run, i) => {
      if (halted[i] === undefined) return [];
      const li = document.createElement('li');
      li.style.setProperty('--run-colour', RUN_COLOURS[i]!);
      li.dataset.run = String(i);
      li.textContent = `${runLabel(run, i)}: ${halted[i]}.`;
      return [li];
    }),
  );
}

const fmt = (v: number, digits = 3) =>
  Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0)
    ? v.toExponential(2)
    : v.toPrecision(digits);
const withError = (e: { estimate: number; standardError: number } | undefined) =>
  e === undefined ? '–' : `${fmt(e.estimate)} ± ${fmt(e.standardError, 2)}`;

/** When runs end: each run's final test accuracy and last Hessian measurements, with errors. */
function renderSummary() {
  if (!settings) return;
  const s = settings;
  const table = document.createElement('table');
  table.id = 'summary-table';
  table.createCaption().textContent =
    'Summary: the last epoch of each run (± standard errors; λ₁ ± its residual)';
  table.className = 'cards';
  const headings = ['Run', 'Epochs', 'Test accuracy', 'tr H', '‖H‖_F²', 'λ₁', 'Note'];
  const head = table.createTHead().insertRow();
  for (const h of headings) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = h;
    head.append(th);
  }
  const body = table.createTBody();
  s.runs.forEach((run, i) => {
    const row = body.insertRow();
    row.dataset.run = String(i);
    const last = metrics[i]!.at(-1);
    const measured = [...metrics[i]!].reverse().find((m) => m.hessian);
    const n = data?.testExamples;
    const accuracy =
      last === undefined
        ? '–'
        : `${(100 * last.testAccuracy).toFixed(1)}%${n ? ` ± ${(100 * Math.sqrt((last.testAccuracy * (1 - last.testAccuracy)) / n)).toFixed(1)}` : ''}`;
    const at = measured ? ` (epoch ${measured.epoch})` : '';
    const cells = [
      runLabel(run, i),
      String(last?.epoch ?? 0),
      accuracy,
      withError(measured?.hessian?.trace) + at,
      withError(measured?.hessian?.frobenius) + at,
      withError(measured?.hessian?.topEigenvalue) + at,
      halted[i] ?? '',
    ];
    cells.forEach((c, k) => {
      const cell = row.insertCell();
      cell.textContent = c;
      // A phone shows each row as a card, each value under its heading (style.css).
      cell.dataset.label = headings[k]!;
    });
    row.cells[0]!.style.borderLeft = `4px solid ${RUN_COLOURS[i]!}`;
    if (last) row.dataset.testAccuracy = String(last.testAccuracy);
  });
  summary.replaceChildren(table);
}

function renderStatus() {
  if (!settings || !latest) return;
  const s = settings;
  statusLine.textContent = `Epoch ${latest.epoch}/${s.epochs}, step ${latest.step}/${data?.stepsPerEpoch ?? '?'}. ${s.runs
    .map((r, i) => {
      const label = OPTIMIZER_LABELS[r.optimizer];
      if (halted[i] !== undefined) return `${label}: ${halted[i]!.split(' (')[0]}`;
      return `${label}: ${stepMs[i]?.toFixed(1) ?? '–'} ms/step`;
    })
    .join(', ')}${backend ? ` on ${backend}` : ''}.`;
}

// ---------------------------------------------------------------- buttons

let state: 'idle' | 'loading' | 'running' | 'paused' = 'idle';

function setState(next: typeof state) {
  state = next;
  startButton.disabled = next !== 'idle';
  pauseButton.disabled = next !== 'running' && next !== 'paused';
  pauseButton.textContent = next === 'paused' ? 'Resume' : 'Pause';
  stopButton.disabled = next === 'idle';
  document.body.dataset.state = next;
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  let s: ExperimentSettings;
  try {
    s = readSettings();
  } catch (error) {
    statusLine.className = 'error';
    statusLine.textContent = (error as Error).message;
    return;
  }
  statusLine.className = '';
  writeAddress(s);
  settings = s;
  data = undefined;
  latest = undefined;
  metrics = s.runs.map(() => []);
  steps = { x: [], ys: s.runs.map(() => []) };
  stepMs = s.runs.map(() => undefined);
  halted = s.runs.map(() => undefined);
  renderNotes();
  summary.replaceChildren();
  makeCharts(s);
  landscape.setRuns(s.runs.map((r, i) => runLabel(r, i)));
  renderExports();
  setState('loading');
  send({ type: 'start', settings: s });
});
pauseButton.addEventListener('click', () =>
  send({ type: state === 'paused' ? 'resume' : 'pause' }),
);
stopButton.addEventListener('click', () => {
  send({ type: 'stop' });
  statusLine.textContent = 'Stopping after the current step…';
});

// ---------------------------------------------------------------- worker messages

const landscape = setupLandscape((request) => send(request));

function onMessage(message: Response) {
  switch (message.type) {
    case 'backend': {
      backend = message.name;
      const measured = Object.entries(message.stepMs)
        .map(([name, ms]) => `${name} ${ms.toFixed(1)} ms`)
        .join(', ');
      backendLine.textContent = `Backend: ${message.name}${measured ? ` (an SGD step measured: ${measured})` : ''}.`;
      backendLine.dataset.backend = message.name;
      backendLine.dataset.stepMs = JSON.stringify(message.stepMs);
      return;
    }
    case 'dataset':
      data = message;
      return;
    case 'status': {
      const ended = !['loading', 'running', 'paused'].includes(message.state);
      setState(ended ? 'idle' : (message.state as typeof state));
      statusLine.className = message.state === 'failed' ? 'error' : '';
      statusLine.textContent =
        message.message ??
        {
          loading: 'Loading…',
          running: 'Training…',
          paused: 'Paused.',
          stopped: 'Stopped.',
          done: 'Done.',
          idle: '',
          failed: 'The training failed.',
        }[message.state];
      statusLine.dataset.state = message.state;
      if (ended) renderSummary();
      renderExports();
      return;
    }
    case 'progress': {
      if (!settings) return;
      addLosses(message.run, message.losses, message.globalStep);
      stepMs[message.run] = message.stepMs;
      latest = { epoch: message.epoch, step: message.step };
      if (state === 'running') renderStatus();
      return;
    }
    case 'halted':
      halted[message.run] = message.message;
      renderNotes();
      renderStatus();
      return;
    case 'epoch':
      metrics[message.run]!.push(message.metrics);
      redrawEpochCharts();
      return;
    case 'landscape':
    case 'density':
      landscape.receive(message);
      return;
    case 'error':
      statusLine.className = 'error';
      statusLine.textContent = message.message;
      landscape.error(message.message);
      if (state === 'loading') setState('idle');
      return;
  }
}

function createWorker() {
  const w = new Worker(new URL('./train-worker.ts', import.meta.url), { type: 'module' });
  w.addEventListener('message', (event: MessageEvent<Response>) => onMessage(event.data));
  w.addEventListener('error', (event) => {
    // A worker that died (out of memory, a lost WebGL context) is replaced, so that the
    // controls work again; its runs' weights are gone.
    event.preventDefault();
    w.terminate();
    worker = createWorker();
    statusLine.className = 'error';
    statusLine.textContent = `The training worker failed (${event.message || 'no reason given'}); it has been restarted: start again.`;
    landscape.error(statusLine.textContent);
    landscape.setRuns([]);
    setState('idle');
  });
  return w;
}
let worker = createWorker();
function send(request: Request) {
  worker.postMessage(request);
}

// ---------------------------------------------------------------- take it away

function download(name: string, text: string, type: string) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function renderExports() {
  const box = $('#export-runs');
  if (!settings) return;
  const s = settings;
  box.replaceChildren(
    ...s.runs.map((run, i) => {
      const div = document.createElement('div');
      div.className = 'export-run';
      div.style.setProperty('--run-colour', RUN_COLOURS[i]!);
      const title = document.createElement('h3');
      title.textContent = runLabel(run, i);
      const base = `usam-${s.dataset}-${s.model}-${run.optimizer}-seed${s.seed}`;
      const csv = document.createElement('button');
      csv.type = 'button';
      csv.textContent = 'Metrics as CSV';
      csv.addEventListener('click', () =>
        download(`${base}.csv`, metricsCsv(metrics[i]!), 'text/csv'),
      );
      const json = document.createElement('button');
      json.type = 'button';
      json.textContent = 'Metrics and settings as JSON';
      json.addEventListener('click', () =>
        download(`${base}.json`, metricsJson(s, i, backend, metrics[i]!), 'application/json'),
      );
      const command = document.createElement('pre');
      command.textContent = trainCommand(s, i, backend);
      command.setAttribute('aria-label', `usam train command for run ${i + 1}`);
      const copy = document.createElement('button');
      copy.type = 'button';
      copy.textContent = 'Copy the command';
      copy.addEventListener('click', () => {
        void navigator.clipboard?.writeText(command.textContent ?? '').then(
          () => {
            copy.textContent = 'Copied';
          },
          () => {
            copy.textContent = 'Select the text to copy it';
          },
        );
      });
      const buttons = document.createElement('div');
      buttons.className = 'buttons';
      buttons.append(csv, json, copy);
      div.append(title, buttons, command);
      return div;
    }),
  );
}

setState('idle');
$('#m-sharpness-help').textContent = M_SHARPNESS_HELP;
setupToy();

if ('serviceWorker' in navigator && import.meta.env.PROD) {
  // Offline once loaded: the service worker caches every file of the build.
  void navigator.serviceWorker.register('./sw.js').catch(() => undefined);
}
