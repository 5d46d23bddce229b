//! Moving averages (SMA and EMA), the building blocks of the chart overlays and of MACD and
//! Bollinger bands; kept apart so every indicator seeds and rolls its averages the same way.

use crate::runs::{ema_k, finite_runs, mean};

/// Simple moving average of the last `period` values, TA-Lib's `SMA`.
///
/// The first value is at index `period - 1`; earlier indices are `None`. `period` must be at least
/// 2 (TA-Lib's range); any other period gives all `None`. A non-finite input makes every window
/// that contains it `None`.
pub fn sma(values: &[f64], period: usize) -> Vec<Option<f64>> {
    let mut out = vec![None; values.len()];
    if period < 2 {
        return out;
    }
    for run in finite_runs(values.len(), &[values]) {
        sma_into(&values[run.clone()], period, &mut out[run]);
    }
    out
}

/// SMA over one gap-free run, written into `out` (same length as `x`).
pub(crate) fn sma_into(x: &[f64], period: usize, out: &mut [Option<f64>]) {
    if x.len() < period {
        return;
    }
    let mut total: f64 = x[..period - 1].iter().sum();
    for i in period - 1..x.len() {
        total += x[i];
        out[i] = Some(total / period as f64);
        total -= x[i + 1 - period];
    }
}

/// Exponential moving average, TA-Lib's `EMA` (default compatibility).
///
/// Seeded with the simple average of the first `period` values (output at index `period - 1`),
/// then `ema = (value - ema) * k + ema` with `k = 2 / (period + 1)`. `period` must be at least 2;
/// any other period gives all `None`. After a non-finite input the EMA restarts with a fresh seed.
pub fn ema(values: &[f64], period: usize) -> Vec<Option<f64>> {
    let mut out = vec![None; values.len()];
    if period < 2 {
        return out;
    }
    for run in finite_runs(values.len(), &[values]) {
        ema_into(&values[run.clone()], period, &mut out[run]);
    }
    out
}

/// EMA over one gap-free run, written into `out` (same length as `x`).
fn ema_into(x: &[f64], period: usize, out: &mut [Option<f64>]) {
    if x.len() < period {
        return;
    }
    let k = ema_k(period);
    let mut prev = mean(&x[..period]);
    out[period - 1] = Some(prev);
    for i in period..x.len() {
        prev = (x[i] - prev) * k + prev;
        out[i] = Some(prev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sma_of_a_ramp() {
        // (1+2+3)/3 = 2, (2+3+4)/3 = 3, (3+4+5)/3 = 4
        assert_eq!(
            sma(&[1.0, 2.0, 3.0, 4.0, 5.0], 3),
            vec![None, None, Some(2.0), Some(3.0), Some(4.0)]
        );
    }

    #[test]
    fn ema_is_seeded_with_the_sma() {
        // seed = (1+2+3)/3 = 2; k = 2/4 = 0.5; next = (5-2)*0.5+2 = 3.5; then (2-3.5)*0.5+3.5 = 2.75
        assert_eq!(
            ema(&[1.0, 2.0, 3.0, 5.0, 2.0], 3),
            vec![None, None, Some(2.0), Some(3.5), Some(2.75)]
        );
    }

    #[test]
    fn invalid_periods_give_all_none() {
        assert_eq!(sma(&[1.0, 2.0], 0), vec![None, None]);
        assert_eq!(sma(&[1.0, 2.0], 1), vec![None, None]);
        assert_eq!(ema(&[1.0, 2.0], 1), vec![None, None]);
    }
}
