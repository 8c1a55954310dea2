// Data access of the Activations tab: the plugin's JSON routes, cached per URL. Relative URLs resolve
// against the iframe's <base href="plugin/tbactviz/">, i.e. /data/plugin/tbactviz/.

const cache = new Map();

/** GET a JSON route once; later calls share the same promise. */
export function getJSON(path, params = {}) {
  const query = new URLSearchParams(params).toString();
  const url = query ? `${path}?${query}` : path;
  if (!cache.has(url)) {
    cache.set(
      url,
      fetch(url).then((response) => {
        if (!response.ok) {
          cache.delete(url);
          throw new Error(`${url}: HTTP ${response.status}`);
        }
        return response.json();
      }),
    );
  }
  return cache.get(url);
}

export const runs = () => getJSON('runs');
export const run = (name) => getJSON('run', {run: name});
export const layer = (runName, path) => getJSON('layer', {run: runName, layer: path});
export const channel = (runName, path, index) =>
  getJSON('channel', {run: runName, layer: path, channel: String(index)});

/** URL of one PNG grid. */
export const blobUrl = (key) => `blob?${new URLSearchParams({key})}`;

/** Forget cached data (TensorBoard's reload button). */
export function clear() {
  cache.clear();
}

/** The kept step of a layer's series closest to `step` (at or before it when possible). */
export function nearestStep(steps, step) {
  let best = null;
  for (const entry of steps) {
    if (best === null) best = entry;
    const d = Math.abs(entry.step - step);
    const bd = Math.abs(best.step - step);
    if (d < bd || (d === bd && entry.step <= step)) best = entry;
  }
  return best;
}
