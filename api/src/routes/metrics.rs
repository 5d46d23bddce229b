//! `/metrics/*`: the latest samples (instant, from the latest-snapshot table) and the history
//! of any numeric series (bucketed in SQL to at most `max_points` per series).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use exporter_protocol::system::SystemSample;
use exporter_store::{HistoryPlan, HistoryQuery, LatestSample, Resolution};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{AppQuery, de};
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
    /// Keyed by source (`system`, `hardware`, ...); each sample is that source's own document
    /// (free-form here: the typed routes describe each).
    #[schema(value_type = std::collections::BTreeMap<String, Vec<HostSample<Object>>>)]
    pub sources: std::collections::BTreeMap<String, Vec<HostSample<serde_json::Value>>>,
}

/// Query of the latest-sample routes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HostParam {
    /// Only this host.
    #[serde(default, deserialize_with = "de::text")]
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
    pub host: Option<String>,
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
    path = "/metrics/system", operation_id = "system_metrics",
    tag = "metrics",
    params(HostParam),
    responses(
        (status = 200, body = SystemMetrics),
        (status = 400, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No sample from that host", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn system(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<HostParam>,
) -> Result<Json<SystemMetrics>, ApiError> {
    let hosts = latest_typed(&state, params.host, exporter_protocol::system::KIND).await?;
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
    path = "/metrics/all", operation_id = "all_metrics",
    tag = "metrics",
    params(HostParam),
    responses(
        (status = 200, body = AllMetrics),
        (status = 400, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn all(
    State(state): State<AppState>,
    AppQuery(HostParam { host }): AppQuery<HostParam>,
) -> Result<Json<AllMetrics>, ApiError> {
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
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Series name, e.g. `cpu.usage_percent`, `memory.used_bytes`, `filesystem.used_percent`.
    #[serde(deserialize_with = "de::required_text")]
    #[param(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000]+$",
        example = "cpu.usage_percent"
    )]
    pub name: String,
    /// Only this host.
    #[serde(default, deserialize_with = "de::text")]
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
    pub host: Option<String>,
    /// Label matchers `key=value[,key=value]`, e.g. `mount_point=/` or `core=3`.
    #[serde(default, deserialize_with = "de::labels")]
    #[param(value_type = Option<String>, pattern = "^[^=,\\u0000]+=[^,\\u0000]*(,[^=,\\u0000]+=[^,\\u0000]*)*$")]
    pub labels: serde_json::Map<String, serde_json::Value>,
    /// Start; default one hour before `to`. At or after `to`, the range is empty.
    #[serde(default, deserialize_with = "de::time")]
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive); default now.
    #[serde(default, deserialize_with = "de::time")]
    pub to: Option<DateTime<Utc>>,
    /// Bucket width: seconds, or with a unit (`30s`, `5m`, `1h`, `1d`). Raised when needed so no
    /// series exceeds `max_points`.
    #[serde(default, deserialize_with = "de::step_seconds")]
    #[param(value_type = Option<String>, pattern = "^([1-9][0-9]{0,8}|[1-9][0-9]{0,5}[smhd]([0-9]{1,6}[smhd])*)$")]
    pub step: Option<i64>,
    /// Most points per series (default and upper bound: `api.history_max_points`).
    #[serde(default, deserialize_with = "de::ranged::<1, { i64::MAX }, _>")]
    #[param(minimum = 1)]
    pub max_points: Option<i64>,
    /// Value per bucket; default `avg`. `rate` (per second) only for counter series (names
    /// ending in `_total`); a drop is a counter reset, counted as Prometheus does.
    #[serde(default)]
    #[param(inline)]
    pub agg: Option<Aggregation>,
    /// Table to read: `auto` (default: the coarsest whose buckets fit the step: `1h` for a step of
    /// an hour or more, `1m` for a minute or more, else `raw`; when `max_points` alone set the
    /// step, the next coarser tier if it still gives `max_points / 4` points, so 14 days come
    /// from `1h`; a coarser one when the range starts before that tier's retention), `raw`, `1m`
    /// or `1h`. From a roll-up, `from`/`to`
    /// widen to its bucket edges and the step rounds up to a multiple of it.
    #[serde(default)]
    #[param(inline)]
    pub resolution: Option<ResolutionParam>,
}

/// Value per bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    #[default]
    Avg,
    Min,
    Max,
    Last,
    Count,
    /// Increase per second of a counter series.
    Rate,
}

/// Which table serves a history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ResolutionParam {
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "raw")]
    Raw,
    #[serde(rename = "1m")]
    Minute,
    #[serde(rename = "1h")]
    Hour,
}

/// One point of a series.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPoint {
    /// Start of the bucket.
    #[serde(serialize_with = "crate::json_time::serialize")]
    pub time: DateTime<Utc>,
    pub value: f64,
}

/// One series of a history answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistorySeries {
    pub source: String,
    pub host: String,
    /// The series' labels (`mount_point`, `core`, `gpu`, ...).
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub labels: serde_json::Value,
    pub points: Vec<HistoryPoint>,
}

/// `GET /metrics/history` answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "name": "cpu.usage_percent", "from": "2026-12-01T11:37:11.580194194Z",
    "to": "2026-12-01T12:37:11.580194194Z", "step_seconds": 5, "agg": "avg", "resolution": "raw",
    "series": [{"source": "system", "host": "gh200", "labels": {},
                "points": [{"time": "2026-12-01T12:37:06.580194Z", "value": 12.5}]}]
}))]
pub struct History {
    pub name: String,
    /// The range served: the caller's, widened to the roll-up's bucket edges when one served.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The bucket width actually used.
    pub step_seconds: i64,
    pub agg: Aggregation,
    /// Which table served the answer: `raw` (the points), `1m` or `1h` (the roll-ups).
    pub resolution: ServedResolution,
    pub series: Vec<HistorySeries>,
}

/// The table that served a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum ServedResolution {
    #[serde(rename = "raw")]
    Raw,
    #[serde(rename = "1m")]
    Minute,
    #[serde(rename = "1h")]
    Hour,
}

#[utoipa::path(
    get,
    path = "/metrics/history", operation_id = "metrics_history",
    tag = "metrics",
    params(HistoryParams),
    responses(
        (status = 200, body = History),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`agg=rate` on a series that is not a counter (`parameter` is `agg`)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<HistoryParams>,
) -> Result<Json<History>, ApiError> {
    let name = params.name;
    let host = params.host;
    let labels = params.labels;
    let to = params.to.unwrap_or_else(Utc::now);
    let from = params.from.unwrap_or(to - Duration::hours(1));
    let max_points = i64::from(state.history_max_points);
    let max_points = match params.max_points {
        Some(asked) if asked > max_points => {
            return Err(ApiError::bad(
                "max_points",
                format!("{asked} is out of range 1..={max_points} (api.history_max_points)"),
            ));
        }
        Some(asked) => asked,
        None => max_points,
    };
    let agg = params.agg.unwrap_or_default();
    let forced = match params.resolution.unwrap_or_default() {
        ResolutionParam::Auto => None,
        ResolutionParam::Raw => Resolution::parse("raw"),
        ResolutionParam::Minute => Resolution::parse("1m"),
        ResolutionParam::Hour => Resolution::parse("1h"),
    };
    if agg == Aggregation::Rate
        && !exporter_protocol::series::describe(&name).is_some_and(|d| d.is_counter())
    {
        // Well-formed, but not for this series: a 422 (the document cannot tie `agg` to `name`).
        return Err(ApiError::invalid(
            "agg",
            format!(
                "`rate` needs a counter series (a name ending in `_total`); `{name}` is not one"
            ),
        ));
    }
    let step = params.step;
    let mut plan = HistoryPlan::new(from, to, step, max_points, forced);
    if forced.is_none() {
        plan = plan.within(&state.tiers, Utc::now().date_naive(), max_points);
    }
    let query = HistoryQuery {
        name: name.clone(),
        host,
        labels,
        from: plan.from,
        to: plan.to,
        step_seconds: plan.step_seconds,
        resolution: plan.resolution,
    };
    let resolution = match plan.resolution.as_str() {
        "1m" => ServedResolution::Minute,
        "1h" => ServedResolution::Hour,
        _ => ServedResolution::Raw,
    };
    // An empty range (`from` at or after `to`) holds no point.
    let series = if from >= to {
        Vec::new()
    } else if agg == Aggregation::Rate {
        let step = plan.step_seconds as f64;
        state
            .store
            .counter_increase(&query)
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
                        value: b.increase / step,
                    })
                    .collect(),
            })
            .collect()
    } else {
        state
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
                            Aggregation::Min => b.min,
                            Aggregation::Max => b.max,
                            Aggregation::Last => b.last,
                            Aggregation::Count => b.count as f64,
                            Aggregation::Avg | Aggregation::Rate => b.avg,
                        },
                    })
                    .collect(),
            })
            .collect()
    };
    Ok(Json(History {
        name,
        from: plan.from,
        to: plan.to,
        step_seconds: plan.step_seconds,
        agg,
        resolution,
        series,
    }))
}
