//! The settings structs: one per section of `system.yaml`, each field documented, unknown keys
//! refused, every field defaulted so a partial file works.

use std::path::PathBuf;

use serde::Deserialize;

use crate::SettingsError;
use crate::secrets::Secret;

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
    pub alerts: crate::AlertsSettings,
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
            alerts: crate::AlertsSettings::default(),
            alpaca_keys: None,
            api_key_source: ApiKeySource::default(),
            tunnel_token_source: None,
            settings_dir: PathBuf::from("settings"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingSettings {
    pub format: LogFormat,
    /// Default filter when `RUST_LOG` is not set, e.g. `info` or `info,exporter_aggregator=debug`.
    pub level: String,
}

impl Default for LoggingSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsSettings {
    /// Server URL (env `EXPORTER_NATS_URL`).
    pub url: String,
    /// First token of every subject (`<prefix>.v1.sample...`).
    pub subject_prefix: String,
    /// JetStream stream holding samples until the aggregator committed them.
    pub stream: String,
    /// Oldest a message may get in the stream before the server deletes it.
    pub stream_max_age_hours: u64,
    /// Size bound of the stream; when full, publishes are refused (collectors buffer and count).
    pub stream_max_bytes: i64,
    /// Durable consumer name shared by every aggregator instance.
    pub consumer: String,
    /// Seconds to wait for a JetStream ack before a publish counts as failed.
    pub publish_timeout_seconds: u64,
}

impl Default for NatsSettings {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            subject_prefix: "exporter".into(),
            stream: "EXPORTER_TELEMETRY".into(),
            stream_max_age_hours: 72,
            stream_max_bytes: 1024 * 1024 * 1024,
            consumer: "aggregator".into(),
            publish_timeout_seconds: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// PostgreSQL URL (env `EXPORTER_DATABASE_URL`). Put no password here: use the Unix socket
    /// with peer authentication, or `PGPASSWORD`/`~/.pgpass`.
    pub url: String,
    pub max_connections: u32,
    /// Seconds to wait for a pooled connection before a query fails.
    pub acquire_timeout_seconds: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "postgres://localhost/exporter?host=/var/run/postgresql".into(),
            max_connections: 8,
            acquire_timeout_seconds: 5,
        }
    }
}

/// Access scope of an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyScope {
    /// Every GET route.
    Read,
    /// Everything, including acknowledging alerts.
    Admin,
}

/// An extra API key, read from its own file (mode 0600).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraKey {
    /// Who holds it (appears in the access log, never the key).
    pub name: String,
    pub scope: KeyScope,
    pub key_file: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// Bind address (env `EXPORTER_API_HOST`). The tunnel is how the outside reaches it.
    pub host: String,
    /// Bind port (env `EXPORTER_API_PORT`).
    pub port: u16,
    /// File of the main key, relative to `state_dir` unless absolute; `exporter up` creates it
    /// (mode 0600) when neither `EXPORTER_API_KEY` nor `EXPORTER_API_KEY_FILE` is set.
    pub key_file: PathBuf,
    /// Further keys with narrower scopes.
    pub extra_keys: Vec<ExtraKey>,
    /// Upper bound of points per series in a history answer.
    pub history_max_points: u32,
    /// Requests taking longer are answered 503.
    pub request_timeout_seconds: u64,
    /// A collector whose last sample is older than this is reported stale in `/health`.
    pub stale_after_seconds: u64,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8000,
            key_file: PathBuf::from("api-key"),
            extra_keys: Vec::new(),
            history_max_points: 1000,
            request_timeout_seconds: 15,
            stale_after_seconds: 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregatorSettings {
    /// Most messages written in one transaction.
    pub batch_max_messages: usize,
    /// Longest a batch waits to fill before it is written anyway.
    pub batch_max_wait_ms: u64,
    /// Seconds JetStream waits for an ack before redelivering.
    pub ack_wait_seconds: u64,
    /// Days of raw points kept; older daily partitions are dropped.
    pub retention_days: u32,
}

impl Default for AggregatorSettings {
    fn default() -> Self {
        Self {
            batch_max_messages: 500,
            batch_max_wait_ms: 200,
            ack_wait_seconds: 30,
            retention_days: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorsSettings {
    /// Seconds between heartbeats of every process.
    pub heartbeat_interval_seconds: u64,
    /// Samples a collector keeps while NATS is away; the oldest is dropped (and counted) beyond.
    pub buffer_max_samples: usize,
    pub system: SystemCollectorSettings,
    pub hardware: HardwareCollectorSettings,
    pub logs: LogsCollectorSettings,
    pub notifications: NotificationsCollectorSettings,
}

impl Default for CollectorsSettings {
    fn default() -> Self {
        Self {
            heartbeat_interval_seconds: 5,
            buffer_max_samples: 10_000,
            system: SystemCollectorSettings::default(),
            hardware: HardwareCollectorSettings::default(),
            logs: LogsCollectorSettings::default(),
            notifications: NotificationsCollectorSettings::default(),
        }
    }
}

impl CollectorsSettings {
    /// Collector kinds `exporter up` starts.
    pub fn enabled_kinds(&self) -> Vec<&'static str> {
        let mut kinds = Vec::new();
        if self.system.enabled {
            kinds.push("system");
        }
        if self.hardware.enabled {
            kinds.push("hardware");
        }
        if self.logs.enabled {
            kinds.push("logs");
        }
        if self.notifications.enabled && self.notifications.file.is_some() {
            kinds.push("notifications");
        }
        kinds
    }
}

impl Settings {
    /// Collector kinds `exporter up` starts: the brokerage ones only when Alpaca keys are set.
    pub fn enabled_collector_kinds(&self) -> Vec<&'static str> {
        let mut kinds = self.collectors.enabled_kinds();
        if self.market.enabled {
            kinds.push("market");
        }
        if self.alpaca_keys.is_some() {
            kinds.extend(["portfolio", "trades"]);
        }
        kinds
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemCollectorSettings {
    pub enabled: bool,
    /// Seconds between samples (1 to 3600).
    pub interval_seconds: u64,
    /// Mount points to leave out (pseudo filesystems are always left out).
    pub ignore_mount_points: Vec<String>,
    /// Processes to watch: is the trading engine alive?
    pub watch_processes: Vec<ProcessWatch>,
}

impl Default for SystemCollectorSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_seconds: 5,
            ignore_mount_points: Vec::new(),
            watch_processes: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HardwareCollectorSettings {
    pub enabled: bool,
    /// Seconds between samples (1 to 3600).
    pub interval_seconds: u64,
    /// Root of the sysfs tree read for hwmon and thermal zones (tests point it at a fixture).
    pub sysfs_root: PathBuf,
    /// Seconds between attempts to load NVML while it is unavailable.
    pub nvml_retry_seconds: u64,
}

impl Default for HardwareCollectorSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_seconds: 5,
            sysfs_root: PathBuf::from("/sys"),
            nvml_retry_seconds: 300,
        }
    }
}

/// Where a followed file starts when no read position was saved for it yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartPosition {
    /// Read the whole file.
    Beginning,
    /// Only what is written from now on.
    End,
}

/// How a followed file's lines are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFileFormat {
    /// Each line is tried as JSON, then logfmt, then Python logging's layout, then plain text.
    Auto,
    Json,
    Logfmt,
    Python,
    /// The whole line is the message; level unknown.
    Plain,
}

/// One followed set of files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFileSettings {
    /// Glob pattern (`/var/log/trading/*.log`); files that appear later are picked up.
    pub path: String,
    /// Component of lines that name none (default: the file's name without extension).
    #[serde(default)]
    pub component: Option<String>,
    #[serde(default = "auto_format")]
    pub format: LogFileFormat,
}

fn auto_format() -> LogFileFormat {
    LogFileFormat::Auto
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsCollectorSettings {
    pub enabled: bool,
    /// Files to follow (glob patterns). Default: this system's own process logs.
    pub files: Vec<LogFileSettings>,
    /// systemd units followed through `journalctl --follow --output=json` (empty: none).
    pub journal_units: Vec<String>,
    /// Where a file seen for the first time starts (files that appear later always start at 0).
    pub start_position: StartPosition,
    /// Longer lines are cut to this many bytes and marked `truncated`.
    pub max_line_bytes: usize,
    /// Most lines in one published batch.
    pub batch_max_lines: usize,
    /// Longest a line waits for its batch to fill.
    pub batch_max_wait_ms: u64,
    /// How often files are checked for new data, rotation and new matches.
    pub poll_interval_ms: u64,
}

impl Default for LogsCollectorSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            files: vec![LogFileSettings {
                path: ".state/logs/*.log".into(),
                component: None,
                format: LogFileFormat::Auto,
            }],
            journal_units: Vec::new(),
            start_position: StartPosition::End,
            max_line_bytes: 65_536,
            batch_max_lines: 500,
            batch_max_wait_ms: 500,
            poll_interval_ms: 250,
        }
    }
}

/// The trading system's notifications written to a JSONL file (they can also be published on
/// `<prefix>.v1.ingest.notification` directly; that needs no collector).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsCollectorSettings {
    pub enabled: bool,
    /// The JSONL file to follow; none: the collector is not started.
    pub file: Option<PathBuf>,
    /// Where the file starts when it is there at the very first start (a file that appears
    /// later is always read from its start).
    pub start_position: StartPosition,
    pub poll_interval_ms: u64,
}

impl Default for NotificationsCollectorSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            file: None,
            start_position: StartPosition::End,
            poll_interval_ms: 250,
        }
    }
}

/// One process watch: matches by exact process name, or by a regular expression on the command
/// line, or both (then both must match).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessWatch {
    /// Name shown in samples and used as the series label.
    pub name: String,
    #[serde(default)]
    pub process_name: Option<String>,
    #[serde(default)]
    pub cmdline_pattern: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisorSettings {
    /// Seconds between SIGTERM and SIGKILL when stopping a child.
    pub stop_grace_seconds: u64,
    /// First restart delay after a crash; doubles per crash up to the maximum, with jitter.
    pub restart_initial_delay_ms: u64,
    pub restart_max_delay_seconds: u64,
    /// A child that ran this long without dying resets its backoff.
    pub restart_reset_after_seconds: u64,
    /// A child exiting this many times within `crash_loop_window_seconds` is held back.
    pub crash_loop_max_exits: u32,
    pub crash_loop_window_seconds: u64,
    /// How long a crash-looping child is held back before one more try.
    pub crash_loop_hold_seconds: u64,
    /// Longest wait for a child's first heartbeat before the next one is started anyway.
    pub readiness_timeout_seconds: u64,
    /// Each child's log file (`state_dir/logs/<name>.log`) is rotated to `.1` past this size.
    pub log_max_bytes: u64,
}

impl Default for SupervisorSettings {
    fn default() -> Self {
        Self {
            stop_grace_seconds: 10,
            restart_initial_delay_ms: 500,
            restart_max_delay_seconds: 30,
            restart_reset_after_seconds: 60,
            crash_loop_max_exits: 5,
            crash_loop_window_seconds: 120,
            crash_loop_hold_seconds: 600,
            readiness_timeout_seconds: 30,
            log_max_bytes: 10 * 1024 * 1024,
        }
    }
}

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

/// How trading results are reported.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TradingSettings {
    /// IANA time zone whose calendar days P&L is attributed to.
    pub timezone: String,
}

impl Default for TradingSettings {
    fn default() -> Self {
        Self {
            timezone: "America/New_York".into(),
        }
    }
}

/// The ngrok tunnel to the API, opened by the supervisor when an auth token is set. Its edge
/// restrictions are defence in depth in front of the API key, not a replacement for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TunnelSettings {
    /// Open the tunnel when a token is configured.
    pub enabled: bool,
    /// A reserved domain (`gh200.example.ngrok.app`); none means a random ngrok URL.
    pub domain: Option<String>,
    /// ngrok region to connect through (`us`, `eu`, `ap`, `au`, `sa`, `jp`, `in`); none means
    /// the nearest.
    pub region: Option<String>,
    /// Agent connect address override (`host:port`); wins over `region`.
    pub server_addr: Option<String>,
    /// Only these client networks may reach the endpoint (CIDRs).
    pub allow_cidrs: Vec<String>,
    /// These client networks are refused (CIDRs).
    pub deny_cidrs: Vec<String>,
    /// File (mode 0600) holding `user:password` for HTTP basic auth at the edge.
    pub basic_auth_file: Option<PathBuf>,
    /// OAuth provider at the edge (`google`, `github`, `microsoft`, `gitlab`, ...).
    pub oauth_provider: Option<String>,
    /// With OAuth: only these e-mail addresses get through.
    pub oauth_allowed_emails: Vec<String>,
    /// First retry delay after the tunnel failed; doubles up to five minutes.
    pub retry_initial_seconds: u64,
}

impl Default for TunnelSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            domain: None,
            region: None,
            server_addr: None,
            allow_cidrs: Vec::new(),
            deny_cidrs: Vec::new(),
            basic_auth_file: None,
            oauth_provider: None,
            oauth_allowed_emails: Vec::new(),
            retry_initial_seconds: 5,
        }
    }
}

fn check(ok: bool, key: &str, message: impl Into<String>) -> Result<(), SettingsError> {
    if ok {
        Ok(())
    } else {
        Err(SettingsError::Invalid {
            key: key.to_owned(),
            message: message.into(),
        })
    }
}

fn in_range(value: u64, min: u64, max: u64, key: &str) -> Result<(), SettingsError> {
    check(
        (min..=max).contains(&value),
        key,
        format!("{value} is out of range {min}..={max}"),
    )
}

impl Settings {
    /// Range and consistency checks the types cannot express.
    pub fn validate(&self) -> Result<(), SettingsError> {
        check(!self.nats.url.is_empty(), "nats.url", "must not be empty")?;
        let token_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        check(
            token_ok(&self.nats.subject_prefix),
            "nats.subject_prefix",
            "must be one subject token of letters, digits, `_` or `-`",
        )?;
        check(
            token_ok(&self.nats.stream),
            "nats.stream",
            "must be letters, digits, `_` or `-`",
        )?;
        check(
            token_ok(&self.nats.consumer),
            "nats.consumer",
            "must be letters, digits, `_` or `-`",
        )?;
        in_range(
            self.nats.stream_max_age_hours,
            1,
            24 * 365,
            "nats.stream_max_age_hours",
        )?;
        check(
            self.nats.stream_max_bytes >= 1024 * 1024,
            "nats.stream_max_bytes",
            "must be at least 1048576 (1 MiB)",
        )?;
        in_range(
            self.nats.publish_timeout_seconds,
            1,
            300,
            "nats.publish_timeout_seconds",
        )?;
        check(
            self.database.url.starts_with("postgres://")
                || self.database.url.starts_with("postgresql://"),
            "database.url",
            "must start with postgres:// or postgresql://",
        )?;
        check(
            !self.database.url.contains(":@") && !url_has_password(&self.database.url),
            "database.url",
            "must not contain a password: use peer authentication, PGPASSWORD or ~/.pgpass",
        )?;
        in_range(
            u64::from(self.database.max_connections),
            1,
            200,
            "database.max_connections",
        )?;
        in_range(
            self.database.acquire_timeout_seconds,
            1,
            300,
            "database.acquire_timeout_seconds",
        )?;
        check(!self.api.host.is_empty(), "api.host", "must not be empty")?;
        in_range(
            u64::from(self.api.history_max_points),
            10,
            100_000,
            "api.history_max_points",
        )?;
        in_range(
            self.api.request_timeout_seconds,
            1,
            600,
            "api.request_timeout_seconds",
        )?;
        in_range(
            self.api.stale_after_seconds,
            1,
            86_400,
            "api.stale_after_seconds",
        )?;
        for (i, key) in self.api.extra_keys.iter().enumerate() {
            check(
                !key.name.is_empty(),
                &format!("api.extra_keys[{i}].name"),
                "must not be empty",
            )?;
        }
        in_range(
            self.aggregator.batch_max_messages as u64,
            1,
            100_000,
            "aggregator.batch_max_messages",
        )?;
        in_range(
            self.aggregator.batch_max_wait_ms,
            1,
            60_000,
            "aggregator.batch_max_wait_ms",
        )?;
        in_range(
            self.aggregator.ack_wait_seconds,
            1,
            3600,
            "aggregator.ack_wait_seconds",
        )?;
        in_range(
            u64::from(self.aggregator.retention_days),
            1,
            3650,
            "aggregator.retention_days",
        )?;
        in_range(
            self.collectors.heartbeat_interval_seconds,
            1,
            3600,
            "collectors.heartbeat_interval_seconds",
        )?;
        in_range(
            self.collectors.buffer_max_samples as u64,
            1,
            10_000_000,
            "collectors.buffer_max_samples",
        )?;
        in_range(
            self.collectors.system.interval_seconds,
            1,
            3600,
            "collectors.system.interval_seconds",
        )?;
        for (i, watch) in self.collectors.system.watch_processes.iter().enumerate() {
            let key = format!("collectors.system.watch_processes[{i}]");
            check(
                !watch.name.is_empty(),
                &format!("{key}.name"),
                "must not be empty",
            )?;
            check(
                watch.process_name.is_some() || watch.cmdline_pattern.is_some(),
                &key,
                "needs process_name, cmdline_pattern or both",
            )?;
            if let Some(Err(message)) = watch.cmdline_pattern.as_deref().map(regex_syntax_ok) {
                return Err(SettingsError::Invalid {
                    key: format!("{key}.cmdline_pattern"),
                    message,
                });
            }
        }
        in_range(
            self.collectors.hardware.interval_seconds,
            1,
            3600,
            "collectors.hardware.interval_seconds",
        )?;
        in_range(
            self.collectors.hardware.nvml_retry_seconds,
            5,
            86_400,
            "collectors.hardware.nvml_retry_seconds",
        )?;
        in_range(
            self.alerts.evaluation_interval_seconds,
            1,
            300,
            "alerts.evaluation_interval_seconds",
        )?;
        in_range(
            self.alerts.watch_interval_seconds,
            0,
            3600,
            "alerts.watch_interval_seconds",
        )?;
        in_range(
            self.alerts.notification_resolve_after_seconds,
            1,
            30 * 86_400,
            "alerts.notification_resolve_after_seconds",
        )?;
        in_range(
            u64::from(self.alerts.retention_days),
            1,
            3650,
            "alerts.retention_days",
        )?;
        let logs = &self.collectors.logs;
        for (i, file) in logs.files.iter().enumerate() {
            check(
                !file.path.trim().is_empty(),
                &format!("collectors.logs.files[{i}].path"),
                "must not be empty",
            )?;
        }
        for (i, unit) in logs.journal_units.iter().enumerate() {
            check(
                !unit.trim().is_empty() && !unit.starts_with('-'),
                &format!("collectors.logs.journal_units[{i}]"),
                "must be a systemd unit name",
            )?;
        }
        // A line, JSON-escaped, must fit in one NATS message (1 MiB by default).
        in_range(
            logs.max_line_bytes as u64,
            256,
            131_072,
            "collectors.logs.max_line_bytes",
        )?;
        in_range(
            logs.batch_max_lines as u64,
            1,
            100_000,
            "collectors.logs.batch_max_lines",
        )?;
        in_range(
            logs.batch_max_wait_ms,
            1,
            60_000,
            "collectors.logs.batch_max_wait_ms",
        )?;
        in_range(
            logs.poll_interval_ms,
            10,
            60_000,
            "collectors.logs.poll_interval_ms",
        )?;
        in_range(
            self.collectors.notifications.poll_interval_ms,
            10,
            60_000,
            "collectors.notifications.poll_interval_ms",
        )?;
        in_range(
            u64::from(self.supervisor.crash_loop_max_exits),
            2,
            1000,
            "supervisor.crash_loop_max_exits",
        )?;
        in_range(
            self.supervisor.crash_loop_window_seconds,
            1,
            86_400,
            "supervisor.crash_loop_window_seconds",
        )?;
        in_range(
            self.supervisor.crash_loop_hold_seconds,
            1,
            86_400,
            "supervisor.crash_loop_hold_seconds",
        )?;
        in_range(
            self.supervisor.readiness_timeout_seconds,
            1,
            600,
            "supervisor.readiness_timeout_seconds",
        )?;
        in_range(
            self.supervisor.log_max_bytes,
            4096,
            1 << 40,
            "supervisor.log_max_bytes",
        )?;
        check(
            self.alpaca.base_url.starts_with("http://")
                || self.alpaca.base_url.starts_with("https://"),
            "alpaca.base_url",
            "must be an http(s) URL",
        )?;
        in_range(
            self.alpaca.portfolio_interval_seconds,
            1,
            3600,
            "alpaca.portfolio_interval_seconds",
        )?;
        in_range(
            self.alpaca.history_interval_seconds,
            10,
            86_400,
            "alpaca.history_interval_seconds",
        )?;
        in_range(
            self.alpaca.trades_interval_seconds,
            1,
            3600,
            "alpaca.trades_interval_seconds",
        )?;
        in_range(
            self.alpaca.timeout_seconds,
            1,
            300,
            "alpaca.timeout_seconds",
        )?;
        in_range(
            u64::from(self.alpaca.max_requests_per_minute),
            1,
            10_000,
            "alpaca.max_requests_per_minute",
        )?;
        check(
            self.market.yahoo_base_url.starts_with("http://")
                || self.market.yahoo_base_url.starts_with("https://"),
            "market.yahoo_base_url",
            "must be an http(s) URL",
        )?;
        in_range(
            self.market.quote_interval_seconds,
            5,
            86_400,
            "market.quote_interval_seconds",
        )?;
        in_range(
            self.market.bars_interval_seconds,
            60,
            86_400,
            "market.bars_interval_seconds",
        )?;
        in_range(
            u64::from(self.market.max_requests_per_minute),
            1,
            2000,
            "market.max_requests_per_minute",
        )?;
        in_range(
            self.market.timeout_seconds,
            1,
            120,
            "market.timeout_seconds",
        )?;
        in_range(self.market.cache_seconds, 0, 3600, "market.cache_seconds")?;
        in_range(
            self.market.rpc_timeout_seconds,
            1,
            120,
            "market.rpc_timeout_seconds",
        )?;
        check(
            self.trading.timezone.parse::<chrono_tz::Tz>().is_ok(),
            "trading.timezone",
            format!(
                "`{}` is not an IANA time zone such as America/New_York",
                self.trading.timezone
            ),
        )?;
        in_range(
            self.tunnel.retry_initial_seconds,
            1,
            3600,
            "tunnel.retry_initial_seconds",
        )?;
        for (i, cidr) in self.tunnel.allow_cidrs.iter().enumerate() {
            check(
                cidr.contains('/'),
                &format!("tunnel.allow_cidrs[{i}]"),
                "must be a CIDR such as 203.0.113.0/24",
            )?;
        }
        for (i, cidr) in self.tunnel.deny_cidrs.iter().enumerate() {
            check(
                cidr.contains('/'),
                &format!("tunnel.deny_cidrs[{i}]"),
                "must be a CIDR such as 203.0.113.0/24",
            )?;
        }
        check(
            self.tunnel.oauth_allowed_emails.is_empty() || self.tunnel.oauth_provider.is_some(),
            "tunnel.oauth_allowed_emails",
            "needs tunnel.oauth_provider",
        )?;
        in_range(
            self.supervisor.stop_grace_seconds,
            1,
            600,
            "supervisor.stop_grace_seconds",
        )?;
        in_range(
            self.supervisor.restart_initial_delay_ms,
            10,
            600_000,
            "supervisor.restart_initial_delay_ms",
        )?;
        in_range(
            self.supervisor.restart_max_delay_seconds,
            1,
            3600,
            "supervisor.restart_max_delay_seconds",
        )?;
        in_range(
            self.supervisor.restart_reset_after_seconds,
            1,
            86_400,
            "supervisor.restart_reset_after_seconds",
        )?;
        Ok(())
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

/// Compiles a pattern to report a syntax error at load time rather than in the collector.
fn regex_syntax_ok(pattern: &str) -> Result<(), String> {
    regex::Regex::new(pattern)
        .map(|_| ())
        .map_err(|err| err.to_string())
}
