// History: a chart of any stored series over a chosen range (1 h … 1 y); drag across a chart
// to zoom in (the API is asked again for that span, at a finer step), "Reset zoom" to go back.
// Two prepared pages: the host (CPU, memory, load, disk, network) and the GPU (utilisation,
// temperature, power, memory, the Grace module's power rails).

import { api, explain, url } from '../api.js';
import { card, h, replace, segmented } from '../dom.js';
import * as f from '../fmt.js';
import { lineChart } from '../charts.js';
import { SERIES } from './series.js';

export const RANGES = [['1h', '1 h', 3600], ['6h', '6 h', 21600], ['24h', '24 h', 86400], ['7d', '7 d', 604800], ['30d', '30 d', 2592000], ['90d', '90 d', 7776000], ['1y', '1 y', 31536000]];

const PAGES = {
  host: [
    { name: 'cpu.usage_percent', title: 'CPU' },
    { name: 'memory.used_percent', title: 'Memory used' },
    { name: 'load.one', title: 'Load (1 min)' },
    { name: 'filesystem.used_percent', title: 'Disk used' },
    { name: 'network.rx_bytes_per_second', title: 'Network in' },
    { name: 'network.tx_bytes_per_second', title: 'Network out' },
  ],
  gpu: [
    { name: 'gpu.utilization_percent', title: 'GPU utilisation' },
    { name: 'gpu.temperature_celsius', title: 'GPU temperature' },
    { name: 'gpu.power_watts', title: 'GPU power' },
    { name: 'gpu.memory_used_bytes', title: 'GPU memory used' },
    { name: 'hwmon.power_watts', title: 'Module power rails (Grace)' },
    { name: 'gpu.sm_clock_mhz', title: 'SM clock' },
  ],
};

/** How values of series `name` read. */
export function formatter(name) {
  if (/^(portfolio\.(equity|cash|buying_power|long_market_value|short_market_value|day_change)|position\.|trading\.realized)/.test(name)) return (v) => f.money(v);
  if (name.endsWith('_bytes_per_second')) return (v) => `${f.bytes(v)}/s`;
  if (name.endsWith('_bytes')) return (v) => f.bytes(v);
  if (name.endsWith('_percent')) return (v) => f.percent(v);
  if (name.endsWith('_celsius')) return (v) => f.celsius(v);
  if (name.endsWith('_watts')) return (v) => f.watts(v);
  if (name.endsWith('_mhz')) return (v) => `${f.number(v)} MHz`;
  if (name.endsWith('_seconds')) return (v) => f.duration(v);
  return (v) => f.number(v, Math.abs(v) < 10 ? 2 : 0);
}

function seriesLabel(series, many) {
  const labels = Object.entries(series.labels || {}).map(([k, v]) => `${k}=${v}`).join(' ');
  return [many.hosts ? series.host : null, labels].filter(Boolean).join(' ') || series.host;
}

/** Draws series `name` over [from, to] into `box`; a drag zooms via `onzoom(from, to)`. */
export async function drawHistory(box, name, { from, to, host, labels, onzoom, height = 220, max = 8 }) {
  const answer = await api(url('/metrics/history', { name, host, labels, from: from.toISOString(), to: to.toISOString(), max_points: 400 }));
  const series = answer.series.slice(0, max);
  if (!series.length) {
    replace(box, h('p.muted', 'No points in this range.'));
    return answer;
  }
  const times = [...new Set(series.flatMap((s) => s.points.map((p) => Date.parse(p.time) / 1000)))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const many = { hosts: new Set(series.map((s) => s.host)).size > 1 };
  const lines = series.map((s) => {
    const values = new Array(times.length).fill(null);
    for (const p of s.points) values[index.get(Date.parse(p.time) / 1000)] = p.value;
    return { label: seriesLabel(s, many), values };
  });
  const chart = await lineChart(box, times, lines, { height, format: formatter(name), xRange: [from.getTime() / 1000, to.getTime() / 1000] });
  if (onzoom) {
    chart.over.addEventListener('mouseup', () => {
      const sel = chart.select;
      if (sel.width > 10) {
        const a = chart.posToVal(sel.left, 'x');
        const b = chart.posToVal(sel.left + sel.width, 'x');
        onzoom(new Date(a * 1000), new Date(b * 1000));
      }
    });
  }
  box.dataset.points = String(series.reduce((n, s) => n + s.points.length, 0));
  return answer;
}

export async function render(root, { path, params }) {
  const page = PAGES[path[0]] ? path[0] : 'custom';
  let range = params.get('range') || '1h';
  let zoom = null;
  const name = h('input', { list: 'series-names', name: 'series', value: params.get('name') || 'cpu.usage_percent', placeholder: 'series name', 'aria-label': 'series' });
  const labels = h('input', { name: 'labels', value: params.get('labels') || '', placeholder: 'labels, e.g. mount_point=/', 'aria-label': 'labels' });
  const host = h('select', { name: 'host', 'aria-label': 'host' }, h('option', { value: '' }, 'every host'));
  const charts = h('div.grid');
  const resetZoom = h('button', { type: 'button', hidden: true, onclick: () => { zoom = null; draw(); } }, 'Reset zoom');
  const note = h('span.muted.small');

  function span() {
    if (zoom) return zoom;
    const seconds = RANGES.find(([key]) => key === range)[2];
    const to = new Date();
    return { from: new Date(to.getTime() - seconds * 1000), to };
  }
  async function draw() {
    resetZoom.hidden = !zoom;
    const { from, to } = span();
    note.textContent = `${f.time(from)} – ${f.time(to)}`;
    const specs = page === 'custom' ? [{ name: name.value.trim(), title: name.value.trim(), labels: labels.value.trim() }] : PAGES[page];
    const boxes = specs.map((spec) => {
      const box = h('div.chart', { dataset: { series: spec.name } });
      return { spec, box, el: h('section.card', { class: specs.length === 1 ? 'wide' : '' }, h('h2', spec.title), box) };
    });
    replace(charts, boxes.map((b) => b.el));
    await Promise.all(boxes.map(async ({ spec, box }) => {
      try {
        await drawHistory(box, spec.name, {
          from, to, host: host.value, labels: spec.labels, height: specs.length === 1 ? 320 : 200,
          onzoom: (a, b) => { zoom = { from: a, to: b }; draw(); },
        });
      } catch (err) {
        replace(box, h('p.error', explain(err)));
      }
    }));
  }

  try {
    const system = await api('/metrics/system');
    for (const e of system.hosts) host.append(h('option', { value: e.host }, e.host));
    if (system.hosts.length === 1) host.value = system.hosts[0].host;
  } catch {
    // Hosts unknown: every host it is.
  }
  host.addEventListener('change', draw);
  const picker = page === 'custom'
    ? h('form.row', { onsubmit: (e) => { e.preventDefault(); zoom = null; draw(); } }, name, labels, h('button.primary', { type: 'submit' }, 'Show'),
      h('datalist', { id: 'series-names' }, SERIES.map((s) => h('option', { value: s }))))
    : null;
  replace(root,
    h('div.row', segmented([['custom', 'Any series'], ['host', 'Host'], ['gpu', 'GPU']], page, (p) => { location.hash = p === 'custom' ? '#/history' : `#/history/${p}`; })),
    card(null, picker, h('div.row', host, segmented(RANGES.map(([k, l]) => [k, l]), range, (r) => { range = r; zoom = null; draw(); }), resetZoom), note, h('p.legend-note', 'Drag across a chart with a mouse to zoom in; the range buttons pick the span.')),
    charts);
  await draw();
  return null;
}
