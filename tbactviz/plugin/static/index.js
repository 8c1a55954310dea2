// The Activations tab: entry point of TensorBoard's dynamic-plugin iframe (it calls render()).
// Plain ES modules, no build step, nothing loaded from outside this server.

import * as api from './api.js';
import {drilldown} from './drilldown.js';
import {gridsPanel} from './grids.js';
import {healthMap, legend, profile, rangeOf} from './healthmap.js';
import {el} from './util.js';

const state = {
  runs: [], // every run with tbactviz data
  selected: [], // runs shown in the health map / profile
  data: new Map(), // run -> /run payload
  figure: null,
  view: 'map', // 'map' | 'profile'
  grids: {run: null, runB: null, step: null, stepB: null, compare: 'none', sample: 0, layers: []},
  drill: null, // {run, layer, channel, sample, step}
  sampling: {},
  logdir: '',
};

const root = el('div', {class: 'app'});
const header = el('header', {class: 'top'});
const banner = el('div', {class: 'banner', hidden: true});
const health = el('section', {class: 'health'});
const gridsBox = el('div', {class: 'gridsbox'});
const drillBox = el('div', {class: 'drillbox'});

export async function render() {
  document.head.append(el('link', {rel: 'stylesheet', href: './static/style.css'}));
  document.body.append(root);
  root.append(header, banner, health, gridsBox, drillBox);
  health.textContent = 'Loading…';
  const t0 = performance.now();
  const listing = await api.runs();
  state.runs = listing.runs;
  state.sampling = listing.sampling;
  state.logdir = listing.logdir || 'LOGDIR';
  if (!state.runs.length) {
    health.textContent = 'No tbactviz data in these runs. Log some with tbactviz.ActivationLogger or ' +
      'ActivationCallback, or run `tbactviz demo`.';
    return;
  }
  state.selected = state.runs.slice(0, 4);
  await loadSelected();
  const figures = allFigures();
  state.figure = figures.includes('dead_channels') ? 'dead_channels' : figures[0] || null;
  state.view = state.selected.every((r) => state.data.get(r).steps.length <= 1) ? 'profile' : 'map';
  const first = state.data.get(state.selected[0]);
  state.grids.run = state.selected[0];
  state.grids.runB = state.runs.find((r) => r !== state.grids.run) || state.grids.run;
  const steps = gridSteps(first);
  state.grids.step = steps[steps.length - 1] ?? 0;
  state.grids.stepB = steps[0] ?? 0;
  drawHeader();
  drawHealth();
  drawGrids();
  document.body.dataset.ready = '1';
  document.body.dataset.openMs = String(Math.round(performance.now() - t0));
}

async function loadSelected() {
  await Promise.all(state.selected.map(async (r) => state.data.set(r, await api.run(r))));
}

function allFigures() {
  const names = new Set();
  for (const r of state.selected) for (const f of Object.keys(state.data.get(r)?.figures || {})) names.add(f);
  return [...names].sort();
}

function gridSteps(data) {
  return data && data.image_steps.length ? data.image_steps : data ? data.steps : [];
}

function drawHeader() {
  header.textContent = '';
  const runBoxes = state.runs.map((r) => el('label', {class: 'run'},
    el('input', {type: 'checkbox', checked: state.selected.includes(r), onchange: async (e) => {
      state.selected = e.target.checked ? [...state.selected, r] : state.selected.filter((x) => x !== r);
      state.selected.sort((a, b) => state.runs.indexOf(a) - state.runs.indexOf(b));
      await loadSelected();
      drawHeader();
      drawHealth();
    }}), ` ${r}`));
  const figure = el('select', {class: 'figure', 'aria-label': 'figure', onchange: (e) => {
    state.figure = e.target.value;
    drawHealth();
  }}, allFigures().map((f) => el('option', {value: f, selected: f === state.figure}, f)));
  const view = el('select', {class: 'view', 'aria-label': 'view', onchange: (e) => {
    state.view = e.target.value;
    drawHealth();
  }}, [['map', 'health map (layers × steps)'], ['profile', 'layer profile (figure vs depth)']].map(([v, t]) =>
    el('option', {value: v, selected: v === state.view}, t)));
  header.append(el('h1', {}, 'Activations'), el('span', {class: 'runs'}, runBoxes),
    el('label', {}, ' colour by ', figure), el('label', {}, ' view ', view));
  drawBanner();
}

function drawBanner() {
  const notes = [];
  for (const r of state.selected) {
    const d = state.data.get(r);
    if (d && d.dropped.images > 0) {
      notes.push(`${r}: TensorBoard kept ${d.image_steps.length} of ${d.steps.length} logged steps of the grids`);
    }
  }
  banner.hidden = !notes.length;
  banner.textContent = '';
  if (notes.length) {
    banner.append(el('b', {}, 'Some steps are hidden by TensorBoard\'s sampling. '), notes.join('; '), '. ',
      'Plain tensorboard keeps 10 image steps per tag (and 10, or 100 with its fast data server, of ' +
      'tbactviz\'s own summaries); the event files keep every step. To see them all, start ',
      el('code', {}, `tbactviz board --logdir ${state.logdir}`), ' or pass ',
      el('code', {}, '--samples_per_plugin images=100000,tbactviz=100000'), ' to tensorboard.');
  }
}

function drawHealth() {
  health.textContent = '';
  const datasets = state.selected.map((r) => state.data.get(r)).filter(Boolean);
  if (!state.figure) {
    health.append(el('p', {class: 'hint'}, 'No health figures logged (stats=False).'));
    return;
  }
  const range = rangeOf(state.figure, datasets.map((d) => d.figures[state.figure] || []));
  health.append(el('div', {class: 'legendrow'}, legend(state.figure, range)));
  const steps = (d) => [...new Set([d.steps[0], state.grids.run === d.run ? state.grids.step : null,
    d.steps[d.steps.length - 1]].filter((s) => s !== null && s !== undefined && d.steps.includes(s)))];
  // post-hoc runs (one step) always show as a layer profile; in the profile view, every run does
  const single = datasets.filter((d) => state.view === 'profile' || d.steps.length <= 1);
  if (single.length) {
    health.append(el('h2', {}, `Layer profile: ${single.map((d) => d.run).join(', ')}`,
      el('span', {class: 'hint'}, ` ${state.figure} against depth`)),
    profile(single, state.figure, steps, {onPick: (path, step) => pick(single[0].run, path, step)}));
  }
  const width = Math.max(600, health.clientWidth || document.body.clientWidth || 900);
  const chosen = new Set(state.grids.layers);
  for (const d of datasets.filter((x) => !single.includes(x))) {
    health.append(el('h2', {}, d.run, el('span', {class: 'hint'},
      ` ${d.layers.length} layers × ${d.steps.length} steps · hover a cell for its value, click to open it`)),
    healthMap(d, state.figure, range, {width, chosen, onPick: (path, step) => pick(d.run, path, step)}));
  }
}

function pick(run, path, step) {
  const g = state.grids;
  if (g.run !== run) {
    g.run = run;
    g.runB = state.runs.find((r) => r !== run) || run;
  }
  g.layers = [path, ...g.layers.filter((p) => p !== path)];
  if (step !== null && step !== undefined) g.step = step;
  drawGrids();
  if (state.view === 'map') drawHealth();
  gridsBox.scrollIntoView({behavior: 'instant', block: 'start'});
}

function drawGrids() {
  const g = state.grids;
  const data = state.data.get(g.run);
  const maxSamples = Math.max(1, ...(data ? data.layers.map((l) => l.images) : [1]));
  gridsBox.textContent = '';
  gridsBox.append(gridsPanel(g, {
    steps: gridSteps(data),
    runs: state.runs,
    maxSamples,
    onChange: async (change) => {
      Object.assign(g, change);
      if (change.runB && !state.data.has(change.runB)) state.data.set(change.runB, await api.run(change.runB));
      drawGrids();
      if (state.view === 'profile' && change.step !== undefined) drawHealth();
    },
    onTile: (run, layer, channel, sample) => openDrill({run, layer, channel, sample, step: g.step}),
    onRemove: (path) => {
      g.layers = g.layers.filter((p) => p !== path);
      drawGrids();
    },
  }));
}

async function openDrill(drill) {
  state.drill = drill;
  drillBox.textContent = 'Loading…';
  const panel = await drilldown(drill, {onClose: () => {
    state.drill = null;
    drillBox.textContent = '';
  }});
  drillBox.textContent = '';
  drillBox.append(panel);
  drillBox.scrollIntoView({behavior: 'instant', block: 'start'});
}
