// Histogram over time: one layer's activation histogram at every step as one heat map (steps on x, value
// buckets on y, colour = log count), the view fastai made well known: a layer collapsing to zero, exploding or
// saturating shows at a glance. Drawn from the histograms already logged (`histograms/<path>`), re-binned by
// the server onto one value axis when the bucket edges move from step to step (and the view says so).

import * as api from './api.js';
import {colour, el, failure, fmt, fmtTick, hidpiCanvas, niceTicks, textWidths, thinned, tooltip} from './util.js';

const FONT = '11px sans-serif';
const BOTTOM = 24;
const TOP = 8;

/** Colour of `count` when the largest count is `max`: viridis at log(1 + count) / log(1 + max). */
export function countColour(count, max) {
  return colour(max > 0 ? Math.log1p(count) / Math.log1p(max) : 0);
}

/**
 * The heat map of one /histograms payload, `width` px wide; setStep(step) moves the marker. Column j spans
 * x = left + round(j * plotW / steps) .. left + round((j + 1) * plotW / steps); bucket b (0 = lowest values)
 * spans y = top + round((buckets - b - 1) * plotH / buckets) .. top + round((buckets - b) * plotH / buckets);
 * both geometry and the largest count are on the canvas as data-* attributes.
 */
export function histogramChart(data, width, step) {
  const {steps, edges, counts} = data;
  const nS = steps.length;
  const nB = edges.length - 1;
  const lo = edges[0];
  const hi = edges[nB];
  const ticks = niceTicks(lo, hi, 6);
  const tickText = ticks.map(fmtTick);
  const left = Math.ceil(Math.max(...textWidths(tickText, FONT), 20)) + 14;
  const plotW = Math.max(120, Math.floor(width - left - 12));
  const plotH = Math.min(320, Math.max(180, nB * 4));
  let max = 0;
  for (const row of counts) for (const c of row) if (c > max) max = c;
  const h = TOP + plotH + BOTTOM;
  const w = left + plotW + 12;
  const canvas = el('canvas', {class: 'histtime', 'data-run': data.run, 'data-layer': data.layer, 'data-steps': nS,
    'data-buckets': nB, 'data-left': left, 'data-top': TOP, 'data-plot-w': plotW, 'data-plot-h': plotH,
    'data-max': max});
  const g = hidpiCanvas(canvas, w, h);
  const xAt = (j) => left + Math.round((j * plotW) / nS);
  const yAt = (b) => TOP + Math.round(((nB - b) * plotH) / nB); // bottom edge of bucket b
  for (let j = 0; j < nS; j++) {
    const row = counts[j];
    for (let b = 0; b < nB; b++) {
      g.fillStyle = countColour(row[b], max);
      g.fillRect(xAt(j), yAt(b + 1), xAt(j + 1) - xAt(j), yAt(b) - yAt(b + 1));
    }
  }
  // value axis
  g.font = FONT;
  g.textBaseline = 'middle';
  g.fillStyle = '#424242';
  g.strokeStyle = '#9e9e9e';
  const yOf = (v) => TOP + plotH - ((v - lo) / (hi - lo || 1)) * plotH;
  ticks.forEach((v, k) => {
    const y = Math.round(yOf(v)) + 0.5;
    g.beginPath();
    g.moveTo(left - 4, y);
    g.lineTo(left, y);
    g.stroke();
    g.textAlign = 'right';
    g.fillText(tickText[k], left - 6, y);
  });
  canvas.dataset.valueTicks = tickText.join(',');
  // step axis: labels thinned by their measured width
  const labels = steps.map(String);
  const widths = textWidths(labels, FONT);
  const shown = thinned(nS, plotW / Math.max(nS, 1), Math.max(0, ...widths));
  g.textAlign = 'left';
  for (const j of shown) {
    const x = Math.min(Math.max((xAt(j) + xAt(j + 1)) / 2 - widths[j] / 2, left), left + plotW - widths[j]);
    g.fillText(labels[j], x, TOP + plotH + BOTTOM / 2 + 2);
  }
  canvas.dataset.stepLabels = shown.map((j) => labels[j]).join(',');
  // overlays (not in the canvas' pixels): the zero line, the step of the slider
  const overlays = [];
  if (lo < 0 && hi > 0) {
    overlays.push(el('div', {class: 'zeroline', title: 'value 0',
      style: `left:${left}px;width:${plotW}px;top:${Math.round(yOf(0))}px`}));
  }
  const marker = el('div', {class: 'stepmark', hidden: true});
  overlays.push(marker);
  const tip = tooltip();
  canvas.addEventListener('mousemove', (event) => {
    const r = canvas.getBoundingClientRect();
    const x = event.clientX - r.left - left;
    const y = event.clientY - r.top - TOP;
    if (x < 0 || x >= plotW || y < 0 || y >= plotH || !nS) return tip.hide();
    const j = Math.min(nS - 1, Math.floor((x * nS) / plotW));
    const b = Math.min(nB - 1, Math.max(0, nB - 1 - Math.floor((y * nB) / plotH)));
    const total = counts[j].reduce((a, c) => a + c, 0);
    tip.show(`step ${steps[j]} · values ${fmt(edges[b])} to ${fmt(edges[b + 1])}: ${fmt(+counts[j][b].toFixed(2))}` +
      ` of ${fmt(+total.toFixed(2))}`, event);
  });
  canvas.addEventListener('mouseleave', () => tip.hide());
  const wrap = el('div', {class: 'histwrap'}, canvas, ...overlays, tip.element);
  wrap.canvas = canvas;
  wrap.setStep = (s) => {
    const j = steps.indexOf(s);
    marker.hidden = j < 0;
    if (j < 0) return;
    Object.assign(marker.style, {left: `${xAt(j)}px`, top: `${TOP}px`, width: `${xAt(j + 1) - xAt(j)}px`,
      height: `${plotH}px`});
    marker.dataset.step = String(s);
  };
  wrap.setStep(step);
  return {element: wrap, max};
}

/** Colour bar of the log-count scale. */
function countLegend(max) {
  const bar = el('canvas', {class: 'legend', width: 200, height: 10});
  const g = bar.getContext('2d');
  for (let x = 0; x < 200; x++) {
    g.fillStyle = colour(x / 199);
    g.fillRect(x, 0, 1, 10);
  }
  return el('span', {class: 'legendwrap'}, 'count (log scale): 0 ', bar, ` ${fmt(max)}`);
}

/** The histogram-over-time panel in `box`: open(), setStep(), refresh(), redraw() and close(). */
export class HistView {
  constructor(box, {onClose, onOpen}) {
    this.box = box;
    this.onClose = onClose;
    this.onOpen = onOpen;
    this.target = null;
    this.data = null;
  }

  /** Show layer `layer` of `run` (`layers`: the run's layer paths, for the layer selector) at `step`. */
  async open({run, layer, layers}, step) {
    this.target = {run, layer, layers};
    this.step = step;
    this.box.replaceChildren(el('p', {class: 'loading'}, `Loading the histograms of ${layer}…`));
    await this.load();
  }

  async load() {
    const target = this.target;
    let data;
    try {
      data = await api.histograms(target.run, target.layer);
    } catch (error) {
      if (this.target !== target) return;
      this.box.replaceChildren(failure(`Loading the histograms of ${target.layer} (${target.run})`, error,
        () => this.load()));
      return;
    }
    if (this.target !== target) return;
    this.data = data;
    this.redraw();
  }

  redraw() {
    const {run, layer, layers} = this.target;
    const data = this.data;
    const select = el('select', {class: 'histlayer', 'aria-label': 'layer',
      onchange: (e) => this.onOpen(run, e.target.value)},
    layers.map((p) => el('option', {value: p, selected: p === layer}, p)));
    const head = el('div', {class: 'cardhead'}, el('b', {}, 'Histogram over time · '), select,
      el('span', {class: 'hint'}, ` ${run}`),
      el('button', {class: 'close', title: 'close', onclick: () => this.close()}, '×'));
    const section = el('section', {class: 'histtime-panel', 'data-run': run, 'data-layer': layer}, head);
    if (!data.steps.length) {
      section.append(el('p', {class: 'hint'}, `No histograms logged for ${layer} (histograms/${layer}).`));
      this.chart = null;
      this.box.replaceChildren(section);
      return;
    }
    const width = Math.max(480, (this.box.clientWidth || document.body.clientWidth || 900) - 8);
    this.chart = histogramChart(data, width, this.step);
    const nB = data.edges.length - 1;
    const axis = `values ${fmt(data.edges[0])} to ${fmt(data.edges[nB])}`;
    const note = data.rebinned
      ? el('p', {class: 'note rebinned'}, `The bucket edges change from step to step (each step's ` +
        `${data.source_buckets} buckets span that step's own min to max): re-binned onto ${nB} shared buckets, ` +
        `${axis}; a bucket's count is split in proportion to the overlap.`)
      : el('p', {class: 'hint'}, `${nB} buckets as logged, ${axis}.`);
    section.append(el('div', {class: 'legendrow'}, countLegend(this.chart.max),
      el('span', {class: 'hint'}, ` · ${data.steps.length} steps · y: activation value · x: step`)),
    this.chart.element, note);
    this.box.replaceChildren(section);
  }

  setStep(step) {
    this.step = step;
    if (this.chart) this.chart.element.setStep(step);
  }

  async refresh() {
    if (this.target) await this.load();
  }

  close() {
    this.target = null;
    this.data = null;
    this.chart = null;
    this.box.replaceChildren();
    this.onClose();
  }
}
