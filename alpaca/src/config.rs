//! Client settings and the secret-key wrapper.
//!
//! The settings are a plain struct so the exporter's settings layer can fill them from its own
//! file and environment; the secret key lives in a wrapper that has no `Display` and whose
//! `Debug` prints `[redacted]`, so it cannot reach a log line by accident.

use std::fmt;
use std::time::Duration;

/// Base URL of Alpaca's paper-trading endpoint (paper keys only work here).
pub const PAPER_BASE_URL: &str = "https://paper-api.alpaca.markets";

/// Base URL of Alpaca's live-trading endpoint (live keys only work here).
pub const LIVE_BASE_URL: &str = "https://api.alpaca.markets";

/// Alpaca's documented request budget per API key: 200 requests per minute.
pub const DEFAULT_MAX_REQUESTS_PER_MINUTE: u32 = 200;

/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default number of retries after the first attempt (429, 5xx, connection errors, timeouts).
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// The Alpaca secret key. `Debug` prints `[redacted]`; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    /// Wraps a secret key value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The key itself; call only where it is sent, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the key is empty (an unset setting).
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for SecretKey {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for SecretKey {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// How to reach Alpaca's Trading API v2 and how politely.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Scheme and host, e.g. [`PAPER_BASE_URL`] or [`LIVE_BASE_URL`]; a trailing `/` or `/v2` is
    /// accepted and ignored.
    pub base_url: String,
    /// The API key id, sent as `APCA-API-KEY-ID`.
    pub key_id: String,
    /// The API secret key, sent as `APCA-API-SECRET-KEY`.
    pub secret_key: SecretKey,
    /// Timeout of one HTTP request (connect, send and read the whole body).
    pub timeout: Duration,
    /// Client-side budget of requests per sliding minute (Alpaca allows 200).
    pub max_requests_per_minute: u32,
    /// Retries after the first attempt on 429, 5xx, connection errors and timeouts.
    pub max_retries: u32,
}

impl ClientConfig {
    /// Settings for `base_url` with these keys and the defaults for everything else.
    pub fn new(
        base_url: impl Into<String>,
        key_id: impl Into<String>,
        secret_key: impl Into<SecretKey>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            key_id: key_id.into(),
            secret_key: secret_key.into(),
            ..Self::default()
        }
    }
}

impl Default for ClientConfig {
    /// The paper endpoint, no keys, [`DEFAULT_TIMEOUT`], [`DEFAULT_MAX_REQUESTS_PER_MINUTE`] and
    /// [`DEFAULT_MAX_RETRIES`].
    fn default() -> Self {
        Self {
            base_url: PAPER_BASE_URL.to_owned(),
            key_id: String::new(),
            secret_key: SecretKey::new(""),
            timeout: DEFAULT_TIMEOUT,
            max_requests_per_minute: DEFAULT_MAX_REQUESTS_PER_MINUTE,
            max_retries: DEFAULT_MAX_RETRIES,
        }
    }
}
