// Small DOM and colour helpers shared by the views.

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

/** A number for people: 4 significant digits, no exponent noise for fractions. */
export function fmt(v) {
  if (v === null || v === undefined) return 'not logged';
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toPrecision(4);
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
