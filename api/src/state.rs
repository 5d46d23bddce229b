//! The one state every handler shares.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use exporter_settings::Settings;
use exporter_store::Store;

use crate::auth::ApiKeys;

/// Shared, cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    /// `None` in tests that run without a bus.
    pub nats: Option<async_nats::Client>,
    pub keys: Arc<ApiKeys>,
    pub started: Instant,
    pub started_at: DateTime<Utc>,
    pub history_max_points: u32,
    /// Days each tier of points is kept (`aggregator.retention`): history past a tier's
    /// retention is read from a coarser one.
    pub tiers: exporter_store::Tiers,
    pub stale_after_seconds: u64,
    pub request_timeout_seconds: u64,
    /// Subject prefix, for request/reply to collectors.
    pub subject_prefix: String,
    /// The JetStream stream `/health` checks.
    pub stream_name: String,
    /// How long to wait for the market collector.
    pub market_rpc_timeout_seconds: u64,
    /// Time zone whose calendar days P&L belongs to.
    pub timezone: chrono_tz::Tz,
    /// How exits are matched to lots (`trading.cost_basis`).
    pub cost_basis: exporter_trading::CostBasis,
    /// The account's trading ledger, built at first use, then kept up to date fill by fill.
    pub trades: crate::routes::trades::TradesCache,
    /// The latest tunnel report of each host's supervisor, kept from NATS.
    pub tunnels: Arc<
        std::sync::Mutex<
            std::collections::BTreeMap<String, exporter_protocol::supervisor::TunnelReport>,
        >,
    >,
    /// The OpenAPI document as JSON, set when the router is built from the same route list.
    pub document: Arc<std::sync::OnceLock<String>>,
    /// Failed authentications per client address (throttling and audit).
    pub auth_failures: Arc<crate::throttle::AuthFailures>,
    /// Open server-sent event streams and their caps.
    pub streams: Arc<crate::routes::stream::StreamLimits>,
    /// The dashboard's browser sessions.
    pub sessions: Arc<crate::session::Sessions>,
    /// New samples for `/metrics/stream`, from one shared producer.
    pub live: Arc<crate::live::LiveSamples>,
}

impl AppState {
    pub fn new(
        settings: &Settings,
        store: Store,
        nats: Option<async_nats::Client>,
        keys: ApiKeys,
    ) -> Self {
        Self {
            store,
            nats,
            keys: Arc::new(keys),
            started: Instant::now(),
            started_at: Utc::now(),
            history_max_points: settings.api.history_max_points,
            tiers: exporter_store::Tiers::from(&settings.aggregator.retention),
            stale_after_seconds: settings.api.stale_after_seconds,
            request_timeout_seconds: settings.api.request_timeout_seconds,
            tunnels: Arc::default(),
            subject_prefix: settings.nats.subject_prefix.clone(),
            stream_name: settings.nats.stream.clone(),
            market_rpc_timeout_seconds: settings.market.rpc_timeout_seconds,
            timezone: settings
                .trading
                .timezone
                .parse()
                .unwrap_or(exporter_trading::DEFAULT_TIMEZONE),
            cost_basis: settings.trading.cost_basis.parse().unwrap_or_default(),
            trades: Default::default(),
            document: Arc::default(),
            auth_failures: Arc::new(crate::throttle::AuthFailures::new(
                settings.api.auth_failure_limit,
                std::time::Duration::from_secs(settings.api.auth_failure_window_seconds),
            )),
            streams: Arc::new(crate::routes::stream::StreamLimits::new(
                settings.api.sse_max_streams as usize,
                settings.api.sse_max_streams_per_key as usize,
            )),
            sessions: Arc::new(crate::session::Sessions::new(
                std::time::Duration::from_secs(settings.api.session_ttl_seconds),
                settings.api.session_max as usize,
                settings.api.session_max_per_key as usize,
            )),
            live: Arc::default(),
        }
    }
}
