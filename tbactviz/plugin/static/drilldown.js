// Channel drill-down: one channel alone, larger, at the step of the step slider (it follows it), a filmstrip
// of that channel at every kept step (cut out of each step's grid with the layout summary; a click on a frame
// moves the slider there), and its per-channel figures over steps where they are logged.

import * as api from './api.js';
import {tileRect} from './grids.js';
import {el, failure, lineChart, PALETTE} from './util.js';

const images = new Map();

function loadImage(url) {
  if (!images.has(url)) {
    const promise = new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error(`the PNG did not load (${url})`));
      img.src = url;
    });
    images.set(url, promise);
    promise.catch(() => images.delete(url));
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
  const blob = entry.blobs[Math.min(sample, entry.blobs.length - 1)];
  const canvas = el('canvas', {class: 'tile', width: Math.round(w * scale), height: Math.round(h * scale),
    'data-blob': blob});
  box.append(canvas, el('figcaption', {text: `step ${entry.step}`}));
  const draw = async () => {
    try {
      const img = await loadImage(api.blobUrl(blob));
      const g = canvas.getContext('2d');
      g.imageSmoothingEnabled = false;
      g.drawImage(img, x, y, w, h, 0, 0, canvas.width, canvas.height);
      canvas.dataset.drawn = '1';
    } catch (error) {
      canvas.replaceWith(failure('this frame', error, () => box.replaceWith(frame(entry, channel, sample, side))));
    }
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

/** The drill-down panel in `box`; open(), setStep(), refresh() and close() keep it in step with the tab. */
export class DrillView {
  constructor(box, {onClose, onStep}) {
    this.box = box;
    this.onClose = onClose;
    this.onStep = onStep;
    this.drill = null;
    this.data = null;
    this.step = null;
  }

  /** Show (run, layer, channel, sample) at `step`. */
  async open(drill, step) {
    this.drill = drill;
    this.step = step;
    this.box.replaceChildren(el('p', {class: 'loading'}, `Loading channel ${drill.channel} of ${drill.layer}…`));
    await this.load();
  }

  async load() {
    const drill = this.drill;
    let data;
    let figures;
    try {
      [data, figures] = await Promise.all([api.layer(drill.run, drill.layer),
        api.channel(drill.run, drill.layer, drill.channel)]);
    } catch (error) {
      if (this.drill !== drill) return;
      this.box.replaceChildren(failure(`Loading channel ${drill.channel} of ${drill.layer} (${drill.run})`,
        error, () => this.load()));
      return;
    }
    if (this.drill !== drill) return; // another channel was opened meanwhile
    const strip = this.box.querySelector('.filmstrip');
    const scroll = strip ? strip.scrollLeft : 0;
    this.data = data;
    this.panel(data, figures);
    this.shown = null;
    this.setStep(this.step);
    const fresh = this.box.querySelector('.filmstrip');
    if (fresh && strip) fresh.scrollLeft = scroll;
  }

  panel(data, figures) {
    const {run, layer, channel, sample} = this.drill;
    const last = data.steps[data.steps.length - 1];
    const lay = last && last.layout;
    const size = lay ? `${lay.source_h}×${lay.source_w} map, drawn at ${lay.tile_h / lay.final_down}×` +
      `${lay.tile_w / lay.final_down} px in the grid` : '';
    this.big = el('div', {class: 'big'});
    this.strip = el('div', {class: 'filmstrip'}, data.steps.map((entry) => {
      const f = frame(entry, channel, sample, 96);
      f.addEventListener('click', () => this.onStep(entry.step));
      return f;
    }));
    const section = el('section', {class: 'drilldown', 'data-run': run, 'data-layer': layer, 'data-channel': channel},
      el('div', {class: 'cardhead'}, el('b', {}, `${layer} · channel ${channel}`),
        el('span', {class: 'hint'}, ` ${run} · ${size} · follows the step slider; click a frame to go there`),
        el('button', {class: 'close', title: 'close', onclick: () => this.close()}, '×')),
      this.big, this.strip);
    if (figures.steps.length) {
      const charts = el('div', {class: 'charts'});
      Object.entries(figures.figures).forEach(([name, values], i) => {
        charts.append(el('div', {class: 'chartbox'}, el('div', {class: 'charttitle'}, name),
          lineChart([{label: name, colour: PALETTE[i % PALETTE.length],
            points: figures.steps.map((s, j) => [s, values[j]])}], {width: 260, height: 120, xLabel: 'step'})));
      });
      section.append(charts);
    } else {
      section.append(el('p', {class: 'hint'}, 'No per-channel figures logged for this layer (channels/ summaries).'));
    }
    this.box.replaceChildren(section);
  }

  /** Show the kept step nearest `step` in the large frame and mark it in the filmstrip. */
  setStep(step) {
    this.step = step;
    if (!this.data || !this.data.steps.length) return;
    const current = api.nearestStep(this.data.steps, step);
    if (this.shown === current.step) return;
    this.shown = current.step;
    const lay = current.layout;
    const side = Math.min(384, Math.max(192, lay ? lay.tile_h * 4 : 192));
    this.big.replaceChildren(frame(current, this.drill.channel, this.drill.sample, side));
    for (const f of this.strip.children) {
      const on = f.dataset.step === String(current.step);
      f.classList.toggle('current', on);
      if (on) { // scroll the filmstrip (only it) to the frame
        const left = f.offsetLeft; // the filmstrip is positioned: offsets are inside it
        if (left < this.strip.scrollLeft || left + f.offsetWidth > this.strip.scrollLeft + this.strip.clientWidth) {
          this.strip.scrollLeft = left - (this.strip.clientWidth - f.offsetWidth) / 2;
        }
      }
    }
  }

  /** Fetch again (new steps were written) and redraw in place. */
  async refresh() {
    if (this.drill) await this.load();
  }

  close() {
    this.drill = null;
    this.data = null;
    this.box.replaceChildren();
    this.onClose();
  }
}
