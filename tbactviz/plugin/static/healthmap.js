// Health map (layers x steps, one canvas per run) and layer profile (a figure against depth).

import {colour, el, fmt, lineChart, PALETTE, rangeOf} from './util.js';

const LABEL_W = 240;
const ROW_H = 14;
const HEAD_H = 18;

/**
 * One run's health map: rows = layers in model order (nested paths indented), columns = logged steps,
 * cells coloured by `figure` on [low, high]. Hover shows the value; a click calls onPick(path, step).
 * The canvas carries data-* attributes describing its geometry (used by tests and by people debugging).
 */
export function healthMap(data, figure, [low, high], {width, chosen, onPick}) {
  const matrix = data.figures[figure] || [];
  const layers = data.layers;
  const steps = data.steps;
  const cellW = Math.max(4, Math.min(28, Math.floor((width - LABEL_W - 8) / Math.max(steps.length, 1))));
  const w = LABEL_W + cellW * steps.length + 8;
  const h = HEAD_H + ROW_H * layers.length;
  const dpr = window.devicePixelRatio || 1;
  const canvas = el('canvas', {
    class: 'healthmap',
    'data-run': data.run,
    'data-figure': figure,
    'data-rows': layers.length,
    'data-cols': steps.length,
    'data-cells': layers.length * steps.length,
    'data-left': LABEL_W,
    'data-top': HEAD_H,
    'data-cell-w': cellW,
    'data-cell-h': ROW_H,
  });
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  const g = canvas.getContext('2d');
  g.scale(dpr, dpr);
  g.font = '11px sans-serif';
  g.textBaseline = 'middle';
  // step labels: first, last and a few between
  g.fillStyle = '#555';
  const every = Math.max(1, Math.ceil(36 / cellW));
  const last = steps.length - 1;
  steps.forEach((s, j) => {
    if ((j % every === 0 && last - j >= every) || j === last) g.fillText(String(s), LABEL_W + j * cellW, HEAD_H / 2);
  });
  const span = high - low || 1;
  layers.forEach((layer, i) => {
    const y = HEAD_H + i * ROW_H;
    g.fillStyle = chosen.has(layer.path) ? '#e8710a' : '#333';
    const name = layer.path.split('/').pop();
    g.fillText(name, 4 + 12 * layer.depth, y + ROW_H / 2, LABEL_W - 8 - 12 * layer.depth);
    const row = matrix[i] || [];
    for (let j = 0; j < steps.length; j++) {
      const v = row[j];
      g.fillStyle = v === null || v === undefined ? '#ddd' : colour((v - low) / span);
      g.fillRect(LABEL_W + j * cellW, y, cellW - 1, ROW_H - 1);
    }
  });
  const tip = el('div', {class: 'tip', hidden: true});
  const cellAt = (event) => {
    const r = canvas.getBoundingClientRect();
    const x = event.clientX - r.left - LABEL_W;
    const i = Math.floor((event.clientY - r.top - HEAD_H) / ROW_H);
    const j = Math.floor(x / cellW);
    if (i < 0 || i >= layers.length) return null;
    return {i, j: x < 0 ? -1 : j < steps.length ? j : -1};
  };
  canvas.addEventListener('mousemove', (event) => {
    const c = cellAt(event);
    if (!c) {
      tip.hidden = true;
      return;
    }
    const layer = layers[c.i];
    const value = c.j >= 0 ? (matrix[c.i] || [])[c.j] : undefined;
    tip.textContent =
      c.j >= 0 ? `${layer.path} @ step ${steps[c.j]}: ${figure} = ${fmt(value)}` : `${layer.path} (click: show its grids)`;
    tip.style.left = `${event.clientX + 14}px`;
    tip.style.top = `${event.clientY + 10}px`;
    tip.hidden = false;
  });
  canvas.addEventListener('mouseleave', () => (tip.hidden = true));
  canvas.addEventListener('click', (event) => {
    const c = cellAt(event);
    if (c) onPick(layers[c.i].path, c.j >= 0 ? steps[c.j] : null);
  });
  return el('div', {class: 'mapwrap'}, canvas, tip);
}

/** Colour bar of the current figure's scale. */
export function legend(figure, [low, high]) {
  const bar = el('canvas', {class: 'legend', width: 200, height: 10});
  const g = bar.getContext('2d');
  for (let x = 0; x < 200; x++) {
    g.fillStyle = colour(x / 199);
    g.fillRect(x, 0, 1, 10);
  }
  return el('span', {class: 'legendwrap'}, `${figure}: ${fmt(low)} `, bar, ` ${fmt(high)}`,
    el('span', {class: 'swatch'}), ' not logged');
}

/**
 * Layer profile: the figure against depth (layer index), one line per run and chosen step, for post-hoc
 * runs (one step) or to compare steps of a training run.
 */
export function profile(datasets, figure, stepsFor, {onPick}) {
  const series = [];
  for (const data of datasets) {
    const matrix = data.figures[figure] || [];
    for (const step of stepsFor(data)) {
      const j = data.steps.indexOf(step);
      if (j < 0) continue;
      series.push({
        label: `${data.run} @ step ${step}`,
        colour: PALETTE[series.length % PALETTE.length],
        points: data.layers.map((layer, i) => [i, (matrix[i] || [])[j] ?? null]),
      });
    }
  }
  const chart = lineChart(series, {width: 760, height: 240, xLabel: 'layer (model order)', yLabel: figure});
  chart.classList.add('profile');
  chart.setAttribute('data-series', series.length);
  const first = datasets[0];
  chart.addEventListener('click', (event) => {
    if (!first || !first.layers.length) return;
    const r = chart.getBoundingClientRect();
    const t = (event.clientX - r.left - 48) / (r.width - 56);
    const i = Math.round(t * (first.layers.length - 1));
    if (i >= 0 && i < first.layers.length) onPick(first.layers[i].path, first.steps[first.steps.length - 1]);
  });
  const keys = el('div', {class: 'keys'},
    series.map((s) => el('span', {class: 'key', style: `color:${s.colour}`}, `— ${s.label}`)));
  return el('div', {class: 'profilewrap'}, chart, keys,
    el('div', {class: 'hint'}, 'Click the chart to open the layer at that depth.'));
}

export {rangeOf};
