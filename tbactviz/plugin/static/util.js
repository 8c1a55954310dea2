// Small DOM, text, axis and colour helpers shared by the views.

/** Create an element: el('div', {class: 'x', onclick: fn}, child, 'text', ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// viridis, 9 stops
const STOPS = [
  [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
];

/** CSS colour of t in [0, 1] on viridis. */
export function colour(t) {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const c = STOPS[i].map((v, k) => Math.round(v + (STOPS[i + 1][k] - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** Figures whose values are fractions (colour scale from 0). */
export const FRACTIONS = new Set(['sparsity', 'dead_channels', 'dormant_fraction', 'zero_fraction']);

/** [low, high] of the finite values of a figure's matrices (fractions: [0, highest]). */
export function rangeOf(figure, matrices) {
  let low = Infinity;
  let high = -Infinity;
  for (const matrix of matrices) {
    for (const row of matrix) {
      for (const v of row) {
        if (v === null) continue;
        if (v < low) low = v;
        if (v > high) high = v;
      }
    }
  }
  if (!Number.isFinite(low)) return [0, 1];
  if (FRACTIONS.has(figure)) return [0, high > 0 ? high : 1]; // from 0, up to the largest fraction seen
  if (high === low) return [low, low + 1];
  return [low, high];
}

/**
 * Size a canvas to `w` x `h` CSS pixels, drawn at the screen's pixel density (sharp on HiDPI screens).
 * Returns its 2-D context, scaled so that drawing is in CSS pixels.
 */
export function hidpiCanvas(canvas, w, h) {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  const g = canvas.getContext('2d');
  g.scale(dpr, dpr);
  return g;
}

/** The colour of a figure left out because its layer had no finite value at that step (NaN tiles' magenta). */
export const NO_FINITE_COLOUR = '#d81b60';

/**
 * Whether layer i of a run payload had no finite value at a step: the `run` route's `no_finite` lists those
 * steps per layer (their mean, std and max_abs are left out, not "not logged"). Returns (i, step) -> bool.
 */
export function noFinite(data) {
  const sets = (data.no_finite || []).map((steps) => new Set(steps));
  return (i, step) => Boolean(sets[i] && sets[i].has(step));
}

/** A number for people: 4 significant digits, no exponent noise for fractions. */
export function fmt(v) {
  if (v === null || v === undefined) return 'not logged';
  const a = Math.abs(v);
  if (Number.isInteger(v) && a < 1e15) return String(v); // counts; huge values in exponent form
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toPrecision(4);
}

/** A tick value: at most 4 significant digits, no trailing zeros (0.25, not 0.2500). */
export function fmtTick(v) {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

/** A small SVG line chart: series = [{label, colour, points: [[x, y|null], ...]}]. */
export function lineChart(series, {width = 520, height = 160, xLabel = '', yLabel = ''} = {}) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('class', 'chart');
  const pad = {l: 48, r: 8, t: 8, b: 28};
  const xs = [];
  const ys = [];
  for (const s of series) {
    for (const [x, y] of s.points) {
      if (y === null) continue;
      xs.push(x);
      ys.push(y);
    }
  }
  if (!xs.length) return svg;
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const sx = (x) => pad.l + ((x - x0) / (x1 - x0 || 1)) * (width - pad.l - pad.r);
  const sy = (y) => height - pad.b - ((y - y0) / (y1 - y0)) * (height - pad.t - pad.b);
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  add('line', {x1: pad.l, y1: height - pad.b, x2: width - pad.r, y2: height - pad.b, class: 'axis'});
  add('line', {x1: pad.l, y1: pad.t, x2: pad.l, y2: height - pad.b, class: 'axis'});
  add('text', {x: pad.l - 4, y: pad.t + 8, 'text-anchor': 'end', class: 'tick'}, fmt(y1));
  add('text', {x: pad.l - 4, y: height - pad.b, 'text-anchor': 'end', class: 'tick'}, fmt(y0));
  add('text', {x: pad.l, y: height - 8, class: 'tick'}, `${xLabel} ${fmt(x0)}`);
  add('text', {x: width - pad.r, y: height - 8, 'text-anchor': 'end', class: 'tick'}, fmt(x1));
  if (yLabel) add('text', {x: pad.l + 4, y: pad.t + 8, class: 'tick'}, yLabel);
  for (const s of series) {
    let d = '';
    let pen = 'M';
    for (const [x, y] of s.points) {
      if (y === null) {
        pen = 'M';
        continue;
      }
      d += `${pen}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`;
      pen = 'L';
    }
    add('path', {d, fill: 'none', stroke: s.colour, 'stroke-width': 1.5}).append(
      Object.assign(document.createElementNS(ns, 'title'), {textContent: s.label}),
    );
  }
  return svg;
}

/** Distinct colours for overlaid series. */
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b'];

/** A failed request, shown where the data was loading: what failed, why, and a button to try again. */
export function failure(what, error, retry) {
  const box = el('div', {class: 'error', role: 'alert'},
    el('b', {}, `${what} failed: `), el('span', {class: 'why'}, (error && error.message) || String(error)));
  if (retry) {
    box.append(' ', el('button', {class: 'retry', onclick: (event) => {
      event.stopPropagation();
      box.replaceChildren('Loading…');
      retry();
    }}, 'Retry'));
  }
  return box;
}

const measurer = document.createElement('canvas').getContext('2d');

/** Width in CSS pixels of each text in `font` (measured, as the canvas draws it). */
export function textWidths(texts, font = '11px sans-serif') {
  measurer.font = font;
  return texts.map((t) => measurer.measureText(String(t)).width);
}

/**
 * Which of `count` labels spaced `spacing` px apart to show so that none overlaps: every k-th from the
 * first, and the last one (in place of the shown label before it when they would overlap). `widest` is the
 * measured width of the widest label.
 */
export function thinned(count, spacing, widest, gap = 10) {
  if (count <= 0) return [];
  const every = Math.max(1, Math.ceil((widest + gap) / Math.max(spacing, 1e-6)));
  const shown = [];
  for (let i = 0; i < count; i += every) shown.push(i);
  const last = count - 1;
  if (shown[shown.length - 1] !== last) {
    if ((last - shown[shown.length - 1]) * spacing < widest + gap && shown.length > 1) shown.pop();
    shown.push(last);
  }
  return shown;
}

/** About `n` round tick values covering [lo, hi]. */
export function niceTicks(lo, hi, n = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(n, 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  const out = [];
  for (let k = Math.ceil(lo / step - 1e-9); k <= Math.floor(hi / step + 1e-9); k++) out.push(+(k * step).toPrecision(12));
  return out;
}

/** A floating tooltip (one per view); show(text or nodes, event), hide(). */
export function tooltip() {
  const tip = el('div', {class: 'tip', hidden: true});
  return {
    element: tip,
    show(content, event) {
      tip.replaceChildren(...[content].flat());
      tip.style.left = `${event.clientX + 14}px`;
      tip.style.top = `${event.clientY + 10}px`;
      tip.hidden = false;
    },
    hide() {
      tip.hidden = true;
    },
  };
}

/** The layer path split for labels: the parent path (with its trailing '/') and the layer's own name. */
export function splitPath(path) {
  const cut = path.lastIndexOf('/');
  return [path.slice(0, cut + 1), path.slice(cut + 1)];
}
