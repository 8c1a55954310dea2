// Data access of the Activations tab: the plugin's JSON routes, cached per URL until the run they belong to
// changes (see forgetRun). Relative URLs resolve against the iframe's <base href="plugin/tbactviz/">, i.e.
// /data/plugin/tbactviz/.

const cache = new Map(); // url -> {run, promise}

/** A request that failed: `message` says why (the route's own {"error"} when it sent one). */
export class RequestError extends Error {
  constructor(url, status, detail) {
    super(status ? `${detail} (HTTP ${status})` : detail);
    this.url = url;
    this.status = status;
  }
}

async function fetchJSON(url) {
  let response;
  try {
    response = await fetch(url, {cache: 'no-store'});
  } catch (error) {
    throw new RequestError(url, 0, `TensorBoard did not answer (${error.message})`);
  }
  if (!response.ok) {
    let detail = '';
    try {
      detail = (await response.json()).error || '';
    } catch (error) {
      detail = '';
    }
    throw new RequestError(url, response.status, detail || response.statusText || 'request failed');
  }
  return response.json();
}

/** GET a JSON route; later calls share the same promise until forgetRun(run) or a failure drops it. */
export function getJSON(path, params = {}, {cached = true} = {}) {
  const query = new URLSearchParams(params).toString();
  const url = query ? `${path}?${query}` : path;
  if (!cached) return fetchJSON(url);
  if (!cache.has(url)) {
    const promise = fetchJSON(url);
    cache.set(url, {run: params.run, promise});
    promise.catch(() => {
      if (cache.get(url)?.promise === promise) cache.delete(url); // a retry asks again
    });
  }
  return cache.get(url).promise;
}

export const runs = () => getJSON('runs', {}, {cached: false});
export const latest = () => getJSON('latest', {}, {cached: false});
export const run = (name) => getJSON('run', {run: name});
export const layer = (runName, path) => getJSON('layer', {run: runName, layer: path});
export const channel = (runName, path, index) =>
  getJSON('channel', {run: runName, layer: path, channel: String(index)});
export const histograms = (runName, path) => getJSON('histograms', {run: runName, layer: path});

/** URL of one PNG grid. */
export const blobUrl = (key) => `blob?${new URLSearchParams({key})}`;

/** Forget what was fetched of one run (new steps were written to it). */
export function forgetRun(name) {
  for (const [url, entry] of cache) if (entry.run === name) cache.delete(url);
}

/** Forget everything fetched. */
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
