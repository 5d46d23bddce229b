//! `alpaca:`: the brokerage API the portfolio and trades collectors poll, and how often.

use serde::Deserialize;

use super::key_path::{KeyPath, Validate, key};
use crate::SettingsError;

/// The Alpaca Trading API (brokerage): where, and how often the portfolio and trades
/// collectors ask. Keys: `EXPORTER_ALPACA_KEY_ID` / `EXPORTER_ALPACA_SECRET_KEY`, or files named
/// by `EXPORTER_ALPACA_KEY_ID_FILE` / `EXPORTER_ALPACA_SECRET_KEY_FILE`; without keys those two
/// collectors are not started.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlpacaSettings {
    /// API base URL (env `EXPORTER_ALPACA_BASE_URL`): paper by default, `https://api.alpaca.markets`
    /// for live accounts.
    pub base_url: String,
    /// Seconds between account and positions snapshots.
    pub portfolio_interval_seconds: u64,
    /// Seconds between portfolio (equity) history refreshes.
    pub history_interval_seconds: u64,
    /// History span and resolution asked for (Alpaca's `period` and `timeframe`).
    pub history_period: String,
    pub history_timeframe: String,
    /// Seconds between polls for new fills and open orders.
    pub trades_interval_seconds: u64,
    pub timeout_seconds: u64,
    /// The account's request budget (Alpaca allows 200 a minute).
    pub max_requests_per_minute: u32,
}

impl Default for AlpacaSettings {
    fn default() -> Self {
        Self {
            base_url: "https://paper-api.alpaca.markets".into(),
            portfolio_interval_seconds: 15,
            history_interval_seconds: 300,
            history_period: "1A".into(),
            history_timeframe: "1D".into(),
            trades_interval_seconds: 10,
            timeout_seconds: 10,
            max_requests_per_minute: 200,
        }
    }
}

impl Validate for AlpacaSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.base_url).check(
            self.base_url.starts_with("http://") || self.base_url.starts_with("https://"),
            "must be an http(s) URL",
        )?;
        key!(at, self.portfolio_interval_seconds).in_range(
            self.portfolio_interval_seconds,
            1,
            3600,
        )?;
        key!(at, self.history_interval_seconds).in_range(
            self.history_interval_seconds,
            10,
            86_400,
        )?;
        key!(at, self.trades_interval_seconds).in_range(self.trades_interval_seconds, 1, 3600)?;
        key!(at, self.timeout_seconds).in_range(self.timeout_seconds, 1, 300)?;
        key!(at, self.max_requests_per_minute).in_range(
            u64::from(self.max_requests_per_minute),
            1,
            10_000,
        )
    }
}
