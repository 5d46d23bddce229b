//! `/alerts`: the alerts the aggregator raised (filtered, newest first, each saying whether an
//! active silence covers it), one alert with its transitions, acknowledging an alert, and the
//! delivery log. Silences are in [`super::silences`].
//!
//! Acknowledgements and silences are user intent: the API writes them to PostgreSQL itself
//! (admin-scope keys only) and announces acknowledgements on NATS; the aggregator, the only
//! writer of alert state, re-reads both on every evaluation.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use exporter_protocol::Subjects;
use exporter_protocol::alert::{Alert, AlertEvent, AlertEventKind, AlertState, Severity, Silence};
use exporter_settings::KeyScope;
use exporter_store::alert_query::{Acknowledgement, AlertQuery, AlertTransition};
use exporter_store::delivery::DeliveryRecord;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::Problem;
use crate::extract::NoParams;
use crate::extract::{AppPath, AppQuery, de};
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

/// An alert, with whether an active silence covers its labels now.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertView {
    #[serde(flatten)]
    pub alert: Alert,
    /// An active silence matches its labels now.
    pub silenced: bool,
}

impl AlertView {
    fn new(alert: Alert, silences: &[Silence], now: DateTime<Utc>) -> Self {
        let silenced = silences.iter().any(|s| s.silences(&alert.labels, now));
        Self { alert, silenced }
    }
}

/// Where a silence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Active,
    Pending,
    Expired,
}

/// Where a silence stands at `now`.
pub(crate) fn silence_state(silence: &Silence, now: DateTime<Utc>) -> SilenceState {
    if silence.expired_at.is_some() || silence.ends_at <= now {
        SilenceState::Expired
    } else if silence.starts_at > now {
        SilenceState::Pending
    } else {
        SilenceState::Active
    }
}

/// A silence, with its state now.
#[derive(Debug, Serialize, ToSchema)]
pub struct SilenceView {
    #[serde(flatten)]
    pub silence: Silence,
    pub state: SilenceState,
}

impl SilenceView {
    pub(crate) fn new(silence: Silence, now: DateTime<Utc>) -> Self {
        let state = silence_state(&silence, now);
        Self { silence, state }
    }
}

/// What happened to an alert, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct Transition {
    pub id: i64,
    pub time: DateTime<Utc>,
    /// pending, firing, resolved, inactive or acknowledged.
    pub kind: AlertEventKind,
    pub value: Option<f64>,
    /// Who did it, for acknowledgements.
    pub actor: Option<String>,
}

impl From<&AlertTransition> for Transition {
    fn from(transition: &AlertTransition) -> Self {
        Self {
            id: transition.id,
            time: transition.time,
            kind: match transition.kind.as_str() {
                "pending" => AlertEventKind::Pending,
                "firing" => AlertEventKind::Firing,
                "resolved" => AlertEventKind::Resolved,
                "inactive" => AlertEventKind::Inactive,
                _ => AlertEventKind::Acknowledged,
            },
            value: transition.value,
            actor: transition.actor.clone(),
        }
    }
}

/// Outcome of one delivery attempt.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Sent,
    Retrying,
    Failed,
}

/// One notification delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub time: DateTime<Utc>,
    pub receiver: String,
    pub group_key: String,
    pub alert_ids: Vec<Uuid>,
    pub status: DeliveryStatus,
    pub attempt: i32,
    pub http_status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

impl From<&DeliveryRecord> for Delivery {
    fn from(delivery: &DeliveryRecord) -> Self {
        use exporter_store::delivery::DeliveryStatus as Stored;
        Self {
            id: delivery.delivery_id,
            time: delivery.time,
            receiver: delivery.receiver.clone(),
            group_key: delivery.group_key.clone(),
            alert_ids: delivery.alert_ids.clone(),
            status: match delivery.status {
                Stored::Sent => DeliveryStatus::Sent,
                Stored::Retrying => DeliveryStatus::Retrying,
                Stored::Failed => DeliveryStatus::Failed,
            },
            attempt: delivery.attempt,
            http_status: delivery.http_status,
            error: delivery.error.clone(),
            duration_ms: delivery.duration_ms,
        }
    }
}

/// `GET /alerts` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertPage {
    /// Alerts matching the filters, in all.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    /// Newest first (by `started_at`).
    pub alerts: Vec<AlertView>,
}

/// `GET /alerts/{alert_id}` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDetail {
    #[serde(flatten)]
    pub alert: AlertView,
    /// Its transitions in order.
    pub transitions: Vec<Transition>,
    /// Its latest delivery attempts, newest first.
    pub deliveries: Vec<Delivery>,
}

/// `GET /alerts/deliveries` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub limit: i64,
    /// Newest first.
    pub deliveries: Vec<Delivery>,
}

/// Query of `GET /alerts`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertsParams {
    /// Severities, separated by commas.
    #[serde(default, deserialize_with = "de::names")]
    #[param(value_type = Option<Vec<Severity>>, style = Form, explode = false, min_items = 1, max_items = 100)]
    pub severity: Vec<Severity>,
    /// system, hardware, trading, market, logs, or a notification's category; several
    /// separated by commas.
    #[serde(default, deserialize_with = "de::text_list")]
    #[param(value_type = Option<Vec<crate::extract::ListItem>>, style = Form, explode = false, min_items = 1, max_items = 100)]
    pub category: Vec<String>,
    /// States, separated by commas.
    #[serde(default, deserialize_with = "de::names")]
    #[param(value_type = Option<Vec<AlertState>>, style = Form, explode = false, min_items = 1, max_items = 100)]
    pub state: Vec<AlertState>,
    /// true: only acknowledged alerts; false: only unacknowledged ones.
    #[serde(default, deserialize_with = "de::boolean")]
    pub acknowledged: Option<bool>,
    /// The `host` label.
    #[serde(default, deserialize_with = "de::text")]
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
    pub host: Option<String>,
    /// Page size, default 100.
    #[serde(default, deserialize_with = "de::ranged::<1, 1000, _>")]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Alerts to skip, default 0.
    #[serde(default, deserialize_with = "de::ranged::<0, 1_000_000, _>")]
    #[param(minimum = 0, maximum = 1_000_000)]
    pub offset: Option<i64>,
}

/// Query of `GET /alerts/deliveries`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LimitParams {
    /// Page size, default 100.
    #[serde(default, deserialize_with = "de::ranged::<1, 1000, _>")]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Query of `POST /alerts/{alert_id}/acknowledge`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AcknowledgeParams {
    /// Who acknowledges (1 to 64 characters, no control characters); default: the key's name.
    #[serde(default, deserialize_with = "de::text_max::<64, _>")]
    #[param(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub user: Option<String>,
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
    get, path = "/alerts", operation_id = "list_alerts", tag = "alerts",
    params(AlertsParams),
    responses(
        (status = 200, description = "Alerts newest first, each saying whether a silence covers it", body = AlertPage),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn alerts(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<AlertsParams>,
) -> Result<Json<AlertPage>, ApiError> {
    let limit = params.limit.unwrap_or(100);
    let offset = params.offset.unwrap_or(0);
    let query = AlertQuery {
        severities: params.severity,
        categories: params.category,
        states: params.state,
        acknowledged: params.acknowledged,
        host: params.host,
        limit,
        offset,
    };
    let now = Utc::now();
    let (page, silences) = tokio::try_join!(
        state.store.alerts(&query),
        state.store.current_silences(now)
    )?;
    let alerts = page
        .alerts
        .into_iter()
        .map(|alert| AlertView::new(alert, &silences, now))
        .collect();
    Ok(Json(AlertPage {
        total: page.total,
        limit,
        offset,
        alerts,
    }))
}

#[utoipa::path(
    get, path = "/alerts/{alert_id}", operation_id = "get_alert", tag = "alerts",
    params(("alert_id" = Uuid, Path, description = "the alert's id"), NoParams),
    responses(
        (status = 200, description = "The alert, its transitions and its latest deliveries", body = AlertDetail),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No alert has this id", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn alert(
    State(state): State<AppState>,
    AppPath(id): AppPath<Uuid>,
    AppQuery(NoParams {}): AppQuery<NoParams>,
) -> Result<Json<AlertDetail>, ApiError> {
    let now = Utc::now();
    let Some(alert) = state.store.alert(id).await? else {
        return Err(ApiError::NotFound(format!("no alert {id}")));
    };
    let (transitions, deliveries, silences) = tokio::try_join!(
        state.store.alert_transitions(id),
        state.store.deliveries_for_alert(id, ALERT_DELIVERIES),
        state.store.current_silences(now)
    )?;
    Ok(Json(AlertDetail {
        alert: AlertView::new(alert, &silences, now),
        transitions: transitions.iter().map(Transition::from).collect(),
        deliveries: deliveries.iter().map(Delivery::from).collect(),
    }))
}

#[utoipa::path(
    post, path = "/alerts/{alert_id}/acknowledge", operation_id = "acknowledge_alert", tag = "alerts",
    params(("alert_id" = Uuid, Path, description = "the alert's id"), AcknowledgeParams),
    responses(
        (status = 200, description = "The alert, acknowledged (`acknowledged_at`, `acknowledged_by`). Acknowledging again changes nothing and answers the same", body = AlertView),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key has the read scope only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No alert has this id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The alert is resolved or inactive and was never acknowledged", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn acknowledge(
    AdminCaller(caller): AdminCaller,
    State(state): State<AppState>,
    AppPath(id): AppPath<Uuid>,
    AppQuery(params): AppQuery<AcknowledgeParams>,
) -> Result<Json<AlertView>, ApiError> {
    let user = params.user.unwrap_or_else(|| caller.name.clone());
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
    Ok(Json(AlertView::new(alert, &silences, now)))
}

#[utoipa::path(
    get, path = "/alerts/deliveries", operation_id = "list_deliveries", tag = "alerts",
    params(LimitParams),
    responses(
        (status = 200, description = "The latest notification delivery attempts, newest first", body = DeliveryPage),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn deliveries(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<LimitParams>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let limit = params.limit.unwrap_or(100);
    let deliveries = state.store.recent_deliveries(limit).await?;
    Ok(Json(DeliveryPage {
        limit,
        deliveries: deliveries.iter().map(Delivery::from).collect(),
    }))
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
