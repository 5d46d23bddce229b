//! Momentum oscillators (RSI, MACD, Stochastic): the panels under a chart that say whether a move
//! is accelerating or exhausted, each reproducing TA-Lib's seeding and output alignment exactly,
//! because users check these numbers against TA-Lib-based tools.

use crate::Series;
use crate::runs::{ema_k, finite_runs, mean};

/// Relative strength index, TA-Lib's `RSI` (Wilder smoothing, default compatibility).
///
/// The first averages are the simple means of the gains and losses of the first `period`
/// changes, so the first value is at index `period`; then `avg = (avg * (period - 1) + x) /
/// period`. RSI = `100 * avg_gain / (avg_gain + avg_loss)`, and 0 when the price did not move at
/// all over the smoothing (TA-Lib's value; TA-Lib also rounds sums below 1e-8 to "no move", this
/// crate only an exact zero, so sub-micro-priced assets keep a meaningful RSI). `period` must be
/// at least 2; any other period gives all `None`. After a non-finite input the RSI restarts.
pub fn rsi(values: &[f64], period: usize) -> Vec<Option<f64>> {
    let mut out = vec![None; values.len()];
    if period < 2 {
        return out;
    }
    for run in finite_runs(values.len(), &[values]) {
        rsi_into(&values[run.clone()], period, &mut out[run]);
    }
    out
}

/// RSI over one gap-free run, written into `out` (same length as `x`).
fn rsi_into(x: &[f64], period: usize, out: &mut [Option<f64>]) {
    if x.len() <= period {
        return;
    }
    let p = period as f64;
    let (mut gain, mut loss) = (0.0, 0.0);
    for i in 1..=period {
        let change = x[i] - x[i - 1];
        if change < 0.0 {
            loss -= change;
        } else {
            gain += change;
        }
    }
    gain /= p;
    loss /= p;
    out[period] = Some(rsi_value(gain, loss));
    for i in period + 1..x.len() {
        let change = x[i] - x[i - 1];
        gain *= p - 1.0;
        loss *= p - 1.0;
        if change < 0.0 {
            loss -= change;
        } else {
            gain += change;
        }
        gain /= p;
        loss /= p;
        out[i] = Some(rsi_value(gain, loss));
    }
}

/// `100 * gain / (gain + loss)`, 0 when nothing moved (TA-Lib).
fn rsi_value(gain: f64, loss: f64) -> f64 {
    let total = gain + loss;
    if total == 0.0 {
        0.0
    } else {
        100.0 * (gain / total)
    }
}

/// Moving average convergence/divergence, TA-Lib's `MACD(fast, slow, signal)`: returns
/// `(macd, signal, hist)`, each as long as the input, where `macd` = fast EMA - slow EMA,
/// `signal` = EMA of `macd`, `hist` = `macd - signal`.
///
/// TA-Lib seeds both EMAs on the same bar, `slow - 1`: the slow EMA with the mean of values
/// `0..slow`, the fast EMA with the mean of values `slow - fast..slow` (not from index 0 as a
/// standalone EMA would). The signal is an EMA of the MACD line seeded with the mean of its first
/// `signal` values. TA-Lib outputs all three series only once the signal exists, at index
/// `slow + signal - 2` (33 for 12/26/9); earlier indices are `None`. As in TA-Lib, a `fast`
/// greater than `slow` is swapped. `fast` and `slow` must be at least 2 and `signal` at least 1;
/// otherwise all `None`. After a non-finite input the whole computation restarts.
pub fn macd(values: &[f64], fast: usize, slow: usize, signal: usize) -> (Series, Series, Series) {
    let n = values.len();
    let (mut out_macd, mut out_signal, mut out_hist) =
        (vec![None; n], vec![None; n], vec![None; n]);
    if fast < 2 || slow < 2 || signal < 1 {
        return (out_macd, out_signal, out_hist);
    }
    let (fast, slow) = if slow < fast {
        (slow, fast)
    } else {
        (fast, slow)
    };
    for run in finite_runs(n, &[values]) {
        let x = &values[run.clone()];
        let first = slow + signal - 2;
        if x.len() <= first {
            continue;
        }
        // MACD line from index slow-1 of the run.
        let (kf, ks) = (ema_k(fast), ema_k(slow));
        let mut fast_ema = mean(&x[slow - fast..slow]);
        let mut slow_ema = mean(&x[..slow]);
        let mut line = Vec::with_capacity(x.len() + 1 - slow);
        line.push(fast_ema - slow_ema);
        for &v in &x[slow..] {
            fast_ema = (v - fast_ema) * kf + fast_ema;
            slow_ema = (v - slow_ema) * ks + slow_ema;
            line.push(fast_ema - slow_ema);
        }
        // Signal: EMA of the line, seeded with the mean of its first `signal` values.
        let kg = ema_k(signal);
        let mut sig = mean(&line[..signal]);
        for (j, &m) in line.iter().enumerate().skip(signal - 1) {
            if j >= signal {
                sig = (m - sig) * kg + sig;
            }
            let i = run.start + slow - 1 + j;
            out_macd[i] = Some(m);
            out_signal[i] = Some(sig);
            out_hist[i] = Some(m - sig);
        }
    }
    (out_macd, out_signal, out_hist)
}

/// Stochastic oscillator, TA-Lib's `STOCH` with SMA smoothing for both lines: returns
/// `(slow_k, slow_d)`, each as long as `close`.
///
/// Fast %K = `100 * (close - lowest low) / (highest high - lowest low)` over `fastk_period` bars
/// (0 when the range is empty, as TA-Lib); slow %K = SMA(`slowk_period`) of fast %K; slow %D =
/// SMA(`slowd_period`) of slow %K. TA-Lib outputs both lines from the same bar, index
/// `fastk + slowk + slowd - 3` (17 for 14/3/3), so %K is `None` there too even though it could
/// be computed two bars earlier. All periods must be at least 1; otherwise all `None`. A bar with
/// a non-finite high, low or close restarts the computation.
pub fn stochastic(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    fastk_period: usize,
    slowk_period: usize,
    slowd_period: usize,
) -> (Series, Series) {
    let n = close.len();
    let (mut out_k, mut out_d) = (vec![None; n], vec![None; n]);
    if fastk_period < 1 || slowk_period < 1 || slowd_period < 1 {
        return (out_k, out_d);
    }
    let first = fastk_period + slowk_period + slowd_period - 3;
    for run in finite_runs(n, &[high, low, close]) {
        let (h, l, c) = (&high[run.clone()], &low[run.clone()], &close[run.clone()]);
        if c.len() <= first {
            continue;
        }
        // fast[j] is fast %K at run index j + fastk_period - 1.
        let fast: Vec<f64> = (fastk_period - 1..c.len())
            .map(|i| {
                let window = i + 1 - fastk_period..=i;
                let highest = h[window.clone()]
                    .iter()
                    .copied()
                    .fold(f64::NEG_INFINITY, f64::max);
                let lowest = l[window].iter().copied().fold(f64::INFINITY, f64::min);
                let diff = (highest - lowest) / 100.0;
                if diff != 0.0 {
                    (c[i] - lowest) / diff
                } else {
                    0.0
                }
            })
            .collect();
        // slow_k[j] is slow %K at run index j + fastk_period + slowk_period - 2.
        let slow_k: Vec<f64> = fast.windows(slowk_period).map(mean).collect();
        let slow_d: Vec<f64> = slow_k.windows(slowd_period).map(mean).collect();
        for (j, &d) in slow_d.iter().enumerate() {
            let i = run.start + first + j;
            out_k[i] = Some(slow_k[j + slowd_period - 1]);
            out_d[i] = Some(d);
        }
    }
    (out_k, out_d)
}
