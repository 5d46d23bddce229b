// Overview: in ten seconds, is the server fine, its GPU, its account? The overall status with
// its reason, firing alerts (one-tap acknowledge), equity and today's P&L, open positions, GPU
// utilisation/temperature/power, CPU, memory, disk, the Grace module power, each collector's
// freshness and the tunnel. Samples arrive live; ages tick; /health is re-read every 30 s.

import { api } from '../api.js';
import { card, h, kv, replace, table, tile } from '../dom.js';
import * as f from '../fmt.js';
import { subscribe } from '../live.js';
import { alertItem } from './alert-item.js';

const latest = { system: new Map(), hardware: new Map() };

function optional(promise) {
  return promise.catch((err) => ({ error: err }));
}

/** Why the status is what it is, in words. */
function reasons(health) {
  const out = [];
  for (const dep of ['postgres', 'nats', 'stream']) {
    if (health[dep]?.status === 'down') out.push(`${dep === 'postgres' ? 'PostgreSQL' : dep === 'nats' ? 'NATS' : 'the JetStream stream'} is down${health[dep].error ? `: ${health[dep].error}` : ''}`);
  }
  for (const c of health.collectors || []) {
    if (c.status === 'stale') out.push(`${c.source} on ${c.host} is stale (last sample ${f.duration(c.age_seconds)} ago)`);
  }
  if (health.ingest && health.ingest.status !== 'ok') out.push(`ingest is ${health.ingest.status}`);
  for (const g of health.gpus || []) {
    if (g.nvml !== 'ok') out.push(`NVML on ${g.host}: ${g.nvml}${g.reason ? ` (${g.reason})` : ''}`);
  }
  if (health.alerts?.firing) out.push(`${health.alerts.firing} alert${health.alerts.firing > 1 ? 's' : ''} firing (${health.alerts.firing_critical} critical)`);
  return out;
}

function statusCard(health) {
  if (!health || health.error) return card('Status', h('p.error', `Health unknown: ${health?.error?.message || 'no answer'}`));
  const why = reasons(health);
  return card('Status',
    h('div.status-line',
      h(`span.badge.status-big.${health.status}`, { id: 'status' }, health.status),
      h('span.muted', `up ${f.duration(health.uptime_seconds)} · v${health.version}`)),
    why.length ? h('ul', { id: 'status-reasons' }, why.map((r) => h('li', r))) : h('p.muted', { id: 'status-reasons' }, 'Everything reports in and no alert fires.'));
}

function hostCard(entry) {
  const s = entry.sample;
  const mem = s.memory;
  const fs = (s.filesystems || []).slice().sort((a, b) => (a.mount_point === '/' ? -1 : b.mount_point === '/' ? 1 : b.total_bytes - a.total_bytes)).slice(0, 4);
  return h('section.card', { id: `host-${entry.host}`, dataset: { host: entry.host, messageId: entry.message_id, sampleTime: entry.time } },
    h('h2', 'Host'),
    h('div.big.host-name', entry.host),
    h('p.muted.small', 'sample ', h('span.sample-age', { dataset: { time: entry.time } }, f.ago(entry.time)), ` · ${f.time(entry.time)}`),
    h('div.tiles',
      tile('CPU', f.percent(s.cpu?.usage_percent), s.cpu?.usage_percent, s.cpu?.usage_percent > 90),
      tile('Memory', h('span.memory-used', mem ? f.gib(mem.used_bytes) : '—'), mem?.used_percent, mem?.used_percent > 90),
      tile('Memory total', mem ? f.gib(mem.total_bytes) : '—'),
      tile('Load (1 min)', f.number(s.load?.one, 2))),
    fs.length ? h('h3', 'Disk') : null,
    fs.map((d) => h('div.small',
      h('div.row', h('span', d.mount_point), h('span.muted', `${f.gib(d.used_bytes)} of ${f.gib(d.total_bytes)} · ${f.percent(d.used_percent)}`)),
      h('div.bar', h(d.used_percent > 90 ? 'span.hot' : 'span', { dataset: { w: String(d.used_percent) } })))));
}

function hardwareCard(entry) {
  const s = entry.sample;
  const module = (s.power_sensors || []).filter((p) => /module power/i.test(p.label));
  const rails = (s.power_sensors || []).filter((p) => !/module power/i.test(p.label));
  return h('section.card', { id: `hardware-${entry.host}`, dataset: { messageId: entry.message_id } },
    h('h2', `GPU · ${entry.host}`),
    s.nvml?.status !== 'ok' ? h('p.muted', `NVML ${s.nvml?.status || 'unknown'}${s.nvml?.reason ? `: ${s.nvml.reason}` : ''}`) : null,
    (s.gpus || []).map((g) => h('div',
      h('h3', `GPU ${g.index}`),
      h('div.tiles',
        tile('Utilisation', f.percent(g.utilization_percent, 0), g.utilization_percent),
        tile('Temperature', f.celsius(g.temperature_celsius), null),
        tile('Power', f.watts(g.power_watts), g.power_limit_watts ? (100 * g.power_watts) / g.power_limit_watts : null),
        tile('Memory', g.memory_used_bytes !== undefined ? `${f.gib(g.memory_used_bytes, 0)}` : '—',
          g.memory_total_bytes ? (100 * g.memory_used_bytes) / g.memory_total_bytes : null)))),
    module.length ? h('div.tiles', module.map((m) => tile(m.label.replace(/ power/i, ''), h('span.module-power', f.watts(m.power_watts))))) : null,
    rails.length ? kv(rails.map((r) => [r.label, f.watts(r.power_watts)])) : null);
}

function accountCard(portfolio) {
  if (!portfolio || portfolio.error) {
    return card('Account', h('p.muted', portfolio?.error?.status === 404 ? 'No brokerage account reports here.' : `Account unknown: ${portfolio?.error?.message || ''}`));
  }
  const cur = portfolio.currency || 'USD';
  return h('section.card', { id: 'account' },
    h('h2', 'Account'),
    h('div.tiles',
      tile('Equity', h('span.equity', f.money(portfolio.equity, cur))),
      tile('Today', h(`span.today.${f.signClass(portfolio.day_change)}`, f.money(portfolio.day_change, cur, true)))),
    h('p.muted.small', `${f.percent(portfolio.day_change_percent, 2, true)} today · buying power ${f.money(portfolio.buying_power, cur)} · ${portfolio.account_status} · ${f.ago(portfolio.snapshot_time)}`),
    h('h3', 'Open positions'),
    table([
      ['Symbol', (p) => p.symbol],
      ['Qty', (p) => `${f.number(p.quantity, 0)} ${p.side === 'short' ? 'short' : ''}`, true],
      ['Value', (p) => f.money(p.market_value, cur), true],
      ['P&L', (p) => h(`span.${f.signClass(p.unrealized_pnl)}`, f.money(p.unrealized_pnl, cur, true)), true],
    ], portfolio.positions || [], 'No open positions.'));
}

function freshnessCard(health) {
  if (!health || health.error) return null;
  return card('Collectors & tunnel',
    kv((health.collectors || []).map((c) => [`${c.source} · ${c.host}`,
      h(`span.${c.status === 'fresh' ? 'pos' : 'neg'}`, { dataset: { time: c.last_sample_time } }, `${c.status} · ${f.ago(c.last_sample_time)}`)])),
    h('h3', 'Tunnel'),
    (health.tunnels || []).length
      ? kv(health.tunnels.map((t) => [t.host, /^https?:\/\//.test(t.url || '') ? h('span', `${t.status} · `, h('a', { href: t.url, rel: 'noopener noreferrer' }, t.url.replace(/^https?:\/\//, ''))) : `${t.status}${t.reason ? ` (${t.reason})` : ''}`]))
      : h('p.muted', 'No supervisor reports a tunnel.'));
}

export async function render(root) {
  let health = null;
  let portfolio = null;
  let alerts = null;
  const sections = {
    status: h('div'), alerts: h('div'), account: h('div'), hosts: h('div.grid'), freshness: h('div'),
  };
  replace(root, h('div.grid', sections.status, sections.alerts, sections.account), sections.hosts, h('div.grid', sections.freshness));

  const draw = {
    status: () => replace(sections.status, statusCard(health)),
    alerts: () => {
      const firing = alerts?.alerts?.filter((a) => a.state === 'firing') || [];
      replace(sections.alerts, card(`Firing alerts (${firing.length})`,
        alerts?.error ? h('p.error', alerts.error.message) : null,
        firing.length ? h('div', { id: 'firing' }, firing.map((a) => alertItem(a, loadAlerts))) : h('p.muted', { id: 'firing' }, 'None.'),
        h('a', { href: '#/alerts' }, 'All alerts and silences')));
    },
    account: () => replace(sections.account, accountCard(portfolio)),
    freshness: () => replace(sections.freshness, freshnessCard(health)),
    hosts: () => {
      const hosts = [...latest.system.values()].sort((a, b) => a.host.localeCompare(b.host));
      replace(sections.hosts, hosts.length ? hosts.map(hostCard) : card('Host', h('p.muted', 'No system sample yet.')),
        [...latest.hardware.values()].map(hardwareCard));
    },
  };

  async function loadHealth() {
    health = await optional(api('/health'));
    draw.status();
    draw.freshness();
  }
  async function loadAlerts() {
    alerts = await optional(api('/alerts?state=firing&limit=50'));
    draw.alerts();
  }
  async function loadAll() {
    const [system, hardware, p] = await Promise.all([
      optional(api('/metrics/system')), optional(api('/metrics/hardware')), optional(api('/metrics/portfolio')),
      loadHealth(), loadAlerts(),
    ]);
    for (const e of system.hosts || []) latest.system.set(e.host, e);
    for (const e of hardware.hosts || []) latest.hardware.set(e.host, e);
    portfolio = p;
    draw.account();
    draw.hosts();
  }
  await loadAll();

  let redraw = null;
  const offSample = subscribe('sample', (event) => {
    if (event.source === 'system' || event.source === 'hardware') {
      latest[event.source].set(event.host, event);
    } else if (event.source === 'portfolio') {
      loadPortfolio();
      return;
    } else {
      return;
    }
    clearTimeout(redraw);
    redraw = setTimeout(draw.hosts, 100);
  });
  let portfolioTimer = null;
  function loadPortfolio() {
    clearTimeout(portfolioTimer);
    portfolioTimer = setTimeout(async () => {
      const p = await optional(api('/metrics/portfolio'));
      portfolio = p;
      draw.account();
    }, 500);
  }
  let alertTimer = null;
  const offAlert = subscribe('alert', () => {
    clearTimeout(alertTimer);
    alertTimer = setTimeout(() => { loadAlerts(); loadHealth(); }, 300);
  });
  const offResumed = subscribe('resumed', loadAll);
  const ticker = setInterval(() => {
    for (const el of root.querySelectorAll('[data-time]')) {
      if (el.classList.contains('sample-age')) el.textContent = f.ago(el.dataset.time);
    }
  }, 1000);
  const healthTimer = setInterval(loadHealth, 30000);
  return () => {
    offSample(); offAlert(); offResumed();
    clearInterval(ticker); clearInterval(healthTimer);
    clearTimeout(redraw); clearTimeout(alertTimer); clearTimeout(portfolioTimer);
  };
}
