//! The brokerage collectors: `portfolio` (account and positions every
//! `alpaca.portfolio_interval_seconds`, the daily equity history every
//! `alpaca.history_interval_seconds`) and `trades` (new fills, with a cursor that only moves once
//! JetStream acked them, and the open orders). Only these talk to Alpaca; the API serves what they
//! stored, so it answers instantly even when the broker is slow or down.

pub mod portfolio;
pub mod trades;

use std::time::Duration;

use exporter_alpaca::{Client, ClientConfig};

use crate::{CollectorContext, CollectorError};

/// The Alpaca client from the settings; a clear error when the keys are missing.
pub fn client(ctx: &CollectorContext) -> Result<Client, CollectorError> {
    let settings = &ctx.settings;
    let init = |message: String| ctx.init_error(message);
    let (key_id, secret) = settings.alpaca_keys.as_ref().ok_or_else(|| {
        init("no Alpaca keys: set EXPORTER_ALPACA_KEY_ID and EXPORTER_ALPACA_SECRET_KEY (or their *_FILE variants)".into())
    })?;
    let key_id = key_id.read().map_err(|err| init(err.to_string()))?;
    let secret = secret.read().map_err(|err| init(err.to_string()))?;
    let mut config = ClientConfig::new(
        settings.alpaca.base_url.clone(),
        key_id.expose().to_owned(),
        secret.expose().to_owned(),
    );
    config.timeout = Duration::from_secs(settings.alpaca.timeout_seconds);
    config.max_requests_per_minute = settings.alpaca.max_requests_per_minute;
    Client::new(config).map_err(|err| init(err.to_string()))
}

/// Logs a failed broker call and counts it against `family` (`exporter.collection_errors_total`);
/// a rejected key stops the collector (retrying cannot help).
pub fn on_error(
    ctx: &CollectorContext,
    family: &str,
    what: &str,
    err: exporter_alpaca::AlpacaError,
) -> Result<(), CollectorError> {
    ctx.family_error(family);
    if err.is_unauthorized() {
        return Err(ctx.init_error(err.to_string()));
    }
    tracing::warn!(error = %err, "{what} failed; the last stored data stays served, retrying next interval");
    Ok(())
}
