//! `GET /health`: is PostgreSQL reachable, is NATS connected, does the stream exist, how fresh
//! is each collector, how far behind ingest is. 200 when the dependencies are up (`degraded` if
//! a collector is stale or ingest lags), 503 when one is down, so a load balancer or an uptime
//! check can use it as is. Without a key it says only the states ([`PublicHealth`]: no host
//! names, URLs, versions, error texts or alert counts, which would tell a stranger with the
//! tunnel URL what runs here); with the key, everything ([`Health`]), the disk each tier of
//! points uses included.

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
    "postgres": {"status": "up", "latency_ms": 1.43}, "nats": {"status": "up"}, "stream": {"status": "up"},
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
    /// The JetStream stream that carries samples to the aggregator (`down` when it is missing:
    /// nothing can be stored until the aggregator creates it).
    pub stream: Dependency,
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
    /// How far behind ingest is, as the aggregator last read it from JetStream (counts only).
    /// Absent while PostgreSQL is down or before any aggregator reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingest: Option<IngestLag>,
    /// Disk per tier of points (`raw`, `1m`, `1h`), only for a caller that sends the API key
    /// (and while PostgreSQL is up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Vec<TierDisk>>,
}

/// What `/health` answers: everything to a caller with the key, the states only without.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum HealthAnswer {
    Full(Box<Health>),
    Public(PublicHealth),
}

/// `/health` without a key: the overall status and each component's state, nothing more.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "status": "ok", "postgres": {"status": "up"}, "nats": {"status": "up"},
    "stream": {"status": "up"}, "collectors": [{"source": "system", "status": "fresh"}],
    "tunnels": [{"status": "up"}], "ingest": {"status": "ok"}
}))]
// No other property: the document's oneOf tells this shape from `Health` by it.
#[serde(deny_unknown_fields)]
pub struct PublicHealth {
    pub status: OverallStatus,
    pub postgres: PublicState,
    pub nats: PublicState,
    pub stream: PublicState,
    /// Each collector kind: `stale` when its samples of any host are.
    pub collectors: Vec<PublicCollector>,
    /// Each host's tunnel state (`off`, `connecting`, `up`, `down`), without its URL or host.
    pub tunnels: Vec<PublicTunnel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingest: Option<PublicIngest>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicState {
    pub status: UpDown,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicCollector {
    pub source: String,
    pub status: Freshness,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicTunnel {
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicIngest {
    /// `ok`, `lagging` or `stale`.
    pub status: &'static str,
}

impl Health {
    /// The states only, for a caller without a key.
    fn public(&self) -> PublicHealth {
        let mut collectors: Vec<PublicCollector> = Vec::new();
        for collector in &self.collectors {
            match collectors.iter_mut().find(|c| c.source == collector.source) {
                Some(known) if collector.status == Freshness::Stale => {
                    known.status = Freshness::Stale
                }
                Some(_) => {}
                None => collectors.push(PublicCollector {
                    source: collector.source.clone(),
                    status: collector.status,
                }),
            }
        }
        PublicHealth {
            status: self.status,
            postgres: PublicState {
                status: self.postgres.status,
            },
            nats: PublicState {
                status: self.nats.status,
            },
            stream: PublicState {
                status: self.stream.status,
            },
            collectors,
            tunnels: self
                .tunnels
                .iter()
                .map(|t| PublicTunnel {
                    status: t.tunnel.status.clone(),
                })
                .collect(),
            ingest: self
                .ingest
                .as_ref()
                .map(|i| PublicIngest { status: i.status }),
        }
    }
}

/// Disk used by one tier of points: its partitions with their indexes and TOAST.
#[derive(Debug, Serialize, ToSchema)]
pub struct TierDisk {
    /// `raw`, `1m` or `1h`.
    pub resolution: &'static str,
    pub used_bytes: i64,
    pub partitions: i64,
    /// The first day of its oldest partition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_day: Option<chrono::NaiveDate>,
    /// `aggregator.retention` for this tier.
    pub retention_days: u32,
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

/// Seconds the oldest uncommitted message may wait before ingest counts as lagging (the
/// default `IngestLagging` rule's threshold).
const INGEST_LAG_MAX_SECONDS: f64 = 60.0;

/// The aggregator's last reading of the work-queue stream and its consumer.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestLag {
    /// `ok`, `lagging` (the oldest uncommitted message is over 60 s old) or `stale` (the
    /// reading is older than `api.stale_after_seconds`: no aggregator reports).
    pub status: &'static str,
    /// The aggregator that reported it.
    pub host: String,
    pub read_at: DateTime<Utc>,
    /// Messages the consumer has not delivered yet.
    pub pending_messages: Option<f64>,
    /// Delivered and not acknowledged (batches being written, or held by a dead instance).
    pub ack_pending_messages: Option<f64>,
    /// Age of the oldest message not committed yet (0 when the stream is empty).
    pub oldest_age_seconds: Option<f64>,
    pub stream_messages: Option<f64>,
    pub stream_bytes: Option<f64>,
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
        (status = 200, description = "PostgreSQL, NATS and the stream are up: everything with the key (`Health`), the states only without (`PublicHealth`)", body = HealthAnswer),
        (status = 503, description = "A dependency is down", body = HealthAnswer),
    )
)]
pub async fn health(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> (StatusCode, Json<HealthAnswer>) {
    // The key (or session) is optional here; a wrong one counts as a failed attempt, as on every other route
    // (the answer is then the one without a key).
    let with_key = match crate::auth::identify(&state, request.headers()) {
        crate::auth::Identity::Anonymous => false,
        crate::auth::Identity::Known(..) => true,
        crate::auth::Identity::Refused => {
            let address = crate::serve::client_address(&request);
            let _ = state.auth_failures.record(&address, Instant::now());
            false
        }
    };
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
    let stream = match &state.nats {
        Some(client) if nats.status == UpDown::Up => stream_state(client, &state.stream_name).await,
        _ => down("NATS is not connected".to_owned()),
    };
    let now = Utc::now();
    let tiers = if with_key && postgres.status == UpDown::Up {
        state.store.tier_disk_usage().await.ok().map(|tiers| {
            tiers
                .into_iter()
                .map(|t| TierDisk {
                    resolution: t.resolution.as_str(),
                    used_bytes: t.used_bytes,
                    partitions: t.partitions,
                    oldest_day: t.oldest_day,
                    retention_days: state.tiers.days(t.resolution),
                })
                .collect()
        })
    } else {
        None
    };
    let (latest, alerts, lag) = if postgres.status == UpDown::Up {
        let counts = state.store.firing_alert_counts().await.ok();
        (
            state.store.freshness().await.unwrap_or_default(),
            counts.map(|counts| AlertCounts {
                firing: counts.firing,
                firing_critical: counts.firing_critical,
                unacknowledged: counts.unacknowledged,
            }),
            state.store.ingest_lag().await.ok().flatten(),
        )
    } else {
        (Vec::new(), None, None)
    };
    let ingest = lag.map(|lag| {
        let read_age = (now - lag.sample_time).num_milliseconds() as f64 / 1000.0;
        IngestLag {
            status: if read_age > state.stale_after_seconds as f64 {
                "stale"
            } else if lag.oldest_age_seconds.unwrap_or(0.0) > INGEST_LAG_MAX_SECONDS {
                "lagging"
            } else {
                "ok"
            },
            host: lag.host,
            read_at: lag.sample_time,
            pending_messages: lag.pending_messages,
            ack_pending_messages: lag.ack_pending_messages,
            oldest_age_seconds: lag.oldest_age_seconds,
            stream_messages: lag.stream_messages,
            stream_bytes: lag.stream_bytes,
        }
    });
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
    let healthy =
        postgres.status == UpDown::Up && nats.status == UpDown::Up && stream.status == UpDown::Up;
    let status = if !healthy {
        OverallStatus::Unhealthy
    } else if collectors.iter().any(|c| c.status == Freshness::Stale)
        || ingest.as_ref().is_some_and(|i| i.status == "lagging")
    {
        OverallStatus::Degraded
    } else {
        OverallStatus::Ok
    };
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let health = Health {
        status,
        version: env!("CARGO_PKG_VERSION"),
        started_at: state.started_at,
        uptime_seconds: state.started.elapsed().as_secs(),
        postgres,
        nats,
        stream,
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
        tiers,
        ingest,
    };
    let answer = if with_key {
        HealthAnswer::Full(Box::new(health))
    } else {
        HealthAnswer::Public(health.public())
    };
    (code, Json(answer))
}

/// Whether the stream exists (an INFO request, at most 2 s).
async fn stream_state(client: &async_nats::Client, name: &str) -> Dependency {
    let js = async_nats::jetstream::new(client.clone());
    match tokio::time::timeout(Duration::from_secs(2), js.get_stream(name)).await {
        Ok(Ok(_)) => Dependency {
            status: UpDown::Up,
            latency_ms: None,
            error: None,
        },
        Ok(Err(err)) => {
            tracing::warn!(stream = %name, error = %err, "health check: the stream is missing");
            down(format!(
                "stream {name} missing: nothing can be stored; the aggregator creates it at start (restart it)"
            ))
        }
        Err(_) => down("JetStream did not answer within 2 s".to_owned()),
    }
}

fn down(error: String) -> Dependency {
    Dependency {
        status: UpDown::Down,
        latency_ms: None,
        error: Some(error),
    }
}
