// Grids: the chosen layers' feature-map grids side by side at one step (ONE step control for every view), a
// probe-sample control, and A/B comparison (step A vs step B, or run A vs run B). Cards load their data and
// images only when visible (IntersectionObserver + loading="lazy"). The controls are built once and only
// updated, so the step slider keeps the keyboard focus while it moves every view.

import * as api from './api.js';
import {el, failure} from './util.js';

/** Which tile of a grid image lies under natural pixel (x, y): {index, channel} or null. */
export function tileAt(layout, x, y) {
  if (!layout || layout.kind !== 'grid') return null;
  const f = layout.final_down;
  const px = x * f - layout.offset_x;
  const py = y * f - layout.offset_y;
  const c = Math.floor(px / (layout.tile_w + layout.pad));
  const r = Math.floor(py / (layout.tile_h + layout.pad));
  if (c < 0 || r < 0 || c >= layout.cols || r >= layout.rows) return null;
  if (px - c * (layout.tile_w + layout.pad) >= layout.tile_w) return null; // on a separator
  if (py - r * (layout.tile_h + layout.pad) >= layout.tile_h) return null;
  const index = r * layout.cols + c;
  if (index >= layout.drawn) return null;
  return {index, channel: layout.channel_ids[index]};
}

/** Natural-pixel rectangle [x, y, w, h] of tile `index` in a grid image. */
export function tileRect(layout, index) {
  const f = layout.final_down;
  const r = Math.floor(index / layout.cols);
  const c = index % layout.cols;
  return [
    (layout.offset_x + c * (layout.tile_w + layout.pad)) / f,
    (layout.offset_y + r * (layout.tile_h + layout.pad)) / f,
    layout.tile_w / f,
    layout.tile_h / f,
  ];
}

const observer = new IntersectionObserver(
  (entries) => {
    for (const entry of entries) {
      if (entry.isIntersecting && entry.target.__load) {
        observer.unobserve(entry.target);
        const load = entry.target.__load;
        entry.target.__load = null;
        load();
      }
    }
  },
  {rootMargin: '200px'},
);

/** One grid image of (run, layer) at the kept step nearest `step`, or a note why there is none. */
function gridImage(runName, path, step, sample, label, onTile) {
  const box = el('figure', {class: 'grid', 'data-run': runName, 'data-layer': path, 'data-step': ''},
    el('figcaption', {text: `${label}loading…`}));
  const load = async () => {
    let data;
    try {
      data = await api.layer(runName, path);
    } catch (error) {
      box.replaceChildren(failure(`${label}loading ${path} of ${runName}`, error, load));
      return;
    }
    const entry = api.nearestStep(data.steps, step);
    if (!entry || !entry.blobs.length) {
      box.replaceChildren(el('figcaption', {text: `${label}no grid logged`}));
      return;
    }
    const k = Math.min(sample, entry.blobs.length - 1);
    const url = api.blobUrl(entry.blobs[k]);
    const img = el('img', {src: url, loading: 'lazy', alt: `${path} step ${entry.step}`, class: 'gridimg',
      draggable: 'false'});
    img.addEventListener('load', () => {
      // small grids shown larger (whole pixels, crisp), large ones as they are up to the card's width
      const zoom = Math.max(1, Math.round(300 / Math.max(img.naturalWidth, 1)));
      img.style.width = `${img.naturalWidth * zoom}px`;
    });
    let tries = 0;
    img.addEventListener('error', () => {
      const note = failure(`${label}the grid image of step ${entry.step}`, new Error('the PNG did not load'), () => {
        note.replaceWith(img);
        img.src = `${url}&retry=${++tries}`;
      });
      img.replaceWith(note);
    });
    img.addEventListener('click', (event) => {
      const sx = img.naturalWidth / img.clientWidth;
      const sy = img.naturalHeight / img.clientHeight;
      const hit = tileAt(entry.layout, event.offsetX * sx, event.offsetY * sy);
      if (hit) onTile(runName, path, hit.channel, k);
    });
    box.dataset.step = String(entry.step);
    const off = entry.step !== step ? ` (nearest kept step to ${step})` : '';
    const lay = entry.layout;
    const size = lay && lay.kind === 'grid'
      ? ` · ${lay.drawn}/${lay.channels} ch · ${lay.source_h}×${lay.source_w} maps shown at ` +
        `${Math.round(lay.tile_h / lay.final_down)}×${Math.round(lay.tile_w / lay.final_down)} px`
      : '';
    box.replaceChildren(img, el('figcaption', {text: `${label}step ${entry.step}${off}${size}`}));
  };
  box.__load = load;
  observer.observe(box);
  return box;
}

/**
 * The grids panel. render(state, {steps, runs, maxSamples, versions}) brings it up to date; state: {run,
 * runB, step, stepB, compare: 'none'|'step'|'run', sample, layers: [paths]}. Handlers: onStep(step),
 * onChange(partial state), onTile(run, layer, channel, sample), onRemove(path), onHistogram(run, path).
 */
export class GridsView {
  constructor(handlers) {
    this.handlers = handlers;
    this.steps = [];
    this.cardsKey = null;
    this.slider = el('input', {type: 'range', min: 0, max: 0, value: 0, class: 'step-slider', 'aria-label': 'step'});
    this.stepLabel = el('span', {class: 'step-label'});
    this.sample = el('select', {class: 'sample', 'aria-label': 'probe sample',
      onchange: (e) => handlers.onChange({sample: +e.target.value})});
    this.compare = el('select', {class: 'compare', 'aria-label': 'comparison',
      onchange: (e) => handlers.onChange({compare: e.target.value})},
    [['none', 'no comparison'], ['step', 'step A vs step B'], ['run', 'run A vs run B']].map(([v, t]) =>
      el('option', {value: v}, t)));
    this.other = el('span', {class: 'other'});
    this.slider.addEventListener('keydown', (event) => this.key(event));
    this.slider.addEventListener('input', () => this.move(+this.slider.value));
    this.cards = el('div', {class: 'cards'});
    this.hint = el('p', {class: 'hint'});
    this.element = el('section', {class: 'grids', id: 'grids'},
      el('div', {class: 'controls'}, el('b', {}, 'Step '), this.slider, this.stepLabel, this.sample, this.compare,
        this.other),
      this.hint, this.cards);
  }

  /** Arrow keys: exactly one step; Home/End: first/last; PageUp/PageDown: a tenth of the steps. */
  key(event) {
    const n = this.steps.length;
    const i = +this.slider.value;
    const page = Math.max(1, Math.round(n / 10));
    const to = {ArrowLeft: i - 1, ArrowDown: i - 1, ArrowRight: i + 1, ArrowUp: i + 1, Home: 0, End: n - 1,
      PageUp: i + page, PageDown: i - page}[event.key];
    if (to === undefined) return;
    event.preventDefault();
    this.move(Math.min(Math.max(to, 0), Math.max(n - 1, 0)));
  }

  move(index) {
    this.slider.value = String(index);
    if (this.steps.length && this.steps[index] !== this.shownStep) this.handlers.onStep(this.steps[index]);
  }

  render(state, {steps, runs, maxSamples, versions}) {
    this.steps = steps;
    this.shownStep = state.step;
    const index = Math.max(0, steps.indexOf(state.step));
    this.slider.max = String(Math.max(steps.length - 1, 0));
    this.slider.value = String(index);
    this.slider.disabled = steps.length <= 1;
    this.stepLabel.textContent = steps.length
      ? `step ${steps[index]} (${index + 1} of ${steps.length}) · ← → one step, Home / End first / last`
      : 'no steps';
    const sampleKey = String(maxSamples);
    if (this.sample.dataset.key !== sampleKey) {
      this.sample.replaceChildren(...Array.from({length: Math.max(maxSamples, 1)}, (_, i) =>
        el('option', {value: i}, `probe sample ${i + 1}`)));
      this.sample.dataset.key = sampleKey;
    }
    this.sample.value = String(Math.min(state.sample, Math.max(maxSamples, 1) - 1));
    this.compare.value = state.compare;
    const otherKey = JSON.stringify([state.compare, state.compare === 'step' ? steps : runs]);
    if (this.other.dataset.key !== otherKey) {
      this.other.replaceChildren();
      if (state.compare === 'step') {
        this.other.append(el('select', {class: 'step-b', 'aria-label': 'step B',
          onchange: (e) => this.handlers.onChange({stepB: +e.target.value})},
        steps.map((s) => el('option', {value: s}, `B: step ${s}`))));
      } else if (state.compare === 'run') {
        this.other.append(el('select', {class: 'run-b', 'aria-label': 'run B',
          onchange: (e) => this.handlers.onChange({runB: e.target.value})},
        runs.map((r) => el('option', {value: r}, `B: ${r}`))));
      }
      this.other.dataset.key = otherKey;
    }
    const b = this.other.querySelector('select');
    if (b) b.value = String(state.compare === 'step' ? state.stepB : state.runB);
    this.hint.textContent = state.layers.length
      ? 'Click a tile to follow that channel across every step.'
      : 'Click a cell of the health map (or a point of the layer profile) to show that layer\'s grids here; ' +
        'click a layer\'s name for its histogram over time.';
    const key = JSON.stringify([state.run, state.runB, state.step, state.stepB, state.compare, state.sample,
      state.layers, versions(state.run), state.compare === 'run' ? versions(state.runB) : 0]);
    if (key !== this.cardsKey) {
      this.cardsKey = key;
      this.cards.replaceChildren(...state.layers.map((path) => this.card(state, path)));
    }
  }

  card(state, path) {
    const {onTile, onRemove, onHistogram} = this.handlers;
    const row = el('div', {class: 'pair'});
    const a = state.compare === 'none' ? '' : 'A · ';
    row.append(gridImage(state.run, path, state.step, state.sample, a, onTile));
    if (state.compare === 'step') row.append(gridImage(state.run, path, state.stepB, state.sample, 'B · ', onTile));
    if (state.compare === 'run' && state.runB) {
      row.append(gridImage(state.runB, path, state.step, state.sample, `B (${state.runB}) · `, onTile));
    }
    return el('div', {class: 'card', 'data-layer': path},
      el('div', {class: 'cardhead'}, el('b', {}, path),
        el('button', {class: 'histbtn', title: 'this layer\'s activation histogram at every step',
          onclick: () => onHistogram(state.run, path)}, 'histogram over time'),
        el('button', {class: 'close', title: 'remove', onclick: () => onRemove(path)}, '×')),
      row);
  }
}
