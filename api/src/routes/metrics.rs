//! `/metrics/*`: the latest samples (instant, from the latest-snapshot table) and the history
//! of any numeric series (bucketed in SQL to at most `max_points` per series).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use exporter_protocol::system::SystemSample;
use exporter_store::{HistoryPlan, HistoryQuery, LatestSample, Resolution};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use crate::params::Params;
use crate::{ApiError, AppState};

/// The latest sample of one source on one host.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostSample<T> {
    pub host: String,
    /// When the collector took the sample.
    pub time: DateTime<Utc>,
    /// When the aggregator stored it.
    pub received_at: DateTime<Utc>,
    /// Seconds since `time`.
    pub age_seconds: f64,
    pub message_id: uuid::Uuid,
    pub sample: T,
}

/// `GET /metrics/system` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SystemMetrics {
    pub hosts: Vec<HostSample<SystemSample>>,
}

/// `GET /metrics/all` answer: the latest of every source, per host.
#[derive(Debug, Serialize, ToSchema)]
pub struct AllMetrics {
    /// Keyed by source (`system`, `hardware`, ...).
    #[schema(value_type = Object)]
    pub sources: std::collections::BTreeMap<String, Vec<HostSample<serde_json::Value>>>,
}

#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct HostParam {
    /// Only this host.
    host: Option<String>,
}

pub fn host_sample(latest: LatestSample) -> HostSample<serde_json::Value> {
    HostSample {
        age_seconds: (Utc::now() - latest.sample_time).num_milliseconds() as f64 / 1000.0,
        host: latest.host,
        time: latest.sample_time,
        received_at: latest.received_at,
        message_id: latest.message_id,
        sample: latest.body,
    }
}

#[utoipa::path(
    get,
    path = "/metrics/system",
    tag = "metrics",
    params(HostParam),
    security(("api_key" = [])),
    responses(
        (status = 200, body = SystemMetrics),
        (status = 400, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
        (status = 404, description = "No sample from that host", body = crate::error::Problem),
    )
)]
pub async fn system(
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<SystemMetrics>, ApiError> {
    params.only(&["host"])?;
    let hosts = latest_typed(
        &state,
        params.text("host")?,
        exporter_protocol::system::KIND,
    )
    .await?;
    Ok(Json(SystemMetrics { hosts }))
}

/// The latest samples of `kind`, parsed as `T`; a 404 naming the host when `host` never sent one.
pub async fn latest_typed<T: serde::de::DeserializeOwned>(
    state: &AppState,
    host: Option<String>,
    kind: &str,
) -> Result<Vec<HostSample<T>>, ApiError> {
    let rows = state.store.latest(Some(kind), host.as_deref()).await?;
    if let (true, Some(host)) = (rows.is_empty(), host) {
        return Err(ApiError::NotFound(format!(
            "no {kind} sample from host `{host}`"
        )));
    }
    Ok(rows
        .into_iter()
        .filter_map(|latest| {
            let sample = host_sample(latest);
            let body = serde_json::from_value(sample.sample)
                .map_err(|err| {
                    tracing::warn!(kind, host = %sample.host, error = %err, "stored sample does not match this build's schema; left out");
                })
                .ok()?;
            Some(HostSample {
                sample: body,
                host: sample.host,
                time: sample.time,
                received_at: sample.received_at,
                age_seconds: sample.age_seconds,
                message_id: sample.message_id,
            })
        })
        .collect())
}

#[utoipa::path(
    get,
    path = "/metrics/all",
    tag = "metrics",
    params(HostParam),
    security(("api_key" = [])),
    responses(
        (status = 200, body = AllMetrics),
        (status = 400, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
    )
)]
pub async fn all(
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<AllMetrics>, ApiError> {
    params.only(&["host"])?;
    let host = params.text("host")?;
    let mut sources = std::collections::BTreeMap::<String, Vec<_>>::new();
    for latest in state.store.latest(None, host.as_deref()).await? {
        sources
            .entry(latest.source.clone())
            .or_default()
            .push(host_sample(latest));
    }
    Ok(Json(AllMetrics { sources }))
}

/// Query of `GET /metrics/history`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct HistoryParams {
    /// Series name, e.g. `cpu.usage_percent`, `memory.used_bytes`, `filesystem.used_percent`.
    name: String,
    /// Only this host.
    host: Option<String>,
    /// Label matchers `key=value[,key=value]`, e.g. `mount_point=/` or `core=3`.
    labels: Option<String>,
    /// Start (RFC 3339); default one hour before `to`.
    from: Option<DateTime<Utc>>,
    /// End (RFC 3339, exclusive); default now.
    to: Option<DateTime<Utc>>,
    /// Bucket width: seconds, or with a unit (`30s`, `5m`, `1h`, `1d`). Raised when needed so no
    /// series exceeds `max_points`.
    step: Option<String>,
    /// Most points per series (default and upper bound: `api.history_max_points`).
    max_points: Option<u32>,
    /// Value per bucket: `avg` (default), `min`, `max`, `last`, `count`.
    agg: Option<String>,
    /// Table to read: `auto` (default: the coarsest whose buckets fit the step: `1h` for a step of
    /// an hour or more, `1m` for a minute or more, else `raw`), `raw`, `1m` or `1h`. From a
    /// roll-up, `from`/`to` widen to its bucket edges and the step rounds up to a multiple of it.
    resolution: Option<String>,
}

/// One point of a series.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPoint {
    /// Start of the bucket.
    pub time: DateTime<Utc>,
    pub value: f64,
}

/// One series of a history answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistorySeries {
    pub source: String,
    pub host: String,
    #[schema(value_type = Object)]
    pub labels: serde_json::Value,
    pub points: Vec<HistoryPoint>,
}

/// `GET /metrics/history` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    pub name: String,
    /// The range served: the caller's, widened to the roll-up's bucket edges when one served.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The bucket width actually used.
    pub step_seconds: i64,
    pub agg: &'static str,
    /// Which table served the answer: `raw` (the points), `1m` or `1h` (the roll-ups).
    #[schema(example = "1h")]
    pub resolution: &'static str,
    pub series: Vec<HistorySeries>,
}

const AGGS: &[&str] = &["avg", "min", "max", "last", "count"];

#[utoipa::path(
    get,
    path = "/metrics/history",
    tag = "metrics",
    params(HistoryParams),
    security(("api_key" = [])),
    responses(
        (status = 200, body = History),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<History>, ApiError> {
    params.only(&[
        "name",
        "host",
        "labels",
        "from",
        "to",
        "step",
        "max_points",
        "agg",
        "resolution",
    ])?;
    let name = params.required("name")?;
    let host = params.text("host")?;
    let labels = parse_labels(params.text("labels")?.as_deref())?;
    let to = params.time("to")?.unwrap_or_else(Utc::now);
    let from = params.time("from")?.unwrap_or(to - Duration::hours(1));
    if from >= to {
        return Err(ApiError::bad("from", "must be before `to`"));
    }
    let max_points = params
        .integer("max_points", 1, i64::from(state.history_max_points))?
        .unwrap_or(i64::from(state.history_max_points));
    let agg = params.choice("agg", AGGS)?.unwrap_or("avg");
    let forced = match params.choice("resolution", &["auto", "raw", "1m", "1h"])? {
        None | Some("auto") => None,
        Some(text) => Resolution::parse(text),
    };
    let step = params.duration_seconds("step")?;
    let plan = HistoryPlan::new(from, to, step, max_points, forced);
    let query = HistoryQuery {
        name: name.clone(),
        host,
        labels,
        from: plan.from,
        to: plan.to,
        step_seconds: plan.step_seconds,
        resolution: plan.resolution,
    };
    let series = state
        .store
        .history(&query)
        .await?
        .into_iter()
        .map(|s| HistorySeries {
            source: s.source,
            host: s.host,
            labels: s.labels,
            points: s
                .buckets
                .into_iter()
                .map(|b| HistoryPoint {
                    time: b.time,
                    value: match agg {
                        "min" => b.min,
                        "max" => b.max,
                        "last" => b.last,
                        "count" => b.count as f64,
                        _ => b.avg,
                    },
                })
                .collect(),
        })
        .collect();
    Ok(Json(History {
        name,
        from: plan.from,
        to: plan.to,
        step_seconds: plan.step_seconds,
        agg,
        resolution: plan.resolution.as_str(),
        series,
    }))
}

fn parse_labels(
    text: Option<&str>,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let mut labels = serde_json::Map::new();
    for pair in text.into_iter().flat_map(|t| t.split(',')) {
        let Some((key, value)) = pair.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
            return Err(ApiError::bad(
                "labels",
                format!("`{pair}` is not key=value"),
            ));
        };
        labels.insert(key.trim().to_owned(), value.trim().into());
    }
    Ok(labels)
}
