// Trading: positions, open orders, statistics, the P&L calendar as a heatmap (a month's days,
// or a year's months), daily P&L bars, the equity curve with its drawdown, and the trade
// history with filters. Days are the exchange's (America/New_York), as the API counts them.

import { api, explain, url } from '../api.js';
import { card, h, kv, replace, segmented, table } from '../dom.js';
import * as f from '../fmt.js';
import { color, lineChart } from '../charts.js';
import { RANGES } from './history.js';

const MONTHS = Array.from({ length: 12 }, (_, i) => new Intl.DateTimeFormat(undefined, { month: 'short', timeZone: 'UTC' }).format(new Date(Date.UTC(2000, i, 15))));
const DOW = Array.from({ length: 7 }, (_, i) => new Intl.DateTimeFormat(undefined, { weekday: 'narrow', timeZone: 'UTC' }).format(new Date(Date.UTC(2024, 0, 1 + i))));

/** A heat colour for `pnl` against the largest magnitude `scale` (element.style from script). */
function heat(el, pnl, scale) {
  const n = Number(pnl);
  if (!n || !scale) return el;
  const strength = Math.min(1, Math.abs(n) / scale);
  el.style.background = `color-mix(in srgb, ${color(n > 0 ? 'up' : 'down')} ${Math.round(20 + 70 * strength)}%, ${color('heat-0')})`;
  if (strength > 0.45) el.style.color = '#fff';
  return el;
}

function monthGrid(answer, currency) {
  const cal = answer.calendar;
  const cells = cal.weeks.flat().filter(Boolean);
  const scale = Math.max(0, ...cells.map((c) => Math.abs(Number(c.pnl))));
  return h('div', { id: 'pnl-calendar', dataset: { year: String(cal.year), month: String(cal.month) } },
    h('div.cal', DOW.map((d) => h('div.dow', d)),
      cal.weeks.flatMap((week) => week.map((cell) => {
        if (!cell) return h('div');
        const day = Number(cell.date.slice(8));
        const el = h(`div.day${cell.market_day === 'holiday' ? '.holiday' : ''}`, { dataset: { date: cell.date, pnl: cell.pnl }, title: `${f.date(cell.date)}: ${f.money(cell.pnl, currency, true)}, ${cell.trades} trade(s)${cell.market_day ? ` · ${cell.market_day.replace('_', ' ')}` : ''}` },
          h('div.d', String(day)),
          Number(cell.pnl) || cell.trades ? h('div.p', f.money(cell.pnl, currency, true).replace(/\.\d\d(?=\D*$)/, '')) : null);
        return heat(el, cell.pnl, scale);
      }))),
    kv([
      ['Month', h(`span.${f.signClass(cal.month_total)}`, f.money(cal.month_total, currency, true))],
      ['Trading days', String(cal.trading_days)],
      cal.best_day ? ['Best day', `${f.date(cal.best_day.date)} ${f.money(cal.best_day.pnl, currency, true)}`] : null,
      cal.worst_day ? ['Worst day', `${f.date(cal.worst_day.date)} ${f.money(cal.worst_day.pnl, currency, true)}`] : null,
    ]),
    h('p.legend-note', `Days in ${answer.timezone}; dashed: exchange holiday.`));
}

function yearGrid(answer, currency, onmonth) {
  const scale = Math.max(0, ...answer.months.map((m) => Math.abs(Number(m.pnl))));
  const total = answer.months.reduce((s, m) => s + Number(m.pnl), 0);
  return h('div', { id: 'pnl-calendar', dataset: { year: String(answer.year) } },
    h('div.year', answer.months.map((m) => heat(h('button.month', { type: 'button', dataset: { month: String(m.month), pnl: m.pnl }, onclick: () => onmonth(m.month) },
      h('div', MONTHS[m.month - 1]),
      h('div.p', f.money(m.pnl, currency, true)),
      h('div.small.muted', `${m.winning_days}↑ ${m.losing_days}↓`)), m.pnl, scale))),
    kv([['Year', h(`span.${f.signClass(total)}`, f.money(total.toFixed(2), currency, true))]]));
}

function statistics(s, currency) {
  const m = (v) => f.money(v, currency, true);
  return kv([
    ['Net P&L', h(`span.${f.signClass(s.net_pnl)}`, m(s.net_pnl))],
    ['Closed / open trades', `${s.closed_trades} / ${s.open_trades}`],
    ['Win rate', s.win_rate === null ? '—' : f.ratio(s.win_rate)],
    ['Wins / losses', `${s.wins} / ${s.losses}`],
    ['Profit factor', f.number(s.profit_factor, 2)],
    ['Average win / loss', `${m(s.average_win)} / ${m(s.average_loss)}`],
    ['Expectancy', m(s.expectancy)],
    ['Largest win / loss', `${m(s.largest_win)} / ${m(s.largest_loss)}`],
    ['Max drawdown', s.max_drawdown ? m(`-${s.max_drawdown.amount}`.replace('--', '-')) : '—'],
    ['Sharpe / Sortino', `${f.number(s.sharpe_ratio, 2)} / ${f.number(s.sortino_ratio, 2)}`],
    ['Average hold', f.duration(s.average_duration_seconds)],
    ['Fees', f.money(s.total_fees, currency)],
  ]);
}

export async function render(root, { params }) {
  const sections = {
    account: h('div'), orders: h('div'), stats: h('div'), calendar: h('div.chart-host'), daily: h('div.chart', { id: 'daily-pnl' }), equity: h('div.chart'), drawdown: h('div.chart'), history: h('div'),
  };
  let currency = 'USD';
  let calYear = Number(params.get('year')) || null;
  let calMonth = params.has('month') ? Number(params.get('month')) : null;
  let calMode = params.get('calendar') || (calMonth || !calYear ? 'month' : 'year');
  let equityRange = '30d';
  const DAILY = [['30d', '30 d', 30], ['90d', '90 d', 90], ['1y', '1 y', 365], ['all', 'all', null]];
  let dailyRange = DAILY.some(([k]) => k === params.get('daily')) ? params.get('daily') : '90d';
  const calTitle = h('span');
  const filters = {
    symbol: h('input', { name: 'symbol', placeholder: 'symbol', maxlength: 24, autocapitalize: 'characters' }),
    side: h('select', { name: 'side' }, [['', 'long and short'], ['long', 'long'], ['short', 'short']].map(([v, l]) => h('option', { value: v }, l))),
    start_date: h('input', { name: 'start_date', type: 'date', 'aria-label': 'from' }),
    end_date: h('input', { name: 'end_date', type: 'date', 'aria-label': 'to' }),
  };
  let offset = 0;

  replace(root, h('div.grid',
    h('div', sections.account),
    h('div', sections.orders),
    card(null, h('h2', 'P&L calendar ', calTitle),
      h('div.row',
        segmented([['month', 'Month'], ['year', 'Year']], calMode, (m) => { calMode = m; loadCalendar(); }),
        h('button', { type: 'button', 'aria-label': 'previous', onclick: () => step(-1) }, '‹'),
        h('button', { type: 'button', 'aria-label': 'next', onclick: () => step(1) }, '›')),
      sections.calendar),
    card('Statistics', sections.stats),
    h('section.card.wide', h('h2', 'Daily P&L'),
      segmented(DAILY.map(([k, l]) => [k, l]), dailyRange, (r) => { dailyRange = r; loadDaily(); }),
      sections.daily),
    h('section.card.wide', h('h2', 'Equity and drawdown'),
      segmented(RANGES.filter(([k]) => k !== '1h').map(([k, l]) => [k, l]), equityRange, (r) => { equityRange = r; loadEquity(); }),
      sections.equity, sections.drawdown),
    h('section.card.wide', h('h2', 'Trade history'),
      h('form.row', { onsubmit: (e) => { e.preventDefault(); offset = 0; loadHistory(); } }, Object.values(filters), h('button.primary', { type: 'submit' }, 'Filter')),
      sections.history)));

  function step(delta) {
    const now = new Date();
    calYear = calYear || now.getFullYear();
    if (calMode === 'year') {
      calYear += delta;
    } else {
      calMonth = (calMonth || now.getMonth() + 1) + delta;
      if (calMonth < 1) { calMonth = 12; calYear -= 1; }
      if (calMonth > 12) { calMonth = 1; calYear += 1; }
    }
    loadCalendar();
  }

  async function loadAccount() {
    try {
      const [p, active] = await Promise.all([api('/metrics/portfolio').catch((e) => ({ error: e })), api('/trades/active')]);
      if (!p.error) currency = p.currency || currency;
      replace(sections.account, card('Positions',
        p.error ? h('p.muted', explain(p.error)) : h('p.small.muted', `Equity ${f.money(p.equity, currency)} · today ${f.money(p.day_change, currency, true)} · cash ${f.money(p.balance, currency)}`),
        table([
          ['Symbol', (x) => x.symbol],
          ['Qty', (x) => `${f.number(x.quantity, 0)}${x.side === 'short' ? ' short' : ''}`, true],
          ['Entry', (x) => f.money(x.average_entry_price, currency), true],
          ['Price', (x) => f.money(x.current_price, currency), true],
          ['P&L', (x) => h(`span.${f.signClass(x.unrealized_pnl)}`, f.money(x.unrealized_pnl, currency, true)), true],
          ['%', (x) => f.percent(x.unrealized_pnl_percent, 2, true), true],
        ], p.positions || [], 'No open positions.')));
      replace(sections.orders, card('Open orders',
        table([
          ['Symbol', (o) => o.symbol],
          ['Side', (o) => `${o.side} ${o.order_type || ''}`],
          ['Qty', (o) => (o.quantity ? `${f.number(o.filled_quantity, 0)}/${f.number(o.quantity, 0)}` : f.money(o.notional, currency)), true],
          ['Limit', (o) => (o.limit_price ? f.money(o.limit_price, currency) : o.stop_price ? `stop ${f.money(o.stop_price, currency)}` : 'market'), true],
          ['Placed', (o) => f.exchangeTime(o.created_at)],
        ], active.open_orders, 'No open orders.'),
        active.orders_time ? h('p.muted.small', `as of ${f.ago(active.orders_time)}`) : null));
    } catch (err) {
      replace(sections.account, card('Positions', h('p.error', explain(err))));
    }
  }

  async function loadStats() {
    try {
      replace(sections.stats, statistics(await api('/trades/statistics'), currency));
    } catch (err) {
      replace(sections.stats, h('p.error', explain(err)));
    }
  }

  async function loadCalendar() {
    const now = new Date();
    const year = calYear || now.getFullYear();
    try {
      if (calMode === 'month') {
        const month = calMonth || now.getMonth() + 1;
        calTitle.textContent = `${MONTHS[month - 1]} ${year}`;
        replace(sections.calendar, monthGrid(await api(url('/trades/pnl-calendar', { year, month })), currency));
      } else {
        calTitle.textContent = String(year);
        replace(sections.calendar, yearGrid(await api(url('/trades/pnl-calendar', { year })), currency, (m) => { calMode = 'month'; calYear = year; calMonth = m; loadCalendar(); }));
      }
    } catch (err) {
      replace(sections.calendar, h('p.error', explain(err)));
    }
  }

  async function loadDaily() {
    const days = DAILY.find(([k]) => k === dailyRange)[2];
    const start = days ? new Date(Date.now() - days * 86400000) : null;
    try {
      const page = await api(url('/trades/daily-pnl', { start_date: start?.toISOString().slice(0, 10), end_date: f.exchangeToday() }));
      const active = page.days.filter((d) => d.trades_closed || Number(d.net_pnl));
      if (!active.length) { replace(sections.daily, h('p.muted', days ? `No realised P&L in the last ${days} days.` : 'No realised P&L yet.')); return; }
      const times = active.map((d) => Date.parse(`${d.date}T16:00:00Z`) / 1000);
      const values = active.map((d) => Number(d.net_pnl));
      sections.daily.dataset.days = String(active.length);
      await lineChart(sections.daily, times, [
        { label: 'gain', values: values.map((v) => (v >= 0 ? v : null)), color: color('up'), fill: color('up') },
        { label: 'loss', values: values.map((v) => (v < 0 ? v : null)), color: color('down'), fill: color('down') },
      ], { bars: true, height: 200, format: (v) => f.money(v, currency), xRange: start ? [start.getTime() / 1000, Date.now() / 1000] : undefined });
    } catch (err) {
      replace(sections.daily, h('p.error', explain(err)));
    }
  }

  async function loadEquity() {
    const seconds = RANGES.find(([k]) => k === equityRange)[2];
    const to = new Date();
    const from = new Date(to.getTime() - seconds * 1000);
    try {
      const answer = await api(url('/metrics/history', { name: 'portfolio.equity', from: from.toISOString(), to: to.toISOString(), max_points: 400 }));
      const points = answer.series[0]?.points || [];
      if (!points.length) {
        replace(sections.equity, h('p.muted', 'No equity recorded in this range.'));
        replace(sections.drawdown);
        return;
      }
      const times = points.map((p) => Date.parse(p.time) / 1000);
      const equity = points.map((p) => p.value);
      let peak = -Infinity;
      const drawdown = equity.map((v) => { peak = Math.max(peak, v); return peak > 0 ? ((v - peak) / peak) * 100 : 0; });
      const xRange = [from.getTime() / 1000, to.getTime() / 1000];
      await lineChart(sections.equity, times, [{ label: 'equity', values: equity }], { height: 200, format: (v) => f.money(v, currency), xRange });
      await lineChart(sections.drawdown, times, [{ label: 'drawdown', values: drawdown, color: color('down'), fill: color('heat-0') }], { height: 120, format: (v) => f.percent(v), xRange });
    } catch (err) {
      replace(sections.equity, h('p.error', explain(err)));
    }
  }

  async function loadHistory() {
    const query = Object.fromEntries(Object.entries(filters).map(([k, el]) => [k, el.value.trim()]));
    if (query.symbol) query.symbol = query.symbol.toUpperCase();
    try {
      const page = await api(url('/trades/history', { ...query, limit: 25, offset }));
      replace(sections.history,
        table([
          ['Symbol', (t) => t.symbol],
          ['Side', (t) => `${t.side}${t.status === 'open' ? ' (open)' : ''}`],
          ['Qty', (t) => f.number(t.entry_quantity, 0), true],
          ['Entry', (t) => f.money(t.entry_price, currency), true],
          ['Exit', (t) => f.money(t.exit_price, currency), true],
          ['P&L', (t) => h(`span.${f.signClass(t.realised_pnl)}`, f.money(t.realised_pnl, currency, true)), true],
          ['Return', (t) => f.percent(t.return_percent, 2, true), true],
          ['Closed', (t) => (t.closed_at ? f.exchangeTime(t.closed_at) : '—')],
        ], page.trades, 'No trade matches.'),
        h('div.row',
          h('span.muted.small', `${page.total ? offset + 1 : 0}–${offset + page.trades.length} of ${page.total}`),
          offset > 0 ? h('button', { type: 'button', onclick: () => { offset = Math.max(0, offset - 25); loadHistory(); } }, 'Newer') : null,
          offset + page.trades.length < page.total ? h('button', { type: 'button', onclick: () => { offset += 25; loadHistory(); } }, 'Older') : null));
    } catch (err) {
      replace(sections.history, h('p.error', explain(err)));
    }
  }

  await loadAccount();
  await Promise.all([loadStats(), loadCalendar(), loadDaily(), loadEquity(), loadHistory()]);
  return null;
}
