// Channel drill-down: one channel alone, larger, at every kept step (a filmstrip cut out of each step's
// grid with the layout summary), and its per-channel figures over steps where they are logged.

import * as api from './api.js';
import {tileRect} from './grids.js';
import {el, lineChart, PALETTE} from './util.js';

const images = new Map();

function loadImage(url) {
  if (!images.has(url)) {
    images.set(url, new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error(`cannot load ${url}`));
      img.src = url;
    }));
  }
  return images.get(url);
}

/** A canvas showing `channel` of one step (scaled by nearest neighbour to `side` px), drawn when visible. */
function frame(entry, channel, sample, side) {
  const lay = entry.layout;
  const index = lay ? lay.channel_ids.indexOf(channel) : -1;
  const box = el('figure', {class: 'frame', 'data-step': entry.step});
  if (index < 0 || !entry.blobs.length) {
    box.append(el('div', {class: 'missing', style: `width:${side}px;height:${side}px`}, 'not drawn'),
      el('figcaption', {text: `step ${entry.step}`}));
    return box;
  }
  const [x, y, w, h] = tileRect(lay, index);
  const scale = side / Math.max(w, h);
  const canvas = el('canvas', {class: 'tile', width: Math.round(w * scale), height: Math.round(h * scale)});
  box.append(canvas, el('figcaption', {text: `step ${entry.step}`}));
  const draw = async () => {
    const img = await loadImage(api.blobUrl(entry.blobs[Math.min(sample, entry.blobs.length - 1)]));
    const g = canvas.getContext('2d');
    g.imageSmoothingEnabled = false;
    g.drawImage(img, x, y, w, h, 0, 0, canvas.width, canvas.height);
    canvas.dataset.drawn = '1';
  };
  const seen = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) {
      seen.disconnect();
      draw();
    }
  });
  seen.observe(canvas);
  return box;
}

/** The drill-down panel of (run, layer, channel) around `step`. */
export async function drilldown({run, layer, channel, sample, step}, {onClose}) {
  const [data, figures] = await Promise.all([api.layer(run, layer), api.channel(run, layer, channel)]);
  const panel = el('section', {class: 'drilldown', 'data-layer': layer, 'data-channel': channel});
  const current = api.nearestStep(data.steps, step) || data.steps[data.steps.length - 1];
  const lay = current && current.layout;
  const size = lay ? `${lay.source_h}×${lay.source_w} map, drawn at ${lay.tile_h / lay.final_down}×` +
    `${lay.tile_w / lay.final_down} px in the grid` : '';
  panel.append(el('div', {class: 'cardhead'},
    el('b', {}, `${layer} · channel ${channel}`), el('span', {class: 'hint'}, ` ${run} · ${size}`),
    el('button', {class: 'close', title: 'close', onclick: onClose}, '×')));
  if (current) {
    const side = Math.min(384, Math.max(192, lay ? lay.tile_h * 4 : 192));
    panel.append(el('div', {class: 'big'}, frame(current, channel, sample, side)));
  }
  panel.append(el('div', {class: 'filmstrip'}, data.steps.map((entry) => frame(entry, channel, sample, 96))));
  if (figures.steps.length) {
    const charts = el('div', {class: 'charts'});
    Object.entries(figures.figures).forEach(([name, values], i) => {
      charts.append(el('div', {class: 'chartbox'}, el('div', {class: 'charttitle'}, name),
        lineChart([{label: name, colour: PALETTE[i % PALETTE.length],
          points: figures.steps.map((s, j) => [s, values[j]])}], {width: 260, height: 120, xLabel: 'step'})));
    });
    panel.append(charts);
  } else {
    panel.append(el('p', {class: 'hint'}, 'No per-channel figures logged for this layer (channels/ summaries).'));
  }
  return panel;
}
