//! Volume-weighted indicators (OBV and VWAP): they need the volume column as well as prices, and,
//! unlike the others, they carry running totals across a missing bar instead of restarting.

use crate::runs::finite_at;

/// On-balance volume, TA-Lib's `OBV`.
///
/// The first value is the first bar's volume (TA-Lib); then each bar adds its volume when the
/// close rose, subtracts it when the close fell, and leaves the total unchanged when the close
/// is equal. A bar with a non-finite close or volume is `None` and skipped: the next bar compares
/// with the last finite close and continues the same total. Bars beyond the end of a shorter
/// `volume` count as such gaps.
pub fn obv(close: &[f64], volume: &[f64]) -> Vec<Option<f64>> {
    let mut out = vec![None; close.len()];
    let mut state: Option<(f64, f64)> = None; // (last close, running total)
    for (i, slot) in out.iter_mut().enumerate() {
        if !finite_at(&[close, volume], i) {
            continue;
        }
        let (c, v) = (close[i], volume[i]);
        let total = match state {
            None => v,
            Some((prev, total)) if c > prev => total + v,
            Some((prev, total)) if c < prev => total - v,
            Some((_, total)) => total,
        };
        state = Some((c, total));
        *slot = Some(total);
    }
    out
}

/// Volume-weighted average price, cumulative within a session.
///
/// `VWAP = Σ typical price × volume / Σ volume` since the session began, typical price being
/// `(high + low + close) / 3`. The totals reset whenever a bar's session id differs from the
/// session of the bars being accumulated (pass each intraday bar's exchange-local trading date).
/// A bar with any non-finite input, or beyond the end of a shorter input, is `None` and skipped
/// without resetting; the value is `None` while the session's volume is still zero.
pub fn vwap(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
    session_ids: &[i64],
) -> Vec<Option<f64>> {
    let mut out = vec![None; close.len()];
    let mut session: Option<i64> = None;
    let (mut price_volume, mut total_volume) = (0.0, 0.0);
    for (i, slot) in out.iter_mut().enumerate() {
        let Some(&id) = session_ids.get(i) else {
            continue;
        };
        if !finite_at(&[high, low, close, volume], i) {
            continue;
        }
        if session != Some(id) {
            session = Some(id);
            price_volume = 0.0;
            total_volume = 0.0;
        }
        let typical = (high[i] + low[i] + close[i]) / 3.0;
        price_volume += typical * volume[i];
        total_volume += volume[i];
        if total_volume != 0.0 {
            *slot = Some(price_volume / total_volume);
        }
    }
    out
}
