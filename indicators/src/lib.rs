//! Technical indicators for the market charts the API serves, computed exactly as TA-Lib 0.6
//! computes them, because the server's owner compares them with TA-Lib-based tools.
//!
//! Every function is pure, takes price (and volume) slices and returns one `Vec<Option<f64>>` per
//! output line, as long as its input; `None` marks the warm-up bars where TA-Lib gives no value
//! (never 0), so the API can send `null` there. The conventions reproduced, checked against TA-Lib
//! reference values in the tests:
//! - an EMA is seeded with the simple mean of its first `period` inputs, `k = 2 / (period + 1)`;
//! - Wilder smoothing (RSI, ATR) is seeded the same way and then uses `alpha = 1 / period`;
//! - MACD seeds its fast and slow EMAs on the same bar (`slow - 1`) and outputs all three lines
//!   only from the first signal value (index 33 for 12/26/9);
//! - Bollinger bands use the population standard deviation;
//! - STOCH outputs slow %K and %D from the same bar (index 17 for 14/3/3);
//! - OBV starts at the first bar's volume.
//!
//! # Gaps (non-finite inputs)
//! Callers should drop bars with missing prices before computing. When a NaN or infinity does
//! arrive, it must not poison the rest of the series, so: a bar with any non-finite input gives
//! `None`, and the price indicators (SMA, EMA, RSI, MACD, Bollinger, ATR, Stochastic) restart
//! after it as if the series began at the next finite bar, with a fresh warm-up. For the windowed
//! ones this is exactly "`None` wherever the window holds a gap". OBV and VWAP, being running
//! totals, skip the gap bar and carry on. An input slice shorter than the others is treated as
//! gaps past its end; the output length always follows `close` (or `values`).
//!
//! # Parameters
//! Periods outside TA-Lib's accepted range (0, or 1 where TA-Lib requires at least 2) give all
//! `None` rather than an error; a series shorter than the warm-up gives all `None` too.

mod average;
mod momentum;
mod runs;
mod volatility;
mod volume;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use average::{ema, sma};
pub use momentum::{macd, rsi, stochastic};
pub use volatility::{atr, bollinger};
pub use volume::{obv, vwap};

/// One indicator line: a value per input bar, `None` during the warm-up or at a gap.
pub type Series = Vec<Option<f64>>;

/// The series names [`compute_all`] returns, in its (alphabetical) order; `vwap` only when
/// sessions are given.
pub const SERIES_NAMES: [&str; 17] = [
    "atr_14",
    "bb_lower",
    "bb_middle",
    "bb_upper",
    "ema_12",
    "ema_26",
    "macd",
    "macd_hist",
    "macd_signal",
    "obv",
    "rsi_14",
    "sma_20",
    "sma_200",
    "sma_50",
    "stoch_d",
    "stoch_k",
    "vwap",
];

/// The columns of a bar series that the indicators need, oldest bar first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bars {
    /// High of each bar.
    pub high: Vec<f64>,
    /// Low of each bar.
    pub low: Vec<f64>,
    /// Close of each bar; the outputs are as long as this.
    pub close: Vec<f64>,
    /// Volume of each bar.
    pub volume: Vec<f64>,
    /// Session id of each bar (e.g. its exchange-local trading date as a day number) for
    /// intraday bars; VWAP is computed, resetting at each change, only when this is given.
    pub sessions: Option<Vec<i64>>,
}

/// Every indicator with the chart's default parameters, keyed by series name.
///
/// `sma_20`, `sma_50`, `sma_200`, `ema_12`, `ema_26`, `rsi_14`, `macd`, `macd_signal`,
/// `macd_hist` (12, 26, 9), `bb_upper`, `bb_middle`, `bb_lower` (20, 2σ), `atr_14`, `stoch_k`,
/// `stoch_d` (14, 3, 3), `obv`, and `vwap` when `bars.sessions` is given. Each series is as long
/// as `bars.close`.
pub fn compute_all(bars: &Bars) -> BTreeMap<String, Series> {
    let Bars {
        high,
        low,
        close,
        volume,
        sessions,
    } = bars;
    let mut out = BTreeMap::new();
    let mut put = |name: &str, series: Series| {
        out.insert(name.to_owned(), series);
    };
    put("sma_20", sma(close, 20));
    put("sma_50", sma(close, 50));
    put("sma_200", sma(close, 200));
    put("ema_12", ema(close, 12));
    put("ema_26", ema(close, 26));
    put("rsi_14", rsi(close, 14));
    let (macd_line, signal, hist) = macd(close, 12, 26, 9);
    put("macd", macd_line);
    put("macd_signal", signal);
    put("macd_hist", hist);
    let (upper, middle, lower) = bollinger(close, 20, 2.0);
    put("bb_upper", upper);
    put("bb_middle", middle);
    put("bb_lower", lower);
    put("atr_14", atr(high, low, close, 14));
    let (slow_k, slow_d) = stochastic(high, low, close, 14, 3, 3);
    put("stoch_k", slow_k);
    put("stoch_d", slow_d);
    put("obv", obv(close, volume));
    if let Some(sessions) = sessions {
        put("vwap", vwap(high, low, close, volume, sessions));
    }
    out
}
