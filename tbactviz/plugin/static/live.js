// Following a run while it trains: TensorBoard's own signal when it reloads (its plugin API, a message port
// offered to the page hosting the iframe), and a cheap poll of `latest` at TensorBoard's --reload_interval,
// since TensorBoard's page itself reloads only every 30 s or on its reload button.

const RELOADED = 'experimental.DataReloaded';

/** Subscribe to TensorBoard's "data reloaded" signal; false when the tab is not inside TensorBoard's page. */
function listenToTensorBoard(onReload) {
  if (window.parent === window || typeof MessageChannel === 'undefined') return false;
  try {
    const channel = new MessageChannel();
    channel.port1.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      if (!message || message.isReply) return;
      if (message.type === RELOADED) onReload();
      // every request from the host gets a reply, as TensorBoard's own plugin library does
      channel.port1.postMessage(JSON.stringify({type: message.type, id: message.id, payload: null, error: null,
        isReply: true}));
    };
    window.parent.postMessage('experimental.bootstrap', '*', [channel.port2]);
    return true;
  } catch (error) {
    return false;
  }
}

/**
 * Call `tick()` (async) whenever TensorBoard reloads and every `seconds` (null: 5, TensorBoard's default;
 * 0: never, TensorBoard loads once), never two at a time, not while the page is hidden. Returns stop().
 */
export function follow(tick, seconds) {
  const period = seconds === null || seconds === undefined ? 5 : seconds;
  let busy = false;
  let again = false;
  let timer = null;
  let stopped = false;
  const run = async () => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      await tick();
    } finally {
      busy = false;
      if (again && !stopped) {
        again = false;
        run();
      }
    }
  };
  const hooked = listenToTensorBoard(run);
  const schedule = () => {
    if (stopped || !(period > 0)) return;
    timer = setTimeout(async () => {
      if (document.visibilityState !== 'hidden') await run();
      schedule();
    }, Math.max(1, period) * 1000);
  };
  schedule();
  return {hooked, period, stop: () => {
    stopped = true;
    clearTimeout(timer);
  }};
}
