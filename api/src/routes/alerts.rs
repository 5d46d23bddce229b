//! `/alerts`: the alerts the aggregator raised (filtered, newest first, each saying whether an
//! active silence covers it), one alert with its transitions, acknowledging an alert, and the
//! delivery log. Silences are in [`super::silences`].
//!
//! Acknowledgements and silences are user intent: the API writes them to PostgreSQL itself
//! (admin-scope keys only) and announces acknowledgements on NATS; the aggregator, the only
//! writer of alert state, re-reads both on every evaluation.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use exporter_protocol::Subjects;
use exporter_protocol::alert::{Alert, AlertEvent, AlertEventKind, AlertState, Severity, Silence};
use exporter_settings::KeyScope;
use exporter_store::alert_query::{Acknowledgement, AlertQuery, AlertTransition};
use exporter_store::delivery::DeliveryRecord;
use serde_json::{Value, json};

use uuid::Uuid;

use crate::auth::Caller;
use crate::params::Params;
use crate::{ApiError, AppState};

/// Deepest `offset` accepted for alert and silence pages.
pub const MAX_OFFSET: i64 = 1_000_000;
/// Longest user name (`user`, `created_by`), in characters.
pub const MAX_USER_CHARS: usize = 64;
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
pub(crate) fn check_user(value: &str) -> Result<(), String> {
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

pub(crate) fn parse_id(name: &str, raw: &str) -> Result<Uuid, ApiError> {
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
pub(crate) fn silence_state(silence: &Silence, now: DateTime<Utc>) -> &'static str {
    if silence.expired_at.is_some() || silence.ends_at <= now {
        "expired"
    } else if silence.starts_at > now {
        "pending"
    } else {
        "active"
    }
}

/// A silence as JSON, with its `state` at `now`.
pub(crate) fn silence_json(silence: &Silence, now: DateTime<Utc>) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_short_and_printable() {
        assert!(check_user("ops").is_ok());
        assert!(check_user(" ").is_err());
        assert!(check_user("a\nb").is_err());
        assert!(check_user(&"x".repeat(65)).is_err());
    }
}
