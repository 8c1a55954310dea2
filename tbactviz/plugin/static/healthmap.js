// Health map: layers x steps, one per run. Sized to the page: the cells fill the available width (at least
// 8 px, larger for small runs), the layer names (parent path muted, own name dark) stay on the left while the
// steps scroll, step labels are thinned by their measured width.

import {NO_FINITE_COLOUR, colour, el, fmt, hidpiCanvas, noFinite, splitPath, textWidths, thinned, tooltip} from './util.js';

const FONT = '11px sans-serif';
const HEAD_H = 20;
const MIN_CELL = 8;
const MAX_CELL_W = 200;
const MAX_ROW_H = 36;
const MIN_ROW_H = 12; // 11-px names stay readable on every row
const MAP_H = 360; // a small run's rows grow until the map is about this tall

/** The label of one row, cut from the left of its parent path when it is wider than `room`. */
function rowLabel(path, room) {
  const [parent, name] = splitPath(path);
  const [wp, wn] = textWidths([parent, name], FONT);
  if (wp + wn <= room || !parent) return [parent, name];
  let cut = parent;
  while (cut.length > 1 && textWidths([`…${cut}`], FONT)[0] + wn > room) cut = cut.slice(1);
  return [cut.length > 1 ? `…${cut}` : '', name];
}

/**
 * One run's health map: rows = layers in model order, columns = logged steps, cells coloured by `figure` on
 * [low, high]. Hover shows the value; a click on a cell calls onPick(path, step); a click on a layer's name
 * or a right click on its row calls onRow(path, event) (the row's menu). Returns the map's element, whose
 * setStep(step) moves the marker of the step shown below. The cells' canvas carries data-* attributes with
 * its geometry (used by tests and by people debugging) and data-draw-ms, the time it took to draw.
 */
export function healthMap(data, figure, [low, high], {width, chosen, step, onPick, onRow}) {
  const t0 = performance.now();
  const matrix = data.figures[figure] || [];
  const {layers, steps} = data;
  const nSteps = Math.max(steps.length, 1);
  const widest = Math.max(0, ...textWidths(layers.map((l) => l.path), FONT));
  const labelW = Math.round(Math.min(Math.max(widest + 16, 96), Math.max(160, width * 0.3)));
  const cellW = Math.min(MAX_CELL_W, Math.max(MIN_CELL, Math.floor((width - labelW - 4) / nSteps)));
  const rowH = Math.min(MAX_ROW_H, Math.max(MIN_ROW_H, Math.floor(MAP_H / Math.max(layers.length, 1))));
  const h = HEAD_H + rowH * layers.length;
  const w = cellW * steps.length;
  const sized = (canvas, cw, ch) => {
    const g = hidpiCanvas(canvas, cw, ch);
    g.font = FONT;
    g.textBaseline = 'middle';
    return g;
  };
  // the layer names
  const names = el('canvas', {class: 'maplabels', 'data-label-w': labelW});
  const gl = sized(names, labelW, h);
  gl.fillStyle = '#fff';
  gl.fillRect(0, 0, labelW, h);
  const drawn = layers.map((layer) => rowLabel(layer.path, labelW - 12));
  names.dataset.labels = JSON.stringify(drawn.map(([parent, name]) => parent + name));
  layers.forEach((layer, i) => {
    const y = HEAD_H + i * rowH + rowH / 2;
    const [parent, name] = drawn[i];
    const [wp] = textWidths([parent], FONT);
    gl.fillStyle = '#9e9e9e';
    gl.fillText(parent, 4, y);
    gl.fillStyle = chosen.has(layer.path) ? '#e8710a' : '#212121';
    gl.fillText(name, 4 + wp, y);
  });
  // the cells
  const canvas = el('canvas', {
    class: 'healthmap',
    'data-run': data.run,
    'data-figure': figure,
    'data-rows': layers.length,
    'data-cols': steps.length,
    'data-cells': layers.length * steps.length,
    'data-left': 0,
    'data-top': HEAD_H,
    'data-cell-w': cellW,
    'data-cell-h': rowH,
    'data-label-w': labelW,
  });
  const g = sized(canvas, Math.max(w, 1), h);
  g.fillStyle = '#555';
  const labels = steps.map(String);
  const labelWidths = textWidths(labels, FONT);
  const shown = thinned(steps.length, cellW, Math.max(0, ...labelWidths));
  canvas.dataset.stepLabels = shown.map((j) => labels[j]).join(',');
  for (const j of shown) {
    const x = Math.min(Math.max(j * cellW + cellW / 2 - labelWidths[j] / 2, 0), w - labelWidths[j]);
    g.fillText(labels[j], x, HEAD_H / 2);
  }
  const span = high - low || 1;
  const gap = cellW >= 12 ? 1 : 0;
  const empty = noFinite(data); // (i, step) -> the layer had no finite value there
  let emptyCells = 0;
  for (let i = 0; i < layers.length; i++) {
    const y = HEAD_H + i * rowH;
    const row = matrix[i] || [];
    for (let j = 0; j < steps.length; j++) {
      const v = row[j];
      const missing = v === null || v === undefined;
      const none = missing && empty(i, steps[j]);
      emptyCells += none ? 1 : 0;
      g.fillStyle = none ? NO_FINITE_COLOUR : missing ? '#e0e0e0' : colour((v - low) / span);
      g.fillRect(j * cellW, y, cellW - gap, rowH - 1);
    }
  }
  canvas.dataset.noFiniteCells = String(emptyCells);
  const marker = el('div', {class: 'stepmark', hidden: true});
  const tip = tooltip();
  const rowAt = (event, target) => {
    const r = target.getBoundingClientRect();
    const i = Math.floor((event.clientY - r.top - HEAD_H) / rowH);
    return i >= 0 && i < layers.length ? i : null;
  };
  const cellAt = (event) => {
    const i = rowAt(event, canvas);
    const j = Math.floor((event.clientX - canvas.getBoundingClientRect().left) / cellW);
    return i === null || j < 0 || j >= steps.length ? null : {i, j};
  };
  canvas.addEventListener('mousemove', (event) => {
    const c = cellAt(event);
    if (!c) return tip.hide();
    const value = (matrix[c.i] || [])[c.j];
    const nonfinite = ((data.figures.nonfinite || [])[c.i] || [])[c.j];
    const text = (value === null || value === undefined) && empty(c.i, steps[c.j])
      ? `no finite value (${nonfinite ?? 'all'} values NaN/Inf): no ${figure}`
      : `${figure} = ${fmt(value)}`;
    tip.show(`${layers[c.i].path} @ step ${steps[c.j]}: ${text}`, event);
  });
  names.addEventListener('mousemove', (event) => {
    const i = rowAt(event, names);
    if (i === null) return tip.hide();
    tip.show(`${layers[i].path}: click for its grids or its histogram over time`, event);
  });
  for (const target of [canvas, names]) target.addEventListener('mouseleave', () => tip.hide());
  canvas.addEventListener('click', (event) => {
    const c = cellAt(event);
    if (c) onPick(layers[c.i].path, steps[c.j]);
  });
  names.addEventListener('click', (event) => {
    const i = rowAt(event, names);
    if (i !== null) onRow(layers[i].path, event);
  });
  for (const target of [canvas, names]) {
    target.addEventListener('contextmenu', (event) => {
      const i = rowAt(event, target);
      if (i === null) return;
      event.preventDefault();
      onRow(layers[i].path, event);
    });
  }
  const wrap = el('div', {class: 'mapwrap', 'data-run': data.run},
    el('div', {class: 'mapscroll'}, el('div', {class: 'mapinner'}, names,
      el('div', {class: 'mapcells'}, canvas, marker))),
    tip.element);
  wrap.setStep = (s) => {
    const j = steps.indexOf(s);
    marker.hidden = j < 0;
    if (j < 0) return;
    Object.assign(marker.style, {left: `${j * cellW}px`, top: `${HEAD_H}px`, width: `${cellW}px`,
      height: `${rowH * layers.length}px`});
    marker.dataset.step = String(s);
  };
  wrap.setStep(step);
  canvas.dataset.drawMs = (performance.now() - t0).toFixed(1);
  requestAnimationFrame(() => requestAnimationFrame(() => {
    canvas.dataset.paintMs = (performance.now() - t0).toFixed(1);
  }));
  return wrap;
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
    el('span', {class: 'swatch'}), ' not logged',
    el('span', {class: 'swatch nofinite'}), ' no finite value (all NaN/Inf)');
}
