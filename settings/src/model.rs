//! The settings file as a whole: the top-level keys, one field per section, and what is checked
//! across sections. Each section's struct, defaults and checks are in its own file beside this
//! one; validation walks them with a [`KeyPath`], so every error names the full key
//! (`collectors.system.interval_seconds`) without a dotted path typed anywhere. Keys that were
//! renamed or moved are listed once, in [`renames`].

mod aggregator;
mod alerts;
mod alpaca;
mod api;
mod collectors;
mod database;
mod key_path;
mod logging;
mod market;
mod nats;
mod renames;
mod supervisor;
mod trading;
mod tunnel;

use std::path::PathBuf;

use serde::Deserialize;

pub use aggregator::*;
pub use alerts::*;
pub use alpaca::*;
pub use api::*;
pub use collectors::*;
pub use database::*;
pub use logging::*;
pub use market::*;
pub use nats::*;
pub use supervisor::*;
pub use trading::*;
pub use tunnel::*;

use crate::SettingsError;
use crate::secrets::Secret;
use key_path::{KeyPath, Validate, key};
pub(crate) use renames::{RENAMES, parse};

/// The whole settings file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Host label on every sample (env `EXPORTER_HOST_NAME`; default: the machine's hostname).
    pub host_name: Option<String>,
    /// Where generated state lives: the API key file, read positions (env `EXPORTER_STATE_DIR`).
    pub state_dir: PathBuf,
    pub logging: LoggingSettings,
    pub nats: NatsSettings,
    pub database: DatabaseSettings,
    pub api: ApiSettings,
    pub aggregator: AggregatorSettings,
    pub collectors: CollectorsSettings,
    pub supervisor: SupervisorSettings,
    pub tunnel: TunnelSettings,
    pub alpaca: AlpacaSettings,
    pub trading: TradingSettings,
    pub market: MarketSettings,
    pub alerts: AlertsSettings,
    /// Alpaca key id and secret key (environment or 0600 files only; not YAML keys).
    #[serde(skip)]
    pub alpaca_keys: Option<(ApiKeySource, ApiKeySource)>,
    /// Where the API's main key comes from (environment only; not a YAML key).
    #[serde(skip)]
    pub api_key_source: ApiKeySource,
    /// Directory of the settings file that was loaded (relative paths of other settings files,
    /// like the alert rules, are resolved against it).
    #[serde(skip)]
    pub settings_dir: PathBuf,
    /// Where the ngrok auth token comes from: `NGROK_AUTHTOKEN` or
    /// `EXPORTER_NGROK_AUTHTOKEN_FILE` (environment only; none means no tunnel).
    #[serde(skip)]
    pub tunnel_token_source: Option<ApiKeySource>,
}

/// Where the main API key is read from.
#[derive(Debug, Clone)]
pub enum ApiKeySource {
    /// `EXPORTER_API_KEY`.
    Env(Secret),
    /// `EXPORTER_API_KEY_FILE`, or `state_dir/api.key_file` (created by `exporter up`).
    File(PathBuf),
}

impl Default for ApiKeySource {
    fn default() -> Self {
        Self::File(PathBuf::from(".state/api-key"))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            host_name: None,
            state_dir: PathBuf::from(".state"),
            logging: LoggingSettings::default(),
            nats: NatsSettings::default(),
            database: DatabaseSettings::default(),
            api: ApiSettings::default(),
            aggregator: AggregatorSettings::default(),
            collectors: CollectorsSettings::default(),
            supervisor: SupervisorSettings::default(),
            tunnel: TunnelSettings::default(),
            alpaca: AlpacaSettings::default(),
            trading: TradingSettings::default(),
            market: MarketSettings::default(),
            alerts: AlertsSettings::default(),
            alpaca_keys: None,
            api_key_source: ApiKeySource::default(),
            tunnel_token_source: None,
            settings_dir: PathBuf::from("settings"),
        }
    }
}

impl Settings {
    /// Range and consistency checks the types cannot express, section by section; the first
    /// failure is returned.
    pub fn validate(&self) -> Result<(), SettingsError> {
        // Named field by field, so a new section is a compile error here until it is checked.
        let Self {
            host_name: _,
            state_dir: _,
            logging,
            nats,
            database,
            api,
            aggregator,
            collectors,
            supervisor,
            tunnel,
            alpaca,
            trading,
            market,
            alerts,
            alpaca_keys: _,
            api_key_source: _,
            settings_dir: _,
            tunnel_token_source: _,
        } = self;
        let at = KeyPath::root();
        logging.validate(&key!(at, self.logging))?;
        nats.validate(&key!(at, self.nats))?;
        database.validate(&key!(at, self.database))?;
        api.validate(&key!(at, self.api))?;
        aggregator.validate(&key!(at, self.aggregator))?;
        collectors.validate(&key!(at, self.collectors))?;
        alerts.validate(&key!(at, self.alerts))?;
        supervisor.validate(&key!(at, self.supervisor))?;
        alpaca.validate(&key!(at, self.alpaca))?;
        market.validate(&key!(at, self.market))?;
        trading.validate(&key!(at, self.trading))?;
        tunnel.validate(&key!(at, self.tunnel))?;
        // Self-metrics older than `api.stale_after_seconds` leave `/metrics`: they must come
        // more often than that, or they would be missing between two snapshots.
        let self_metrics = key!(at, self.collectors).key("self_metrics_interval_seconds");
        self_metrics.check(
            collectors.self_metrics_interval_seconds < api.stale_after_seconds,
            format!(
                "must be shorter than api.stale_after_seconds ({}), or the exporter's own \
                 metrics drop out of /metrics between snapshots",
                api.stale_after_seconds
            ),
        )
    }
}

/// True when a URL carries `user:password@` or a `password=` parameter.
fn url_has_password(url: &str) -> bool {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    if query.split('&').any(|pair| pair.starts_with("password=")) {
        return true;
    }
    crate::url_authority(url)
        .and_then(|authority| authority.rsplit_once('@'))
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}
