//! `/alerts` and `/silences`: the alerts the aggregator raised (filtered, newest first, each
//! saying whether an active silence covers it), one alert with its transitions, acknowledging an
//! alert, the delivery log, and creating, listing and deleting silences.
//!
//! Acknowledgements and silences are user intent: the API writes them to PostgreSQL itself
//! (admin-scope keys only) and announces acknowledgements on NATS; the aggregator, the only
//! writer of alert state, re-reads both on every evaluation.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use chrono::{DateTime, TimeDelta, Utc};
use exporter_protocol::Subjects;
use exporter_protocol::alert::{
    Alert, AlertEvent, AlertEventKind, AlertState, Matcher, Severity, Silence,
};
use exporter_settings::KeyScope;
use exporter_store::alert_query::{
    Acknowledgement, AlertQuery, AlertTransition, SilenceExpiry, SilenceSet,
};
use exporter_store::delivery::DeliveryRecord;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::params::Params;
use crate::{ApiError, AppState};

/// Deepest `offset` accepted for alert and silence pages.
pub const MAX_OFFSET: i64 = 1_000_000;
/// Longest a silence may last from now.
pub const MAX_SILENCE_DAYS: i64 = 90;
/// Most matchers one silence may have.
pub const MAX_MATCHERS: usize = 64;
/// Longest user name (`user`, `created_by`), in characters.
pub const MAX_USER_CHARS: usize = 64;
/// Longest silence comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 1024;
/// Longest matcher value (a regex is compiled for every alert it is checked against).
pub const MAX_MATCHER_VALUE_CHARS: usize = 1024;
/// How many delivery attempts `GET /alerts/{alert_id}` shows.
const ALERT_DELIVERIES: i64 = 50;

/// The caller, when its key has the admin scope; a read-scope key gets 403.
#[derive(Debug, Clone)]
pub struct AdminCaller(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let caller = parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError::Unauthorized)?;
        if caller.scope != KeyScope::Admin {
            tracing::info!(caller = %caller.name, path = %parts.uri.path(), "refused: read-scope key on an admin route");
            return Err(ApiError::Forbidden(
                "this route changes state and needs a key with the admin scope".into(),
            ));
        }
        Ok(Self(caller))
    }
}

/// Checks a user name: 1 to 64 characters, no control characters.
fn check_user(value: &str) -> Result<(), String> {
    let chars = value.chars().count();
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if chars > MAX_USER_CHARS {
        return Err(format!("at most {MAX_USER_CHARS} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

fn parse_id(name: &str, raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad(name, format!("`{raw}` is not a UUID")))
}

/// An alert as JSON, with `silenced`: whether an active silence covers its labels at `now`.
fn alert_json(alert: &Alert, silences: &[Silence], now: DateTime<Utc>) -> Value {
    let mut value = json!(alert);
    value["silenced"] = json!(silences.iter().any(|s| s.silences(&alert.labels, now)));
    value
}

/// Where a silence stands at `now`.
fn silence_state(silence: &Silence, now: DateTime<Utc>) -> &'static str {
    if silence.expired_at.is_some() || silence.ends_at <= now {
        "expired"
    } else if silence.starts_at > now {
        "pending"
    } else {
        "active"
    }
}

/// A silence as JSON, with its `state` at `now`.
fn silence_json(silence: &Silence, now: DateTime<Utc>) -> Value {
    let mut value = json!(silence);
    value["state"] = json!(silence_state(silence, now));
    value
}

fn transition_json(transition: &AlertTransition) -> Value {
    json!({
        "id": transition.id,
        "time": transition.time,
        "kind": transition.kind,
        "value": transition.value,
        "actor": transition.actor,
    })
}

fn delivery_json(delivery: &DeliveryRecord) -> Value {
    json!({
        "id": delivery.delivery_id,
        "time": delivery.time,
        "receiver": delivery.receiver,
        "group_key": delivery.group_key,
        "alert_ids": delivery.alert_ids,
        "status": delivery.status.as_str(),
        "attempt": delivery.attempt,
        "http_status": delivery.http_status,
        "error": delivery.error,
        "duration_ms": delivery.duration_ms,
    })
}

/// Publishes an alert event on `<prefix>.v1.alert.<kind>` (core NATS). A failure is logged: the
/// database already holds the change, and the aggregator reads it from there.
async fn announce(state: &AppState, event: &AlertEvent) {
    let Some(client) = &state.nats else {
        return;
    };
    let subject = Subjects::new(&state.subject_prefix).alert(event.kind.as_str());
    let body = match serde_json::to_vec(event) {
        Ok(body) => body,
        Err(err) => {
            tracing::warn!(error = %err, alert_id = %event.alert.id, "cannot encode an alert event");
            return;
        }
    };
    if let Err(err) = client.publish(subject.clone(), body.into()).await {
        tracing::warn!(error = %err, %subject, alert_id = %event.alert.id, "cannot announce an alert event on NATS");
    }
}

#[utoipa::path(
    get, path = "/alerts", tag = "alerts", security(("api_key" = [])),
    params(
        ("severity" = Option<String>, Query, description = "info, warning, critical; several separated by commas"),
        ("category" = Option<String>, Query, description = "system, hardware, trading, market, logs, or a notification's category; several separated by commas"),
        ("state" = Option<String>, Query, description = "pending, firing, resolved, inactive; several separated by commas"),
        ("acknowledged" = Option<bool>, Query, description = "true: only acknowledged alerts; false: only unacknowledged ones"),
        ("host" = Option<String>, Query, description = "the `host` label"),
        ("limit" = Option<u32>, Query, description = "1 to 1000, default 100"),
        ("offset" = Option<u32>, Query, description = "0 to 1000000, default 0"),
    ),
    responses(
        (status = 200, description = "`total`, `limit`, `offset`, `alerts` newest first (by `started_at`): id, fingerprint, rule, severity, category, state, labels, annotations, value, started_at, fired_at, resolved_at, acknowledged_at, acknowledged_by, last_active_at, and `silenced` (an active silence matches its labels now)"),
        (status = 400, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
    )
)]
pub async fn alerts(
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.only(&[
        "severity",
        "category",
        "state",
        "acknowledged",
        "host",
        "limit",
        "offset",
    ])?;
    let limit = params.integer("limit", 1, 1000)?.unwrap_or(100);
    let offset = params.integer("offset", 0, MAX_OFFSET)?.unwrap_or(0);
    let query = AlertQuery {
        severities: params.list("severity", |v| v.parse::<Severity>())?,
        categories: params.list("category", |v| Ok(v.to_owned()))?,
        states: params.list("state", |v| v.parse::<AlertState>())?,
        acknowledged: params.boolean("acknowledged")?,
        host: params.text("host")?,
        limit,
        offset,
    };
    let now = Utc::now();
    let (page, silences) = tokio::try_join!(
        state.store.alerts(&query),
        state.store.current_silences(now)
    )?;
    let alerts: Vec<Value> = page
        .alerts
        .iter()
        .map(|alert| alert_json(alert, &silences, now))
        .collect();
    Ok(Json(json!({
        "total": page.total,
        "limit": limit,
        "offset": offset,
        "alerts": alerts,
    })))
}

#[utoipa::path(
    get, path = "/alerts/{alert_id}", tag = "alerts", security(("api_key" = [])),
    params(("alert_id" = String, Path, description = "the alert's UUID")),
    responses(
        (status = 200, description = "The alert (as in `/alerts`, with `silenced`), its `transitions` in order (`id`, `time`, `kind`: pending, firing, resolved, inactive or acknowledged, `value`, `actor`) and its latest `deliveries` (newest first)"),
        (status = 400, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
    )
)]
pub async fn alert(
    State(state): State<AppState>,
    Path(alert_id): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.only(&[])?;
    let id = parse_id("alert_id", &alert_id)?;
    let now = Utc::now();
    let Some(alert) = state.store.alert(id).await? else {
        return Err(ApiError::NotFound(format!("no alert {id}")));
    };
    let (transitions, deliveries, silences) = tokio::try_join!(
        state.store.alert_transitions(id),
        state.store.deliveries_for_alert(id, ALERT_DELIVERIES),
        state.store.current_silences(now)
    )?;
    let mut value = alert_json(&alert, &silences, now);
    value["transitions"] = transitions.iter().map(transition_json).collect();
    value["deliveries"] = deliveries.iter().map(delivery_json).collect();
    Ok(Json(value))
}

#[utoipa::path(
    post, path = "/alerts/{alert_id}/acknowledge", tag = "alerts", security(("api_key" = [])),
    params(
        ("alert_id" = String, Path, description = "the alert's UUID"),
        ("user" = Option<String>, Query, description = "who acknowledges (1 to 64 characters); default: the key's name"),
    ),
    responses(
        (status = 200, description = "The alert, acknowledged (`acknowledged_at`, `acknowledged_by`). Acknowledging again changes nothing and answers the same"),
        (status = 400, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
        (status = 403, description = "The key has the read scope only", body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
        (status = 409, description = "The alert is resolved or inactive and was never acknowledged", body = crate::error::Problem),
    )
)]
pub async fn acknowledge(
    AdminCaller(caller): AdminCaller,
    State(state): State<AppState>,
    Path(alert_id): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.only(&["user"])?;
    let id = parse_id("alert_id", &alert_id)?;
    let user = params.text("user")?.unwrap_or_else(|| caller.name.clone());
    check_user(&user).map_err(|err| ApiError::bad("user", err))?;
    let alert = match state.store.acknowledge_alert(id, &user).await? {
        Acknowledgement::NotFound => return Err(ApiError::NotFound(format!("no alert {id}"))),
        Acknowledgement::Final(alert) => {
            return Err(ApiError::Conflict(format!(
                "alert {id} is already {}: there is nothing left to acknowledge",
                alert.state
            )));
        }
        Acknowledgement::Already(alert) => alert,
        Acknowledgement::Recorded(alert) => {
            tracing::info!(alert_id = %id, rule = %alert.rule, %user, caller = %caller.name, "alert acknowledged");
            announce(
                &state,
                &AlertEvent {
                    kind: AlertEventKind::Acknowledged,
                    time: alert.acknowledged_at.unwrap_or_else(Utc::now),
                    alert: alert.clone(),
                },
            )
            .await;
            alert
        }
    };
    let now = Utc::now();
    let silences = state.store.current_silences(now).await?;
    Ok(Json(alert_json(&alert, &silences, now)))
}

#[utoipa::path(
    get, path = "/alerts/deliveries", tag = "alerts", security(("api_key" = [])),
    params(("limit" = Option<u32>, Query, description = "1 to 1000, default 100")),
    responses(
        (status = 200, description = "`deliveries`: the latest notification delivery attempts, newest first (`id`, `time`, `receiver`, `group_key`, `alert_ids`, `status`: sent, retrying or failed, `attempt`, `http_status`, `error`, `duration_ms`)"),
        (status = 400, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
    )
)]
pub async fn deliveries(
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.only(&["limit"])?;
    let limit = params.integer("limit", 1, 1000)?.unwrap_or(100);
    let deliveries = state.store.recent_deliveries(limit).await?;
    let deliveries: Vec<Value> = deliveries.iter().map(delivery_json).collect();
    Ok(Json(json!({ "limit": limit, "deliveries": deliveries })))
}

#[utoipa::path(
    get, path = "/silences", tag = "alerts", security(("api_key" = [])),
    params(
        ("state" = Option<String>, Query, description = "current (default: active and pending), active, pending, expired (ended or deleted), all"),
        ("limit" = Option<u32>, Query, description = "1 to 1000, default 100"),
        ("offset" = Option<u32>, Query, description = "0 to 1000000, default 0"),
    ),
    responses(
        (status = 200, description = "`total`, `limit`, `offset`, `silences` newest first: id, matchers, starts_at, ends_at, created_by, comment, created_at, expired_at, and `state` (active, pending, expired)"),
        (status = 400, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
    )
)]
pub async fn silences(
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.only(&["state", "limit", "offset"])?;
    let set = match params.choice("state", &["current", "active", "pending", "expired", "all"])? {
        None | Some("current") => SilenceSet::Current,
        Some("active") => SilenceSet::Active,
        Some("pending") => SilenceSet::Pending,
        Some("expired") => SilenceSet::Expired,
        Some(_) => SilenceSet::All,
    };
    let limit = params.integer("limit", 1, 1000)?.unwrap_or(100);
    let offset = params.integer("offset", 0, MAX_OFFSET)?.unwrap_or(0);
    let now = Utc::now();
    let page = state.store.silences(set, now, limit, offset).await?;
    let silences: Vec<Value> = page.silences.iter().map(|s| silence_json(s, now)).collect();
    Ok(Json(json!({
        "total": page.total,
        "limit": limit,
        "offset": offset,
        "silences": silences,
    })))
}

/// One matcher of a new silence (documentation of the body; it is read field by field so a
/// bad field is named exactly).
#[derive(Debug, Serialize, ToSchema)]
pub struct MatcherRequest {
    /// Label name (`alertname`, `host`, `severity`, `gpu`, ...).
    pub name: String,
    /// The value it equals, or with `is_regex` the regex it fully matches.
    pub value: String,
    /// Default false.
    pub is_regex: Option<bool>,
    /// Default true; false negates the matcher.
    pub is_equal: Option<bool>,
}

/// Body of `POST /silences`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SilenceRequest {
    /// At least one; every one must hold. At least one must not match an empty label.
    pub matchers: Vec<MatcherRequest>,
    /// RFC 3339; default now.
    pub starts_at: Option<DateTime<Utc>>,
    /// RFC 3339, after `starts_at`, at most 90 days from now. Give this or `duration`.
    pub ends_at: Option<DateTime<Utc>>,
    /// Length from `starts_at`: `30m`, `2h`, `1h30m`, `7d`.
    pub duration: Option<String>,
    /// Default: the API key's name.
    pub created_by: Option<String>,
    /// Why (required).
    pub comment: String,
}

/// Reads fields out of one JSON object, naming each by its path in the body.
struct Fields<'a> {
    object: &'a Map<String, Value>,
    prefix: String,
}

impl<'a> Fields<'a> {
    fn new(value: &'a Value, path: &str, known: &[&str]) -> Result<Self, ApiError> {
        let Value::Object(object) = value else {
            return Err(ApiError::invalid(path, "must be a JSON object"));
        };
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}.")
        };
        let mut unknown: Vec<&String> = object
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .collect();
        unknown.sort();
        if let Some(name) = unknown.first() {
            return Err(ApiError::invalid(
                format!("{prefix}{name}"),
                format!("unknown field (known: {})", known.join(", ")),
            ));
        }
        Ok(Self { object, prefix })
    }

    fn path(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.object.get(name).filter(|v| !v.is_null())
    }

    fn string(&self, name: &str, max_chars: usize) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.contains('\0') => Err(ApiError::invalid(
                self.path(name),
                "must not contain a NUL character",
            )),
            Some(Value::String(s)) if s.chars().count() > max_chars => Err(ApiError::invalid(
                self.path(name),
                format!("at most {max_chars} characters"),
            )),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::invalid(self.path(name), "must be a string")),
        }
    }

    fn required_string(&self, name: &str, max_chars: usize) -> Result<String, ApiError> {
        self.string(name, max_chars)?
            .ok_or_else(|| ApiError::invalid(self.path(name), "is required"))
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::invalid(self.path(name), "must be true or false")),
        }
    }

    fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.string(name, 64)?
            .map(|value| {
                DateTime::parse_from_rfc3339(&value)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|err| {
                        ApiError::invalid(
                            self.path(name),
                            format!("`{value}` is not an RFC 3339 time ({err})"),
                        )
                    })
            })
            .transpose()
    }
}

/// Reads and checks a `POST /silences` body into a new silence created at `now`.
fn silence_from_body(
    body: &[u8],
    caller: &Caller,
    now: DateTime<Utc>,
) -> Result<Silence, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|err| ApiError::bad("(body)", format!("not a JSON document: {err}")))?;
    let fields = Fields::new(
        &value,
        "",
        &[
            "matchers",
            "starts_at",
            "ends_at",
            "duration",
            "created_by",
            "comment",
        ],
    )
    .map_err(|err| match err {
        ApiError::InvalidField { field, detail } if field.is_empty() => {
            ApiError::invalid("(body)", detail)
        }
        other => other,
    })?;
    let matchers = match fields.get("matchers") {
        None => {
            return Err(ApiError::invalid(
                "matchers",
                "is required: at least one matcher",
            ));
        }
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ApiError::invalid("matchers", "must be an array")),
    };
    if matchers.is_empty() {
        return Err(ApiError::invalid("matchers", "needs at least one matcher"));
    }
    if matchers.len() > MAX_MATCHERS {
        return Err(ApiError::invalid(
            "matchers",
            format!("at most {MAX_MATCHERS} matchers"),
        ));
    }
    let mut parsed = Vec::with_capacity(matchers.len());
    for (i, item) in matchers.iter().enumerate() {
        let path = format!("matchers[{i}]");
        let m = Fields::new(item, &path, &["name", "value", "is_regex", "is_equal"])?;
        let matcher = Matcher {
            name: m.required_string("name", 128)?,
            value: m.required_string("value", MAX_MATCHER_VALUE_CHARS)?,
            is_regex: m.boolean("is_regex")?.unwrap_or(false),
            is_equal: m.boolean("is_equal")?.unwrap_or(true),
        };
        if matcher.name.trim().is_empty() {
            return Err(ApiError::invalid(m.path("name"), "must not be empty"));
        }
        matcher.validate().map_err(|err| {
            ApiError::invalid(m.path(if matcher.is_regex { "value" } else { "name" }), err)
        })?;
        parsed.push(matcher);
    }
    // As Alertmanager: a silence whose every matcher also matches an absent label would silence
    // every alert.
    let nothing = BTreeMap::new();
    if parsed.iter().all(|m| m.matches(&nothing)) {
        return Err(ApiError::invalid(
            "matchers",
            "would silence every alert: at least one matcher must not match an empty label value",
        ));
    }
    let starts_at = fields.time("starts_at")?.unwrap_or(now);
    let ends_at = fields.time("ends_at")?;
    let duration = fields.string("duration", 64)?;
    let (end_field, ends_at) = match (ends_at, duration) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "duration",
                "give either ends_at or duration, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "ends_at",
                "is required (or give `duration`, e.g. 2h)",
            ));
        }
        (Some(ends_at), None) => ("ends_at", ends_at),
        (None, Some(duration)) => {
            let length = exporter_settings::alerts::parse_duration(&duration)
                .map_err(|err| ApiError::invalid("duration", err))?;
            let length = TimeDelta::from_std(length)
                .ok()
                .filter(|l| *l <= TimeDelta::days(MAX_SILENCE_DAYS))
                .ok_or_else(|| {
                    ApiError::invalid("duration", format!("at most {MAX_SILENCE_DAYS} days"))
                })?;
            ("duration", starts_at + length)
        }
    };
    if ends_at <= starts_at {
        return Err(ApiError::invalid(end_field, "must end after starts_at"));
    }
    if ends_at <= now {
        return Err(ApiError::invalid(end_field, "must end in the future"));
    }
    if ends_at > now + TimeDelta::days(MAX_SILENCE_DAYS) {
        return Err(ApiError::invalid(
            end_field,
            format!("must end within {MAX_SILENCE_DAYS} days from now"),
        ));
    }
    let created_by = fields
        .string("created_by", MAX_USER_CHARS)?
        .unwrap_or_else(|| caller.name.clone());
    check_user(&created_by).map_err(|err| ApiError::invalid("created_by", err))?;
    let comment = fields.required_string("comment", MAX_COMMENT_CHARS)?;
    if comment.trim().is_empty() {
        return Err(ApiError::invalid("comment", "must not be empty: say why"));
    }
    Ok(Silence {
        id: Uuid::now_v7(),
        matchers: parsed,
        starts_at,
        ends_at,
        created_by,
        comment,
        created_at: now,
        expired_at: None,
    })
}

#[utoipa::path(
    post, path = "/silences", tag = "alerts", security(("api_key" = [])),
    request_body = SilenceRequest,
    responses(
        (status = 201, description = "The silence created (as in `GET /silences`)"),
        (status = 400, description = "The body is not JSON", body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
        (status = 403, description = "The key has the read scope only", body = crate::error::Problem),
        (status = 422, description = "A field is not acceptable; `parameter` names it (`matchers[0].value`, `ends_at`, ...)", body = crate::error::Problem),
    )
)]
pub async fn create_silence(
    AdminCaller(caller): AdminCaller,
    State(state): State<AppState>,
    params: Params,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    params.only(&[])?;
    let now = Utc::now();
    let silence = silence_from_body(&body, &caller, now)?;
    state.store.insert_silence(&silence).await?;
    tracing::info!(silence_id = %silence.id, created_by = %silence.created_by, caller = %caller.name, ends_at = %silence.ends_at, "silence created");
    Ok((StatusCode::CREATED, Json(silence_json(&silence, now))))
}

#[utoipa::path(
    delete, path = "/silences/{id}", tag = "alerts", security(("api_key" = [])),
    params(("id" = String, Path, description = "the silence's UUID")),
    responses(
        (status = 200, description = "The silence, expired now (or as it was, if it had already ended or been deleted)"),
        (status = 400, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
        (status = 403, description = "The key has the read scope only", body = crate::error::Problem),
        (status = 404, body = crate::error::Problem),
    )
)]
pub async fn delete_silence(
    AdminCaller(caller): AdminCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.only(&[])?;
    let id = parse_id("id", &id)?;
    let now = Utc::now();
    let silence = match state.store.expire_silence(id, now).await? {
        SilenceExpiry::NotFound => return Err(ApiError::NotFound(format!("no silence {id}"))),
        SilenceExpiry::Already(silence) => silence,
        SilenceExpiry::Expired(silence) => {
            tracing::info!(silence_id = %id, caller = %caller.name, "silence expired");
            silence
        }
    };
    Ok(Json(silence_json(&silence, now)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin() -> Caller {
        Caller {
            name: "main".into(),
            scope: KeyScope::Admin,
        }
    }

    fn field_of(err: ApiError) -> String {
        match err {
            ApiError::InvalidField { field, .. } => field,
            ApiError::BadParameter { parameter, .. } => parameter,
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn silence_bodies_are_checked_field_by_field() {
        let now = Utc::now();
        let bad = |body: Value| {
            field_of(silence_from_body(body.to_string().as_bytes(), &admin(), now).unwrap_err())
        };
        let m = json!([{"name": "alertname", "value": "GpuHot"}]);
        assert_eq!(bad(json!({"duration": "1h", "comment": "x"})), "matchers");
        assert_eq!(
            bad(json!({"matchers": [], "duration": "1h", "comment": "x"})),
            "matchers"
        );
        assert_eq!(
            bad(
                json!({"matchers": [{"name": "a", "value": "(", "is_regex": true}], "duration": "1h", "comment": "x"})
            ),
            "matchers[0].value"
        );
        assert_eq!(
            bad(
                json!({"matchers": [{"name": "a", "value": ".*", "is_regex": true}], "duration": "1h", "comment": "x"})
            ),
            "matchers"
        );
        assert_eq!(
            bad(
                json!({"matchers": [{"name": "a", "value": "b", "extra": 1}], "duration": "1h", "comment": "x"})
            ),
            "matchers[0].extra"
        );
        assert_eq!(bad(json!({"matchers": m, "comment": "x"})), "ends_at");
        assert_eq!(
            bad(json!({"matchers": m, "duration": "forever", "comment": "x"})),
            "duration"
        );
        assert_eq!(
            bad(json!({"matchers": m, "duration": "91d", "comment": "x"})),
            "duration"
        );
        assert_eq!(
            bad(json!({"matchers": m, "ends_at": "2001-01-01T00:00:00Z", "comment": "x"})),
            "ends_at"
        );
        assert_eq!(bad(json!({"matchers": m, "duration": "1h"})), "comment");
        assert_eq!(
            bad(json!({"matchers": m, "duration": "1h", "comment": "x", "created_by": ""})),
            "created_by"
        );
        assert_eq!(bad(json!([1])), "(body)");
        assert_eq!(
            field_of(silence_from_body(b"{", &admin(), now).unwrap_err()),
            "(body)"
        );

        let silence = silence_from_body(
            json!({"matchers": m, "duration": "2h", "comment": "maintenance"})
                .to_string()
                .as_bytes(),
            &admin(),
            now,
        )
        .unwrap();
        assert_eq!(silence.created_by, "main");
        assert_eq!(silence.starts_at, now);
        assert_eq!(silence.ends_at, now + TimeDelta::hours(2));
        assert!(silence.matchers[0].is_equal && !silence.matchers[0].is_regex);
        assert_eq!(silence_state(&silence, now), "active");
    }

    #[test]
    fn user_names_are_short_and_printable() {
        assert!(check_user("ops").is_ok());
        assert!(check_user(" ").is_err());
        assert!(check_user("a\nb").is_err());
        assert!(check_user(&"x".repeat(65)).is_err());
    }
}
