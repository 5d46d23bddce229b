// Market: a symbol's candles with volume, the price overlays (SMA, EMA, Bollinger bands, VWAP)
// and the indicator panels (RSI, MACD, stochastic) the API computes, drawn by TradingView's
// lightweight-charts (loaded only here). Times on the axis are the exchange's (New York).

import { api, explain, url } from '../api.js';
import { card, h, kv, replace, segmented } from '../dom.js';
import * as f from '../fmt.js';
import { color, lightweightCharts } from '../charts.js';

const PERIODS = [['5d', '5 d'], ['1mo', '1 mo'], ['3mo', '3 mo'], ['6mo', '6 mo'], ['1y', '1 y'], ['5y', '5 y'], ['max', 'max']];
const INTERVAL_FOR = { '1d': '5m', '5d': '15m', '1mo': '1h', '3mo': '1d', '6mo': '1d', '1y': '1d', '5y': '1wk', max: undefined };
const OVERLAYS = [['sma_20', 'SMA 20'], ['sma_50', 'SMA 50'], ['sma_200', 'SMA 200'], ['ema_12', 'EMA 12'], ['ema_26', 'EMA 26'], ['bb', 'Bollinger'], ['vwap', 'VWAP']];
const PANELS = [['rsi', 'RSI 14'], ['macd', 'MACD'], ['stoch', 'Stochastic']];

const exchangeTick = new Intl.DateTimeFormat(undefined, { timeZone: f.EXCHANGE_ZONE, month: 'short', day: 'numeric' });
const exchangeFull = new Intl.DateTimeFormat(undefined, { timeZone: f.EXCHANGE_ZONE, dateStyle: 'medium', timeStyle: 'short' });

function lineData(times, values) {
  const out = [];
  values.forEach((v, i) => { if (v !== null && v !== undefined) out.push({ time: times[i], value: v }); });
  return out;
}

async function draw(box, chart, shown) {
  const LW = await lightweightCharts();
  const times = chart.bars.map((b) => Math.floor(Date.parse(b.time) / 1000));
  const ind = chart.indicators || {};
  const panels = PANELS.filter(([k]) => shown.has(k));
  const height = 320 + 90 + panels.length * 110;
  box.replaceChildren();
  const palette = ['series-1', 'series-4', 'series-3', 'warn', 'muted'].map(color);
  const lw = LW.createChart(box, {
    width: box.clientWidth,
    height,
    layout: { background: { color: color('card') }, textColor: color('fg'), attributionLogo: false, panes: { separatorColor: color('line') } },
    grid: { vertLines: { color: color('line') }, horzLines: { color: color('line') } },
    timeScale: { timeVisible: chart.interval.endsWith('m') || chart.interval === '1h', tickMarkFormatter: (t) => exchangeTick.format(new Date(t * 1000)) },
    localization: { timeFormatter: (t) => `${exchangeFull.format(new Date(t * 1000))} NY`, priceFormatter: (p) => f.number(p, 2) },
  });
  const candles = lw.addSeries(LW.CandlestickSeries, { upColor: color('up'), downColor: color('down'), borderVisible: false, wickUpColor: color('up'), wickDownColor: color('down') });
  candles.setData(chart.bars.map((b, i) => (b.open !== null && b.open !== undefined
    ? { time: times[i], open: b.open, high: b.high, low: b.low, close: b.close }
    : { time: times[i], open: b.close, high: b.close, low: b.close, close: b.close })));
  let n = 0;
  const overlay = (key, label) => {
    if (!ind[key]) return;
    lw.addSeries(LW.LineSeries, { color: palette[n++ % palette.length], lineWidth: 1, title: label, priceLineVisible: false, lastValueVisible: false }).setData(lineData(times, ind[key]));
  };
  for (const [key, label] of OVERLAYS) {
    if (!shown.has(key)) continue;
    if (key === 'bb') ['bb_upper', 'bb_middle', 'bb_lower'].forEach((k) => overlay(k, k.replace('bb_', 'BB ')));
    else overlay(key, label);
  }
  const volume = lw.addSeries(LW.HistogramSeries, { priceFormat: { type: 'volume' }, title: 'volume', priceLineVisible: false, lastValueVisible: false }, 1);
  volume.setData(chart.bars.map((b, i) => ({ time: times[i], value: b.volume || 0, color: b.close >= (b.open ?? b.close) ? color('up') : color('down') })));
  let pane = 2;
  for (const [key] of panels) {
    const line = (k, c, title) => ind[k] && lw.addSeries(LW.LineSeries, { color: c, lineWidth: 1, title, priceLineVisible: false }, pane).setData(lineData(times, ind[k]));
    if (key === 'rsi') line('rsi_14', palette[0], 'RSI 14');
    if (key === 'stoch') { line('stoch_k', palette[0], '%K'); line('stoch_d', palette[1], '%D'); }
    if (key === 'macd') {
      if (ind.macd_hist) lw.addSeries(LW.HistogramSeries, { title: 'hist', priceLineVisible: false }, pane).setData(lineData(times, ind.macd_hist).map((p) => ({ ...p, color: p.value >= 0 ? color('up') : color('down') })));
      line('macd', palette[0], 'MACD');
      line('macd_signal', palette[1], 'signal');
    }
    pane += 1;
  }
  // Candles take most of the height, volume and each indicator panel a share of the rest.
  lw.panes().forEach((p, i) => p.setStretchFactor(i === 0 ? 3.2 : i === 1 ? 0.9 : 1.1));
  lw.timeScale().fitContent();
  const observer = new ResizeObserver(() => lw.applyOptions({ width: box.clientWidth }));
  observer.observe(box);
  return () => { observer.disconnect(); lw.remove(); };
}

export async function render(root, { path, params }) {
  let symbol = (path[0] || params.get('symbol') || '').toUpperCase();
  if (!symbol) {
    const p = await api('/metrics/portfolio').catch(() => null);
    symbol = p?.positions?.[0]?.symbol || 'AAPL';
  }
  let period = params.get('period') || '6mo';
  const shown = new Set(['sma_20', 'sma_50', 'bb', 'rsi', 'macd']);
  const input = h('input', { name: 'symbol', value: symbol, maxlength: 24, autocapitalize: 'characters', 'aria-label': 'symbol' });
  const quote = h('div');
  const box = h('div.chart.tall', { id: 'market-chart' });
  const info = h('p.muted.small');
  let stop = null;

  async function load() {
    stop?.();
    stop = null;
    replace(box, h('p.muted', 'Loading…'));
    const [q, chart] = await Promise.allSettled([
      api(`/market/quote/${encodeURIComponent(symbol)}`),
      api(url(`/market/chart/${encodeURIComponent(symbol)}`, { period, interval: INTERVAL_FOR[period] })),
    ]);
    if (q.status === 'fulfilled') {
      const v = q.value;
      replace(quote, h('div.status-line',
        h('span.big', f.number(v.price, 2)), h('span.muted', v.currency || ''),
        h(`span.${f.signClass(v.change)}`, `${v.change >= 0 ? '+' : ''}${f.number(v.change, 2)} (${f.percent(v.change_percent, 2, true)})`),
        h('span.badge', v.market_state || 'unknown')),
      kv([['Day range', `${f.number(v.day_low, 2)} – ${f.number(v.day_high, 2)}`], ['Volume', f.number(v.volume)], ['Quoted', `${f.exchangeTime(v.time)} · ${f.ago(v.time)}`]]));
    } else {
      replace(quote, h('p.muted', `No quote: ${explain(q.reason)}`));
    }
    if (chart.status === 'rejected') {
      replace(box, h('p.error', explain(chart.reason)));
      return;
    }
    const c = chart.value;
    if (!c.bars.length) {
      replace(box, h('p.muted', 'No bars in this period.'));
      return;
    }
    info.textContent = `${c.bars.length} bars of ${c.interval} · ${c.meta?.exchange_name || c.meta?.exchange || ''} · from the ${c.source} · times in New York`;
    try {
      stop = await draw(box, c, shown);
    } catch (err) {
      replace(box, h('p.error', `Chart failed: ${err.message}`));
    }
    box.dataset.bars = String(c.bars.length);
  }

  const toggles = (options) => h('div.seg', options.map(([key, label]) => {
    const b = h(shown.has(key) ? 'button.on' : 'button', { type: 'button' }, label);
    b.addEventListener('click', () => { if (shown.has(key)) shown.delete(key); else shown.add(key); b.classList.toggle('on'); load(); });
    return b;
  }));
  replace(root, h('div.grid',
    h('section.card.wide',
      h('form.row', { onsubmit: (e) => { e.preventDefault(); symbol = input.value.trim().toUpperCase(); location.hash = `#/market/${encodeURIComponent(symbol)}`; } },
        input, h('button.primary', { type: 'submit' }, 'Show')),
      quote,
      h('div.row', segmented(PERIODS, period, (p) => { period = p; load(); })),
      h('div.row', toggles(OVERLAYS)),
      h('div.row', toggles(PANELS)),
      box, info,
      // The licence's attribution (the library's own logo needs an inline style the CSP refuses).
      h('p.legend-note', 'Charts by TradingView Lightweight Charts™, © TradingView, Inc. ', h('a', { href: 'https://www.tradingview.com/', rel: 'noopener noreferrer', target: '_blank' }, 'tradingview.com')))));
  await load();
  return () => stop?.();
}
