// Grids: the chosen layers' feature-map grids side by side at one step (ONE step control for all), a
// probe-sample control, and A/B comparison (step A vs step B, or run A vs run B). Cards load their data
// and images only when visible (IntersectionObserver + loading="lazy").

import * as api from './api.js';
import {el} from './util.js';

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
  box.__load = async () => {
    const data = await api.layer(runName, path);
    const entry = api.nearestStep(data.steps, step);
    box.textContent = '';
    if (!entry || !entry.blobs.length) {
      box.append(el('figcaption', {text: `${label}no grid logged`}));
      return;
    }
    const k = Math.min(sample, entry.blobs.length - 1);
    const img = el('img', {src: api.blobUrl(entry.blobs[k]), loading: 'lazy', alt: `${path} step ${entry.step}`,
      class: 'gridimg', draggable: 'false'});
    img.addEventListener('load', () => {
      // small grids shown larger (whole pixels, crisp), large ones as they are up to the card's width
      const zoom = Math.max(1, Math.round(300 / Math.max(img.naturalWidth, 1)));
      img.style.width = `${img.naturalWidth * zoom}px`;
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
    box.append(img, el('figcaption', {text: `${label}step ${entry.step}${off}${size}`}));
  };
  observer.observe(box);
  return box;
}

/**
 * The grids panel. state: {run, runB, step, stepB, compare: 'none'|'step'|'run', sample, layers: [paths]}.
 */
export function gridsPanel(state, {steps, runs, maxSamples, onChange, onTile, onRemove}) {
  const panel = el('section', {class: 'grids', id: 'grids'});
  if (!state.layers.length) {
    panel.append(el('p', {class: 'hint'},
      'Click a row or a cell of the health map (or the layer profile) to show that layer\'s grids here.'));
    return panel;
  }
  const stepIndex = Math.max(0, steps.indexOf(state.step));
  const slider = el('input', {type: 'range', min: 0, max: Math.max(steps.length - 1, 0), value: stepIndex,
    class: 'step-slider', 'aria-label': 'step'});
  const stepLabel = el('span', {class: 'step-label', text: `step ${steps[stepIndex] ?? '-'}`});
  slider.addEventListener('input', () => (stepLabel.textContent = `step ${steps[+slider.value]}`));
  slider.addEventListener('change', () => onChange({step: steps[+slider.value]}));
  const sample = el('select', {class: 'sample', 'aria-label': 'probe sample',
    onchange: (e) => onChange({sample: +e.target.value})},
  Array.from({length: Math.max(maxSamples, 1)}, (_, i) =>
    el('option', {value: i, selected: i === state.sample}, `probe sample ${i + 1}`)));
  const compare = el('select', {class: 'compare', onchange: (e) => onChange({compare: e.target.value})},
    [['none', 'no comparison'], ['step', 'step A vs step B'], ['run', 'run A vs run B']].map(([v, t]) =>
      el('option', {value: v, selected: state.compare === v}, t)));
  const controls = el('div', {class: 'controls'}, el('b', {}, 'Step '), slider, stepLabel, sample, compare);
  if (state.compare === 'step') {
    const b = el('select', {class: 'step-b', onchange: (e) => onChange({stepB: +e.target.value})},
      steps.map((s) => el('option', {value: s, selected: s === state.stepB}, `B: step ${s}`)));
    controls.append(b);
  }
  if (state.compare === 'run') {
    const b = el('select', {class: 'run-b', onchange: (e) => onChange({runB: e.target.value})},
      runs.map((r) => el('option', {value: r, selected: r === state.runB}, `B: ${r}`)));
    controls.append(b);
  }
  panel.append(controls);
  const cards = el('div', {class: 'cards'});
  for (const path of state.layers) {
    const row = el('div', {class: 'pair'});
    const a = state.compare === 'none' ? '' : 'A · ';
    row.append(gridImage(state.run, path, state.step, state.sample, a, onTile));
    if (state.compare === 'step') row.append(gridImage(state.run, path, state.stepB, state.sample, 'B · ', onTile));
    if (state.compare === 'run' && state.runB) {
      row.append(gridImage(state.runB, path, state.step, state.sample, `B (${state.runB}) · `, onTile));
    }
    cards.append(el('div', {class: 'card', 'data-layer': path},
      el('div', {class: 'cardhead'}, el('b', {}, path),
        el('button', {class: 'close', title: 'remove', onclick: () => onRemove(path)}, '×')),
      row));
  }
  panel.append(cards,
    el('div', {class: 'hint'}, 'Click a tile to follow that channel across every step.'));
  return panel;
}
