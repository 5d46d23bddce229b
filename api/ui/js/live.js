// The live streams (server-sent events): new samples from `/metrics/stream` and alert changes
// from `/alerts/stream`, one EventSource each for the whole page (views subscribe, nothing
// polls). EventSource reconnects by itself; the header shows "connection lost — reconnecting"
// until it is back, and views are told to refresh what they may have missed.

const streams = new Map();
const handlers = new Map();
let indicator = null;

function setState(path, state) {
  const entry = streams.get(path);
  if (entry) entry.state = state;
  if (!indicator) return;
  const states = [...streams.values()].map((s) => s.state);
  const lost = states.includes('lost');
  indicator.hidden = states.length === 0;
  indicator.classList.toggle('lost', lost);
  indicator.textContent = lost ? 'connection lost — reconnecting' : states.every((s) => s === 'open') ? '● live' : 'connecting…';
}

function dispatch(kind, data) {
  for (const handler of handlers.get(kind) || []) {
    try {
      handler(data);
    } catch (err) {
      console.warn('live handler failed', err);
    }
  }
}

let checkSession = () => {};

function open(path, events, everOpen = false) {
  const source = new EventSource(path, { withCredentials: true });
  const entry = { source, state: 'connecting', everOpen };
  streams.set(path, entry);
  source.onopen = () => {
    const resumed = entry.everOpen;
    entry.everOpen = true;
    setState(path, 'open');
    if (resumed) dispatch('resumed', path);
  };
  source.onerror = () => {
    setState(path, 'lost');
    if (source.readyState !== EventSource.CLOSED) return;
    // The server refused the reconnection (a non-200 answer): the browser gives up, so
    // check the session (a 401 signs out) and try again in a few seconds.
    checkSession();
    setTimeout(() => {
      if (streams.get(path) !== entry) return;
      streams.delete(path);
      open(path, events, entry.everOpen);
    }, 5000);
  };
  for (const name of events) {
    source.addEventListener(name, (event) => {
      let data = null;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      dispatch(name === 'sample' ? 'sample' : 'alert', { kind: name, ...data });
    });
  }
}

/** Opens both streams (after sign-in); `el` shows their state. */
export function start(el, sessionCheck) {
  indicator = el;
  checkSession = sessionCheck;
  if (!streams.has('/metrics/stream')) open('/metrics/stream', ['sample']);
  if (!streams.has('/alerts/stream')) open('/alerts/stream', ['pending', 'firing', 'resolved', 'inactive', 'acknowledged']);
  setState(null);
}

/** Closes both streams (sign-out). */
export function stop() {
  for (const { source } of streams.values()) source.close();
  streams.clear();
  setState(null);
}

/** `kind`: `sample` (one source's newest sample), `alert` (a change) or `resumed`. */
export function subscribe(kind, handler) {
  if (!handlers.has(kind)) handlers.set(kind, new Set());
  handlers.get(kind).add(handler);
  return () => handlers.get(kind).delete(handler);
}
