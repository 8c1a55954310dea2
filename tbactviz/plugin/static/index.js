// The Activations tab: entry point of TensorBoard's dynamic-plugin iframe (it calls render()).
// Plain ES modules, no build step, nothing loaded from outside this server.

import * as api from './api.js';
import {DrillView} from './drilldown.js';
import {GridsView} from './grids.js';
import {healthMap, legend} from './healthmap.js';
import {HistView} from './histtime.js';
import {follow} from './live.js';
import {profile} from './profile.js';
import {el, failure, rangeOf} from './util.js';

/** Runs ticked when the tab opens (the selector says how many exist and ticks all in one click). */
const FIRST_SHOWN = 4;

const state = {
  runs: [], // every run with tbactviz data
  selected: [], // runs shown in the health map / profile
  allTicked: false, // every run is ticked: runs that appear later are ticked too
  userChose: false, // the user changed which runs are ticked: new runs are no longer ticked by default
  data: new Map(), // run -> /run payload
  failed: new Map(), // run -> the error of its last /run request
  versions: new Map(), // run -> how many times new steps of it were fetched
  latest: {}, // /latest: run -> {step, wall_time, layers}
  figure: null,
  view: 'map', // 'map' | 'profile'
  grids: {run: null, runB: null, step: null, stepB: null, compare: 'none', sample: 0, layers: []},
  sampling: {},
  logdir: '',
  reloadInterval: null,
  live: {following: false, updates: 0, error: null, at: null, hooked: false, period: null},
};

const root = el('div', {class: 'app'});
const header = el('header', {class: 'top'});
const banner = el('div', {class: 'banner', hidden: true});
const health = el('section', {class: 'health'});
const histBox = el('div', {class: 'histbox'});
const gridsBox = el('div', {class: 'gridsbox'});
const drillBox = el('div', {class: 'drillbox'});
const liveBox = el('span', {class: 'live'});
let menu = null;

const grids = new GridsView({
  onStep: (step) => setStep(step),
  onChange: async (change) => {
    Object.assign(state.grids, change);
    if (change.runB && !state.data.has(change.runB)) await loadRun(change.runB);
    drawGrids();
  },
  onTile: (run, layer, channel, sample) => drill.open({run, layer, channel, sample}, state.grids.step),
  onRemove: (path) => {
    state.grids.layers = state.grids.layers.filter((p) => p !== path);
    drawGrids();
    drawHealth();
  },
  onHistogram: (run, path) => openHistogram(run, path),
});
const drill = new DrillView(drillBox, {onClose: () => {}, onStep: (step) => setStep(step)});
const hist = new HistView(histBox, {onClose: () => {}, onOpen: (run, path) => openHistogram(run, path)});

export async function render() {
  document.head.append(el('link', {rel: 'stylesheet', href: './static/style.css'}));
  document.body.append(root);
  root.append(header, banner, health, histBox, gridsBox, drillBox);
  gridsBox.append(grids.element);
  document.addEventListener('click', (event) => {
    if (menu && !menu.contains(event.target)) closeMenu();
  });
  document.addEventListener('keydown', (event) => event.key === 'Escape' && closeMenu());
  let resizing = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      drawHealth();
      if (hist.data) hist.redraw();
    }, 150);
  });
  await start();
}

/** Load the run list and the selected runs, draw everything, then follow the runs as they are written. */
async function start() {
  const t0 = performance.now();
  health.replaceChildren(el('p', {class: 'loading'}, 'Loading…'));
  let listing;
  let latest;
  try {
    // where the runs stand now, so that the first check for new steps has something to compare with
    // (best effort: without it, that check fetches the shown runs once more)
    [listing, latest] = await Promise.all([api.runs(), api.latest().catch(() => ({runs: {}}))]);
  } catch (error) {
    health.replaceChildren(failure('Loading the list of runs', error, start));
    return;
  }
  state.sampling = listing.sampling;
  state.logdir = listing.logdir || 'LOGDIR';
  state.reloadInterval = listing.reload_interval;
  state.latest = latest.runs;
  await adopt(listing.runs);
  if (!state.live.following) {
    const live = follow(refresh, state.reloadInterval);
    Object.assign(state.live, {following: true, hooked: live.hooked, period: live.period});
  }
  drawLive();
  document.body.dataset.ready = '1';
  document.body.dataset.openMs = String(Math.round(performance.now() - t0));
}

/** Take `runs` as the run list (first time, or when the first runs appear) and draw the tab. */
async function adopt(runs) {
  state.runs = runs;
  if (!runs.length) {
    header.replaceChildren(el('h1', {}, 'Activations'), liveBox);
    health.replaceChildren(el('p', {}, 'No tbactviz data in these runs yet. Log some with ' +
      'tbactviz.ActivationLogger or ActivationCallback, or run `tbactviz demo`; runs appear here as they are ' +
      'written.'));
    return;
  }
  state.selected = runs.slice(0, FIRST_SHOWN);
  state.allTicked = runs.length <= FIRST_SHOWN;
  await Promise.all(state.selected.map(loadRun));
  const figures = allFigures();
  state.figure = figures.includes('dead_channels') ? 'dead_channels' : figures[0] || null;
  const loaded = state.selected.map((r) => state.data.get(r)).filter(Boolean);
  state.view = loaded.length && loaded.every((d) => d.steps.length <= 1) ? 'profile' : 'map';
  const g = state.grids;
  g.run = loaded.length ? loaded[0].run : state.selected[0];
  g.runB = state.runs.find((r) => r !== g.run) || g.run;
  const steps = gridSteps(state.data.get(g.run));
  g.step = steps[steps.length - 1] ?? 0;
  g.stepB = steps[0] ?? 0;
  drawHeader();
  drawHealth();
  drawGrids();
}

async function loadRun(name) {
  try {
    state.data.set(name, await api.run(name));
    state.failed.delete(name);
  } catch (error) {
    state.failed.set(name, error);
  }
}

function allFigures() {
  const names = new Set();
  for (const r of state.selected) for (const f of Object.keys(state.data.get(r)?.figures || {})) names.add(f);
  return [...names].sort();
}

function gridSteps(data) {
  return data && data.image_steps.length ? data.image_steps : data ? data.steps : [];
}

// -- header: runs, figure, view, live status ------------------------------------------------------------

async function select(runs) {
  state.userChose = true;
  state.selected = state.runs.filter((r) => runs.includes(r));
  state.allTicked = state.selected.length === state.runs.length;
  await Promise.all(state.selected.filter((r) => !state.data.has(r)).map(loadRun));
  if (!state.figure) state.figure = allFigures().includes('dead_channels') ? 'dead_channels' : allFigures()[0] || null;
  drawHeader();
  drawHealth();
}

function drawHeader() {
  const boxes = state.runs.map((r) => el('label', {class: 'run'},
    el('input', {type: 'checkbox', checked: state.selected.includes(r), onchange: (e) =>
      select(e.target.checked ? [...state.selected, r] : state.selected.filter((x) => x !== r))}), ` ${r}`));
  const n = state.runs.length;
  const count = el('span', {class: 'runcount'}, `${state.selected.length} of ${n} run${n === 1 ? '' : 's'} shown`);
  const all = el('button', {class: 'allruns', disabled: state.selected.length === n, onclick: () => select(state.runs)},
    `show all ${n}`);
  const none = el('button', {class: 'noruns', disabled: !state.selected.length, onclick: () => select([])}, 'none');
  const figure = el('select', {class: 'figure', 'aria-label': 'figure', onchange: (e) => {
    state.figure = e.target.value;
    drawHealth();
  }}, allFigures().map((f) => el('option', {value: f, selected: f === state.figure}, f)));
  const view = el('select', {class: 'view', 'aria-label': 'view', onchange: (e) => {
    state.view = e.target.value;
    drawHealth();
  }}, [['map', 'health map (layers × steps)'], ['profile', 'layer profile (figure vs depth)']].map(([v, t]) =>
    el('option', {value: v, selected: v === state.view}, t)));
  header.replaceChildren(el('h1', {}, 'Activations'),
    el('div', {class: 'runsel'}, el('div', {class: 'runhead'}, el('b', {}, 'Runs '), count, ' ', all, ' ', none),
      el('div', {class: 'runs'}, boxes)),
    el('label', {}, 'colour by ', figure), el('label', {}, 'view ', view), liveBox);
  drawBanner();
}

function drawLive() {
  const {error, at, updates, period, hooked} = state.live;
  liveBox.dataset.updates = String(updates);
  const every = period > 0 ? `every ${period} s` : 'when TensorBoard reloads';
  liveBox.className = error ? 'live failing' : 'live';
  liveBox.textContent = error
    ? `● live updates failed (${error.message}); trying again ${every}`
    : `● live: checks for new steps ${every}${hooked ? ' and on TensorBoard\'s reload' : ''}` +
      (at ? `, last ${at.toLocaleTimeString()}` : '');
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

// -- health map and layer profile -----------------------------------------------------------------------

function drawHealth() {
  if (!state.runs.length) return;
  const parts = [];
  const datasets = state.selected.map((r) => state.data.get(r)).filter(Boolean);
  for (const r of state.selected.filter((x) => state.failed.has(x) || !state.data.has(x))) {
    parts.push(el('h2', {}, r), state.failed.has(r)
      ? failure(`Loading run ${r}`, state.failed.get(r), async () => {
        await loadRun(r);
        drawHeader();
        drawHealth();
      })
      : el('p', {class: 'loading'}, 'Loading…'));
  }
  if (!state.selected.length) parts.push(el('p', {class: 'hint'}, 'No run ticked: tick one above.'));
  else if (!state.figure) parts.push(el('p', {class: 'hint'}, 'No health figures logged (stats=False).'));
  if (!state.figure || !datasets.length) {
    health.replaceChildren(...parts);
    return;
  }
  const width = Math.max(480, (health.clientWidth || document.body.clientWidth || 900) - 4);
  const range = rangeOf(state.figure, datasets.map((d) => d.figures[state.figure] || []));
  parts.push(el('div', {class: 'legendrow'}, legend(state.figure, range)));
  const g = state.grids;
  const stepsFor = (d) => [...new Set([d.steps[0], g.run === d.run ? g.step : null, d.steps[d.steps.length - 1]]
    .filter((s) => s !== null && s !== undefined && d.steps.includes(s)))];
  // post-hoc runs (one step) always show as a layer profile; in the profile view, every run does
  const single = datasets.filter((d) => state.view === 'profile' || d.steps.length <= 1);
  if (single.length) {
    parts.push(el('h2', {}, `Layer profile: ${single.map((d) => d.run).join(', ')}`,
      el('span', {class: 'hint'}, ` ${state.figure} against depth`)),
    profile(single, state.figure, stepsFor, {width, onPick: (run, path, step) => pick(run, path, step)}));
  }
  const chosen = new Set(g.layers);
  for (const d of datasets.filter((x) => !single.includes(x))) {
    parts.push(el('h2', {}, d.run, el('span', {class: 'hint'},
      ` ${d.layers.length} layers × ${d.steps.length} steps · hover a cell for its value, click it to open ` +
      'that layer at that step; click a layer\'s name (or right-click its row) for its histogram over time')),
    healthMap(d, state.figure, range, {width, chosen, step: g.run === d.run ? g.step : null,
      onPick: (path, step) => pick(d.run, path, step), onRow: (path, event) => rowMenu(d.run, path, event)}));
  }
  health.replaceChildren(...parts);
}

function closeMenu() {
  if (menu) menu.remove();
  menu = null;
}

/** A layer's menu (from its row of a health map): its grids, its histogram over time. */
function rowMenu(run, path, event) {
  closeMenu();
  event.stopPropagation();
  const item = (text, cls, action) => el('button', {class: cls, onclick: (e) => {
    e.stopPropagation();
    closeMenu();
    action();
  }}, text);
  menu = el('div', {class: 'rowmenu', role: 'menu', 'data-layer': path, style:
    `left:${event.clientX + 4}px;top:${event.clientY + 4}px`},
  el('div', {class: 'menuhead'}, path),
  item('Show its grids', 'menu-grids', () => pick(run, path, null)),
  item('Histogram over time', 'menu-hist', () => openHistogram(run, path)));
  root.append(menu);
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
  drawHealth();
  followStep();
  gridsBox.scrollIntoView({behavior: 'instant', block: 'start'});
}

async function openHistogram(run, path) {
  const data = state.data.get(run);
  const layers = data ? data.layers.map((l) => l.path) : [path];
  const pending = hist.open({run, layer: path, layers}, state.grids.run === run ? state.grids.step : null);
  histBox.scrollIntoView({behavior: 'instant', block: 'start'});
  await pending;
}

// -- one step for every view ----------------------------------------------------------------------------

function drawGrids() {
  const g = state.grids;
  const data = state.data.get(g.run);
  const maxSamples = Math.max(1, ...(data ? data.layers.map((l) => l.images) : [1]));
  grids.render(g, {steps: gridSteps(data), runs: state.runs, maxSamples,
    versions: (r) => state.versions.get(r) || 0});
}

/** The step slider moved (or a filmstrip frame was clicked): every view follows. */
function setStep(step) {
  state.grids.step = step;
  drawGrids();
  if (state.view === 'profile') drawHealth();
  followStep();
}

/** The drill-down, and the histogram over time and health map of the grids' run, at the slider's step. */
function followStep() {
  const {run, step} = state.grids;
  if (drill.drill) drill.setStep(step);
  if (hist.target) hist.setStep(hist.target.run === run ? step : null);
  for (const wrap of health.querySelectorAll('.mapwrap')) {
    if (wrap.setStep) wrap.setStep(wrap.dataset.run === run ? step : null);
  }
}

// -- live: new steps and new runs while the page is open ------------------------------------------------

const same = (a, b) => a && b && a.step === b.step && a.wall_time === b.wall_time && a.layers === b.layers;

async function refresh() {
  let latest;
  try {
    latest = (await api.latest()).runs;
  } catch (error) {
    state.live.error = error;
    drawLive();
    return;
  }
  state.live.error = null;
  state.live.at = new Date();
  const names = Object.keys(latest).sort();
  const added = names.filter((r) => !state.runs.includes(r));
  const changed = names.filter((r) => state.runs.includes(r) && !same(latest[r], state.latest[r]));
  state.latest = latest;
  if (!added.length && !changed.length) {
    drawLive();
    return;
  }
  const scroll = document.scrollingElement ? document.scrollingElement.scrollTop : 0;
  if (!state.runs.length) {
    await adopt(names);
  } else {
    for (const r of changed) {
      api.forgetRun(r);
      state.versions.set(r, (state.versions.get(r) || 0) + 1);
    }
    state.runs = [...state.runs, ...added].sort();
    // new runs are ticked when every run is, or (until the user picks runs) up to FIRST_SHOWN runs
    const tick = added.filter((_, i) => state.allTicked || (!state.userChose && state.selected.length + i < FIRST_SHOWN));
    state.selected = state.runs.filter((r) => state.selected.includes(r) || tick.includes(r));
    const g = state.grids;
    const wasLast = (() => {
      const steps = gridSteps(state.data.get(g.run));
      return steps.length && g.step === steps[steps.length - 1];
    })();
    const used = new Set([...state.selected, g.run, g.compare === 'run' ? g.runB : null,
      drill.drill && drill.drill.run, hist.target && hist.target.run]);
    await Promise.all([...used].filter((r) => r && (changed.includes(r) || !state.data.has(r))).map(loadRun));
    if (wasLast) { // the slider was on the newest step: it stays on the newest
      const steps = gridSteps(state.data.get(g.run));
      g.step = steps[steps.length - 1] ?? g.step;
    }
    drawHeader();
    drawHealth();
    drawGrids();
    const reloads = [];
    if (drill.drill && changed.includes(drill.drill.run)) reloads.push(drill.refresh());
    if (hist.target && changed.includes(hist.target.run)) reloads.push(hist.refresh());
    await Promise.all(reloads);
    followStep();
  }
  if (document.scrollingElement) document.scrollingElement.scrollTop = scroll;
  state.live.updates += 1;
  drawLive();
}
