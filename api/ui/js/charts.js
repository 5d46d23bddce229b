// Charts, loaded only when a view draws one: uPlot (vendored, api/ui/vendor/uplot) for time
// series and bars, TradingView's lightweight-charts (api/ui/vendor/lightweight-charts) for the
// market's candles. Both come from this origin, by a script element (allowed by the CSP).

const loaded = new Map();

function load(src, isStyle = false) {
  if (!loaded.has(src)) {
    loaded.set(src, new Promise((resolve, reject) => {
      const el = isStyle
        ? Object.assign(document.createElement('link'), { rel: 'stylesheet', href: src })
        : Object.assign(document.createElement('script'), { src });
      el.onload = resolve;
      el.onerror = () => reject(new Error(`cannot load ${src}`));
      document.head.append(el);
    }));
  }
  return loaded.get(src);
}

export async function uPlotLib() {
  await Promise.all([load('/ui/vendor/uplot/uPlot.min.css', true), load('/ui/vendor/uplot/uPlot.iife.min.js')]);
  return window.uPlot;
}

export async function lightweightCharts() {
  await load('/ui/vendor/lightweight-charts/lightweight-charts.standalone.production.js');
  return window.LightweightCharts;
}

/** The theme's colour `--name`. */
export function color(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(`--${name}`).trim();
}

const palette = () => ['series-1', 'series-2', 'series-3', 'series-4'].map(color);

function axis(format) {
  const out = {
    stroke: color('muted'),
    grid: { stroke: color('line'), width: 1 },
    ticks: { stroke: color('line'), width: 1 },
  };
  if (format) {
    out.values = (u, values) => values.map((v) => (v === null ? '' : format(v)));
    out.size = 84;
  }
  return out;
}

/** Keeps a chart as wide as its box. */
function follow(el, chart, height) {
  const observer = new ResizeObserver(() => {
    const width = Math.floor(el.clientWidth);
    if (width > 0) chart.setSize({ width, height });
  });
  observer.observe(el);
  const destroy = chart.destroy.bind(chart);
  chart.destroy = () => {
    observer.disconnect();
    destroy();
  };
  return chart;
}

/**
 * A time-series chart in `el`: `times` in seconds, `lines` = [{label, values, color?, fill?}].
 * `xRange` ([from, to] in seconds) is the span shown, the one asked for, however few the points;
 * a drag selects a span to zoom into (the caller asks the API again for it).
 */
export async function lineChart(el, times, lines, { height = 220, format, bars = false, xRange } = {}) {
  const uPlot = await uPlotLib();
  const colors = palette();
  const series = [{}].concat(lines.map((line, i) => ({
    label: line.label,
    stroke: line.color || colors[i % colors.length],
    width: 1.5,
    fill: line.fill,
    spanGaps: false,
    paths: bars ? uPlot.paths.bars({ size: [0.7, 40] }) : undefined,
    value: format ? (u, v) => (v === null || v === undefined ? '—' : format(v)) : undefined,
    points: { show: bars ? false : times.length < 30 ? true : undefined, size: 6 },
  })));
  const options = {
    width: Math.max(200, Math.floor(el.clientWidth)),
    height,
    series,
    axes: [axis(), axis(format)],
    cursor: { drag: { x: true, y: false } },
    scales: { x: xRange ? { time: true, range: () => xRange } : { time: true } },
    legend: { live: true },
  };
  el.replaceChildren();
  return follow(el, new uPlot(options, [times, ...lines.map((l) => l.values)], el), height);
}
