//! `market:`: the Yahoo Finance chart endpoint the market collector asks, its watchlist, and the
//! request budget.

use serde::Deserialize;

use super::key_path::{KeyPath, Validate, key};
use crate::SettingsError;

/// Market data from Yahoo Finance's chart endpoint, through `exporter-collector market`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketSettings {
    /// Run the market collector under `exporter up`.
    pub enabled: bool,
    /// Chart endpoint base URL (env `EXPORTER_YAHOO_BASE_URL`).
    pub yahoo_base_url: String,
    /// Symbols kept up to date (open positions are added automatically).
    pub watchlist: Vec<String>,
    /// Seconds between quote refreshes of the watchlist.
    pub quote_interval_seconds: u64,
    /// Seconds between refreshes of the watchlist's daily and intraday bars.
    pub bars_interval_seconds: u64,
    /// Bound on requests to Yahoo per minute.
    pub max_requests_per_minute: u32,
    pub timeout_seconds: u64,
    /// A burst of the same chart request within this many seconds is fetched once.
    pub cache_seconds: u64,
    /// How long the API waits for the collector to fetch what the store lacks.
    pub rpc_timeout_seconds: u64,
}

impl Default for MarketSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            yahoo_base_url: "https://query1.finance.yahoo.com".into(),
            watchlist: Vec::new(),
            quote_interval_seconds: 60,
            bars_interval_seconds: 900,
            max_requests_per_minute: 60,
            timeout_seconds: 10,
            cache_seconds: 30,
            rpc_timeout_seconds: 20,
        }
    }
}

impl Validate for MarketSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.yahoo_base_url).check(
            self.yahoo_base_url.starts_with("http://")
                || self.yahoo_base_url.starts_with("https://"),
            "must be an http(s) URL",
        )?;
        key!(at, self.quote_interval_seconds).in_range(self.quote_interval_seconds, 5, 86_400)?;
        key!(at, self.bars_interval_seconds).in_range(self.bars_interval_seconds, 60, 86_400)?;
        key!(at, self.max_requests_per_minute).in_range(
            u64::from(self.max_requests_per_minute),
            1,
            2000,
        )?;
        key!(at, self.timeout_seconds).in_range(self.timeout_seconds, 1, 120)?;
        key!(at, self.cache_seconds).in_range(self.cache_seconds, 0, 3600)?;
        key!(at, self.rpc_timeout_seconds).in_range(self.rpc_timeout_seconds, 1, 120)
    }
}
