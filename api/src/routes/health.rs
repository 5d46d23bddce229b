//! `GET /health` (no key): is PostgreSQL reachable, is NATS connected, how fresh is each
//! collector on each host. 200 when both dependencies are up (`degraded` if a collector is
//! stale), 503 when one is down, so a load balancer or an uptime check can use it as is.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use exporter_protocol::SourceKind;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

/// Health answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "status": "ok", "version": "0.1.0", "started_at": "2026-12-01T12:37:10.845494338Z",
    "uptime_seconds": 3600,
    "postgres": {"status": "up", "latency_ms": 1.43}, "nats": {"status": "up"},
    "collectors": [{"source": "system", "host": "gh200", "last_sample_time": "2026-12-01T13:37:11.059879Z", "age_seconds": 0.497, "status": "fresh"}],
    "gpus": [{"host": "gh200", "nvml": "ok", "gpu_count": 1}],
    "tunnels": [],
    "alerts": {"firing": 1, "firing_critical": 1, "unacknowledged": 1}
}))]
pub struct Health {
    /// `ok`, `degraded` (a collector is stale) or `unhealthy` (a dependency is down).
    pub status: OverallStatus,
    pub version: &'static str,
    pub started_at: DateTime<Utc>,
    pub uptime_seconds: u64,
    pub postgres: Dependency,
    pub nats: Dependency,
    /// Last sample per collector and host.
    pub collectors: Vec<CollectorFreshness>,
    /// NVML's state per host, from the latest hardware sample.
    pub gpus: Vec<HostNvml>,
    /// The ngrok tunnel of each host's supervisor (`off`, `connecting`, `up` with its URL, or
    /// `down` with the reason).
    pub tunnels: Vec<HostTunnel>,
    /// How many alerts fire now (counts only: the details need a key, at `/alerts`). Absent
    /// while PostgreSQL is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertCounts>,
}

/// How the exporter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OverallStatus {
    Ok,
    Degraded,
    Unhealthy,
}

/// Whether a dependency answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UpDown {
    Up,
    Down,
}

/// Whether a collector's latest sample is recent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Freshness {
    Fresh,
    Stale,
}

/// Firing alerts, counted.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertCounts {
    pub firing: i64,
    pub firing_critical: i64,
    /// Firing and nobody acknowledged them yet.
    pub unacknowledged: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HostTunnel {
    pub host: String,
    #[serde(flatten)]
    pub tunnel: exporter_protocol::supervisor::TunnelReport,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HostNvml {
    pub host: String,
    /// `ok` or `unavailable`.
    pub nvml: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// GPUs in the latest sample.
    pub gpu_count: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Dependency {
    pub status: UpDown,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CollectorFreshness {
    pub source: String,
    pub host: String,
    pub last_sample_time: DateTime<Utc>,
    pub age_seconds: f64,
    /// `stale` when older than `api.stale_after_seconds`.
    pub status: Freshness,
}

#[utoipa::path(
    get,
    path = "/health", operation_id = "health",
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "PostgreSQL and NATS are up", body = Health),
        (status = 503, description = "A dependency is down", body = Health),
    )
)]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let started = Instant::now();
    let ping = tokio::time::timeout(Duration::from_secs(3), state.store.ping()).await;
    let postgres = match ping {
        Ok(Ok(())) => Dependency {
            status: UpDown::Up,
            latency_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
            error: None,
        },
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "health check: PostgreSQL unreachable");
            down("unreachable; the API's log has the cause".to_owned())
        }
        Err(_) => down("no answer within 3 s".to_owned()),
    };
    let nats = match &state.nats {
        Some(client) => match client.connection_state() {
            async_nats::connection::State::Connected => Dependency {
                status: UpDown::Up,
                latency_ms: None,
                error: None,
            },
            other => down(format!("connection {other}")),
        },
        None => down("not configured".to_owned()),
    };
    let now = Utc::now();
    let (latest, alerts) = if postgres.status == UpDown::Up {
        let counts = state.store.firing_alert_counts().await.ok();
        (
            state.store.freshness().await.unwrap_or_default(),
            counts.map(|counts| AlertCounts {
                firing: counts.firing,
                firing_critical: counts.firing_critical,
                unacknowledged: counts.unacknowledged,
            }),
        )
    } else {
        (Vec::new(), None)
    };
    let gpus = latest
        .iter()
        .filter(|l| l.source == exporter_protocol::hardware::KIND)
        .filter_map(|l| {
            let nvml: exporter_protocol::hardware::NvmlStatus =
                serde_json::from_value(l.nvml.clone()?).ok()?;
            Some(HostNvml {
                host: l.host.clone(),
                nvml: nvml.status,
                reason: nvml.reason,
                gpu_count: usize::try_from(l.gpu_count).unwrap_or(0),
            })
        })
        .collect();
    let collectors: Vec<CollectorFreshness> = latest
        .into_iter()
        // The processes' own self-metrics are periodic too, but no collector publishes them.
        .filter(|l| {
            exporter_protocol::is_periodic(&l.source) && SourceKind::from_collector(&l.source)
        })
        .map(|latest| {
            let age = (now - latest.sample_time).num_milliseconds() as f64 / 1000.0;
            CollectorFreshness {
                source: latest.source,
                host: latest.host,
                last_sample_time: latest.sample_time,
                age_seconds: age,
                status: if age > state.stale_after_seconds as f64 {
                    Freshness::Stale
                } else {
                    Freshness::Fresh
                },
            }
        })
        .collect();
    let healthy = postgres.status == UpDown::Up && nats.status == UpDown::Up;
    let status = if !healthy {
        OverallStatus::Unhealthy
    } else if collectors.iter().any(|c| c.status == Freshness::Stale) {
        OverallStatus::Degraded
    } else {
        OverallStatus::Ok
    };
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(Health {
            status,
            version: env!("CARGO_PKG_VERSION"),
            started_at: state.started_at,
            uptime_seconds: state.started.elapsed().as_secs(),
            postgres,
            nats,
            collectors,
            gpus,
            tunnels: state
                .tunnels
                .lock()
                .map(|t| {
                    t.iter()
                        .map(|(host, tunnel)| HostTunnel {
                            host: host.clone(),
                            tunnel: tunnel.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            alerts,
        }),
    )
}

fn down(error: String) -> Dependency {
    Dependency {
        status: UpDown::Down,
        latency_ms: None,
        error: Some(error),
    }
}
