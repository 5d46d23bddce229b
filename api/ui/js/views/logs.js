// Logs: the stored log lines with level, component and text filters, newest first, and a live
// tail that reads only what is newer than the newest line shown (every 5 s while switched on
// and the page is visible; there is no log stream to subscribe to).

import { api, explain, url } from '../api.js';
import { card, h, replace } from '../dom.js';
import * as f from '../fmt.js';

const LEVELS = ['', 'debug', 'info', 'warning', 'error', 'critical'];

function line(l) {
  return h('div.line', { dataset: { id: String(l.id) } },
    h('span.muted', f.time(l.time)), ' ',
    h(`span.lvl.lvl-${l.level}`, l.level.toUpperCase()),
    l.component ? h('span.muted', `${l.component} `) : null,
    h('span', l.message),
    l.truncated ? h('span.muted', ' (truncated)') : null,
    h('span.muted.small', ` · ${l.host}/${l.source}`));
}

export async function render(root, { params }) {
  const level = h('select', { name: 'level', 'aria-label': 'lowest level' }, LEVELS.map((l) => h('option', { value: l }, l ? `≥ ${l}` : 'any level')));
  level.value = params.get('level') || '';
  const component = h('input', { name: 'component', placeholder: 'component(s), comma separated', value: params.get('component') || '' });
  const text = h('input', { name: 'q', type: 'search', placeholder: 'text', value: params.get('q') || '' });
  const tail = h('input', { type: 'checkbox', id: 'tail', checked: true });
  const status = h('span.muted.small');
  const lines = h('div.logs', { id: 'log-lines' });
  let newest = null;
  let controller = null;

  function query(extra) {
    return url('/logs', { level: level.value, component: component.value.trim(), q: text.value.trim(), limit: 200, ...extra });
  }
  async function load() {
    controller?.abort();
    controller = new AbortController();
    try {
      const page = await api(query({}), { signal: controller.signal });
      newest = page.lines[0]?.time || null;
      replace(lines, page.lines.length ? page.lines.map(line) : h('p.muted', 'No line matches.'));
      status.textContent = `${page.lines.length} of ${page.total} lines`;
    } catch (err) {
      if (err.name !== 'AbortError') replace(lines, h('p.error', explain(err)));
    }
  }
  async function poll() {
    if (!tail.checked || document.hidden || !newest) return;
    try {
      const page = await api(query({ start: newest }));
      const known = new Set([...lines.querySelectorAll('.line')].map((el) => el.dataset.id));
      const fresh = page.lines.filter((l) => !known.has(String(l.id)));
      if (fresh.length) {
        lines.querySelector('p.muted')?.remove();
        lines.prepend(...fresh.map(line));
        newest = fresh[0].time;
        status.textContent = `${fresh.length} new line${fresh.length > 1 ? 's' : ''} ${f.ago(new Date())}`;
      }
    } catch {
      // The next tick tries again; the connection indicator says when the server is gone.
    }
  }
  let debounce = null;
  const reload = () => { clearTimeout(debounce); debounce = setTimeout(load, 300); };
  level.addEventListener('change', load);
  component.addEventListener('input', reload);
  text.addEventListener('input', reload);
  replace(root, card('Logs',
    h('div.row', level, component, text),
    h('div.row', h('label.small', tail, ' live tail'), status),
    lines));
  await load();
  const timer = setInterval(poll, 5000);
  return () => { clearInterval(timer); controller?.abort(); clearTimeout(debounce); };
}
