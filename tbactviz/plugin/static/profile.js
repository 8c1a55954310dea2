// Layer profile: a figure against depth, one line per run and chosen step. Runs are aligned by layer path
// (not by position among the logged layers): a layer one run did not log is a gap in its line.

import {el, fmt, fmtTick, niceTicks, noFinite, PALETTE, textWidths, thinned, tooltip} from './util.js';

const NS = 'http://www.w3.org/2000/svg';
const FONT = '10px sans-serif';
const MAX_LABEL = 170; // longest x label drawn, px (longer names are cut from the left)

/**
 * The union of several runs' layer paths, each run's order kept: a path new to the union goes right after
 * the path that precedes it in its own run (or first).
 */
export function alignLayers(lists) {
  const order = [];
  for (const paths of lists) {
    let after = -1;
    for (const path of paths) {
      const at = order.indexOf(path);
      if (at >= 0) {
        after = at;
        continue;
      }
      order.splice(after + 1, 0, path);
      after += 1;
    }
  }
  return order;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function cutLeft(text, room) {
  if (textWidths([text], FONT)[0] <= room) return text;
  let cut = text;
  while (cut.length > 1 && textWidths([`…${cut}`], FONT)[0] > room) cut = cut.slice(1);
  return `…${cut}`;
}

/**
 * The chart: datasets = /run payloads, stepsFor(data) = the steps drawn of each. onPick(run, path, step) on a
 * click. The SVG carries data-layers (the x axis, JSON) and one circle per point (data-run, data-layer,
 * data-step, data-value).
 */
export function profile(datasets, figure, stepsFor, {width = 760, onPick}) {
  const axis = alignLayers(datasets.map((d) => d.layers.map((l) => l.path)));
  const series = [];
  for (const data of datasets) {
    const matrix = data.figures[figure] || [];
    const row = new Map(data.layers.map((l, i) => [l.path, i]));
    const empty = noFinite(data);
    for (const step of stepsFor(data)) {
      const j = data.steps.indexOf(step);
      if (j < 0) continue;
      series.push({
        run: data.run,
        step,
        colour: PALETTE[series.length % PALETTE.length],
        values: axis.map((path) => (row.has(path) ? (matrix[row.get(path)] || [])[j] ?? null : null)),
        empty: axis.map((path) => row.has(path) && empty(row.get(path), step)),
      });
    }
  }
  const labels = axis.map((p) => cutLeft(p, MAX_LABEL));
  const labelWidths = textWidths(labels, FONT);
  const widest = Math.max(0, ...labelWidths);
  // the first layer's name, rotated, must not run off the left edge
  const pad = {l: Math.max(56, Math.ceil((labelWidths[0] || 0) * Math.SQRT1_2) + 8), r: 24, t: 20,
    b: Math.ceil(widest * Math.SQRT1_2) + 22};
  const plotH = 220;
  const height = pad.t + plotH + pad.b;
  const plotW = Math.max(120, width - pad.l - pad.r);
  const n = axis.length;
  const dx = n > 1 ? plotW / (n - 1) : 0;
  const sx = (i) => pad.l + (n > 1 ? i * dx : plotW / 2);
  const ys = series.flatMap((s) => s.values.filter((v) => v !== null));
  let [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const sy = (v) => pad.t + plotH - ((v - y0) / (y1 - y0)) * plotH;
  const chart = svg('svg', {width, height, class: 'chart profile', 'data-series': series.length,
    'data-layers': JSON.stringify(axis)});
  // axes, y ticks and grid lines
  chart.append(svg('line', {x1: pad.l, y1: pad.t + plotH, x2: pad.l + plotW, y2: pad.t + plotH, class: 'axis'}),
    svg('line', {x1: pad.l, y1: pad.t, x2: pad.l, y2: pad.t + plotH, class: 'axis'}));
  for (const v of niceTicks(y0, y1, 5)) {
    chart.append(svg('line', {x1: pad.l, x2: pad.l + plotW, y1: sy(v), y2: sy(v), class: 'gridline'}),
      svg('text', {x: pad.l - 6, y: sy(v) + 3, 'text-anchor': 'end', class: 'tick'}, fmtTick(v)));
  }
  chart.append(svg('text', {x: pad.l, y: pad.t - 8, class: 'tick ylabel'}, figure));
  // x labels: the layer names, thinned to fit (rotated 45 degrees: 13 px between their lines)
  const shown = n > 1 ? thinned(n, dx * Math.SQRT1_2, 10, 3) : [0];
  const xlabels = svg('g', {class: 'xlabels'});
  for (const i of shown.filter((k) => k < n)) {
    const x = sx(i);
    const y = pad.t + plotH + 8;
    xlabels.append(svg('line', {x1: x, x2: x, y1: pad.t + plotH, y2: pad.t + plotH + 4, class: 'axis'}),
      svg('text', {x, y, transform: `rotate(-45 ${x} ${y})`, 'text-anchor': 'end', class: 'tick xlabel',
        'data-layer': axis[i]}, labels[i]));
  }
  chart.append(xlabels);
  // the lines (broken where a run has no value) and a dot per point
  const dots = svg('g', {class: 'dots'});
  series.forEach((s, k) => {
    let d = '';
    let pen = 'M';
    s.values.forEach((v, i) => {
      if (v === null) {
        pen = 'M';
        return;
      }
      d += `${pen}${sx(i).toFixed(1)},${sy(v).toFixed(1)}`;
      pen = 'L';
      dots.append(svg('circle', {cx: sx(i).toFixed(1), cy: sy(v).toFixed(1), r: n > 120 ? 1.6 : 2.6,
        fill: s.colour, 'data-run': s.run, 'data-step': s.step, 'data-layer': axis[i], 'data-value': v,
        'data-series': k}));
    });
    chart.append(svg('path', {d, fill: 'none', stroke: s.colour, 'stroke-width': 1.5, 'data-run': s.run,
      'data-step': s.step, class: 'line'}));
  });
  chart.append(dots);
  // hover: a guide at the nearest layer, a tooltip with every series' value there
  const guide = svg('line', {y1: pad.t, y2: pad.t + plotH, class: 'guide', visibility: 'hidden'});
  const hit = svg('rect', {x: pad.l - Math.max(dx, 8) / 2, y: pad.t, width: plotW + Math.max(dx, 8),
    height: plotH, fill: 'transparent', class: 'hit'});
  chart.append(guide, hit);
  const tip = tooltip();
  const nearest = (event) => {
    const r = chart.getBoundingClientRect();
    const x = event.clientX - r.left;
    const y = event.clientY - r.top;
    const i = n > 1 ? Math.min(n - 1, Math.max(0, Math.round((x - pad.l) / dx))) : 0;
    let best = null;
    series.forEach((s, k) => {
      const v = s.values[i];
      if (v !== null && (best === null || Math.abs(sy(v) - y) < Math.abs(sy(series[best].values[i]) - y))) best = k;
    });
    return {i, best};
  };
  hit.addEventListener('mousemove', (event) => {
    if (!n) return;
    const {i, best} = nearest(event);
    guide.setAttribute('x1', sx(i));
    guide.setAttribute('x2', sx(i));
    guide.setAttribute('visibility', 'visible');
    const lines = series.map((s, k) => el(k === best ? 'b' : 'div', {class: 'tipline', style: `color:${s.colour}`},
      `${s.run} @ step ${s.step}: ${s.values[i] !== null ? `${figure} = ${fmt(s.values[i])}`
        : s.empty[i] ? 'no finite value (all NaN/Inf)' : 'not logged in this run'}`));
    tip.show([el('div', {class: 'tiphead'}, `layer ${axis[i]}`), ...lines.map((l) => el('div', {}, l))], event);
  });
  hit.addEventListener('mouseleave', () => {
    tip.hide();
    guide.setAttribute('visibility', 'hidden');
  });
  hit.addEventListener('click', (event) => {
    const {i, best} = nearest(event);
    if (best !== null) onPick(series[best].run, axis[i], series[best].step);
  });
  const keys = el('div', {class: 'keys'},
    series.map((s) => el('span', {class: 'key', style: `color:${s.colour}`}, `— ${s.run} @ step ${s.step}`)));
  return el('div', {class: 'profilewrap'}, chart, keys, tip.element,
    el('div', {class: 'hint'}, `Runs aligned by layer path (${n} layers); a layer a run did not log is a gap in ` +
      'its line. Hover for the values, click to open the layer.'));
}
