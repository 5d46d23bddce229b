//! Volatility measures (Bollinger bands and ATR): how wide prices swing, for the band overlay and
//! for sizing stops, computed with TA-Lib's conventions (population deviation, Wilder's ATR).

use crate::Series;
use crate::average::sma_into;
use crate::runs::finite_runs;

/// Bollinger bands, TA-Lib's `BBANDS(period, k, k, SMA)`: returns `(upper, middle, lower)`,
/// each as long as the input.
///
/// The middle band is the SMA over `period` bars; the bands are `k` times the *population*
/// standard deviation (divide by `period`, TA-Lib's definition) above and below it. The first
/// value is at index `period - 1`. `period` must be at least 2 and `k` finite; otherwise all
/// `None`. A non-finite input makes every window that contains it `None`.
pub fn bollinger(values: &[f64], period: usize, k: f64) -> (Series, Series, Series) {
    let n = values.len();
    let (mut upper, mut middle, mut lower) = (vec![None; n], vec![None; n], vec![None; n]);
    if period < 2 || !k.is_finite() {
        return (upper, middle, lower);
    }
    for run in finite_runs(n, &[values]) {
        let x = &values[run.clone()];
        sma_into(x, period, &mut middle[run.clone()]);
        for i in run.clone() {
            let Some(mid) = middle[i] else { continue };
            let window = &values[i + 1 - period..=i];
            // Two passes over the window: exact even where mean(x²) - mean² would cancel badly.
            let variance =
                window.iter().map(|v| (v - mid) * (v - mid)).sum::<f64>() / period as f64;
            let band = k * variance.max(0.0).sqrt();
            upper[i] = Some(mid + band);
            lower[i] = Some(mid - band);
        }
    }
    (upper, middle, lower)
}

/// Average true range, TA-Lib's `ATR` (Wilder smoothing).
///
/// True range at bar `i ≥ 1` is `max(high - low, |high - prev close|, |low - prev close|)` (bar 0
/// has none: no previous close). The first ATR, at index `period`, is the mean of the true ranges
/// of bars `1..=period`; then `atr = (atr * (period - 1) + tr) / period`. `period` must be at
/// least 1; otherwise all `None`. A bar with a non-finite high, low or close restarts the ATR.
pub fn atr(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Vec<Option<f64>> {
    let n = close.len();
    let mut out = vec![None; n];
    if period < 1 {
        return out;
    }
    let p = period as f64;
    for run in finite_runs(n, &[high, low, close]) {
        if run.len() <= period {
            continue;
        }
        let true_range = |i: usize| {
            let prev = close[i - 1];
            (high[i] - low[i])
                .max((high[i] - prev).abs())
                .max((low[i] - prev).abs())
        };
        let seed_end = run.start + period;
        let mut value = (run.start + 1..=seed_end).map(true_range).sum::<f64>() / p;
        out[seed_end] = Some(value);
        for (i, slot) in out.iter_mut().enumerate().take(run.end).skip(seed_end + 1) {
            value = (value * (p - 1.0) + true_range(i)) / p;
            *slot = Some(value);
        }
    }
    out
}
