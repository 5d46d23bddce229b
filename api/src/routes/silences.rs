//! `/silences`: creating, listing and deleting silences. A silence holds back the delivery of
//! the alerts its matchers select until it ends; deleting one sets its `expired_at` so the
//! record of who silenced what stays. Written by the API itself (admin-scope keys only); the
//! aggregator re-reads silences on every evaluation.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use exporter_protocol::alert::{Matcher, Silence};
use exporter_store::alert_query::SilenceExpiry;
use exporter_store::alert_query::SilenceSet;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::alerts::{AdminCaller, MAX_USER_CHARS, SilenceView, check_user};
use crate::auth::Caller;
use crate::error::Problem;
use crate::extract::{AppJson, AppPath, AppQuery, NoParams, de};
use crate::{ApiError, AppState};

/// Longest a silence may last from now.
pub const MAX_SILENCE_DAYS: i64 = 90;
/// Most matchers one silence may have.
pub const MAX_MATCHERS: usize = 64;
/// Longest silence comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 1024;
/// Longest matcher value (a regex is compiled for every alert it is checked against).
pub const MAX_MATCHER_VALUE_CHARS: usize = 1024;
/// Longest matcher label name.
pub const MAX_MATCHER_NAME_CHARS: usize = 128;

/// Which silences `GET /silences` lists.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SilenceStateFilter {
    /// Active now or starting later.
    #[default]
    Current,
    Active,
    Pending,
    /// Ended or deleted.
    Expired,
    All,
}

/// Query of `GET /silences`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SilencesParams {
    /// Which silences; default `current` (active and pending).
    #[serde(default)]
    #[param(inline)]
    pub state: Option<SilenceStateFilter>,
    /// Page size, default 100.
    #[serde(default, deserialize_with = "de::ranged::<1, 1000, _>")]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Silences to skip, default 0.
    #[serde(default, deserialize_with = "de::ranged::<0, 1_000_000, _>")]
    #[param(minimum = 0, maximum = 1_000_000)]
    pub offset: Option<i64>,
}

/// `GET /silences` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SilencePage {
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    /// Newest first.
    pub silences: Vec<SilenceView>,
}

#[utoipa::path(
    get, path = "/silences", operation_id = "list_silences", tag = "alerts",
    params(SilencesParams),
    responses(
        (status = 200, description = "Silences, newest first, each with its state now", body = SilencePage),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn silences(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<SilencesParams>,
) -> Result<Json<SilencePage>, ApiError> {
    let set = match params.state.unwrap_or_default() {
        SilenceStateFilter::Current => SilenceSet::Current,
        SilenceStateFilter::Active => SilenceSet::Active,
        SilenceStateFilter::Pending => SilenceSet::Pending,
        SilenceStateFilter::Expired => SilenceSet::Expired,
        SilenceStateFilter::All => SilenceSet::All,
    };
    let limit = params.limit.unwrap_or(100);
    let offset = params.offset.unwrap_or(0);
    let now = Utc::now();
    let page = state.store.silences(set, now, limit, offset).await?;
    Ok(Json(SilencePage {
        total: page.total,
        limit,
        offset,
        silences: page
            .silences
            .into_iter()
            .map(|s| SilenceView::new(s, now))
            .collect(),
    }))
}

/// One matcher of a new silence.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatcherRequest {
    /// Label name (`alertname`, `host`, `severity`, `gpu`, ...).
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
    /// The value it equals, or with `is_regex` the regex it fully matches.
    #[schema(max_length = 1024)]
    pub value: String,
    /// Default false.
    #[serde(default)]
    pub is_regex: Option<bool>,
    /// Default true; false negates the matcher.
    #[serde(default)]
    pub is_equal: Option<bool>,
}

/// Body of `POST /silences`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "matchers": [{"name": "alertname", "value": "GpuTemperatureHigh"}, {"name": "host", "value": "gh200-.*", "is_regex": true}],
    "duration": "2h",
    "comment": "GPU maintenance"
}))]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    /// Every one must hold. At least one must not match an empty label value.
    #[schema(min_items = 1, max_items = 64)]
    pub matchers: Vec<MatcherRequest>,
    /// Default now.
    #[serde(default, deserialize_with = "de::time")]
    pub starts_at: Option<DateTime<Utc>>,
    /// After `starts_at`, in the future, at most 90 days from now. Give this or `duration`.
    #[serde(default, deserialize_with = "de::time")]
    pub ends_at: Option<DateTime<Utc>>,
    /// Length from `starts_at`: `30m`, `2h`, `1h30m`, `7d` (at most 90 days). Give this or
    /// `ends_at`.
    #[serde(default)]
    #[schema(
        max_length = 64,
        pattern = "^([1-9][0-9]{0,6}|[1-9][0-9]{0,6}(ms|s|m|h|d)([0-9]{1,7}(ms|s|m|h|d))*)$"
    )]
    pub duration: Option<String>,
    /// Default: the API key's name.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub created_by: Option<String>,
    /// Why.
    #[schema(min_length = 1, max_length = 1024)]
    pub comment: String,
}

/// Refuses a text with a NUL or longer than `max_chars`.
fn check_text(field: &str, value: &str, max_chars: usize) -> Result<(), ApiError> {
    if value.contains('\0') {
        return Err(ApiError::invalid(field, "must not contain a NUL character"));
    }
    if value.chars().count() > max_chars {
        return Err(ApiError::invalid(
            field,
            format!("at most {max_chars} characters"),
        ));
    }
    Ok(())
}

/// Checks a `POST /silences` body into a new silence created at `now`.
fn silence_from_request(
    request: SilenceRequest,
    caller: &Caller,
    now: DateTime<Utc>,
) -> Result<Silence, ApiError> {
    if request.matchers.is_empty() {
        return Err(ApiError::invalid("matchers", "needs at least one matcher"));
    }
    if request.matchers.len() > MAX_MATCHERS {
        return Err(ApiError::invalid(
            "matchers",
            format!("at most {MAX_MATCHERS} matchers"),
        ));
    }
    let mut parsed = Vec::with_capacity(request.matchers.len());
    for (i, m) in request.matchers.into_iter().enumerate() {
        let path = |name: &str| format!("matchers[{i}].{name}");
        check_text(&path("name"), &m.name, MAX_MATCHER_NAME_CHARS)?;
        check_text(&path("value"), &m.value, MAX_MATCHER_VALUE_CHARS)?;
        let matcher = Matcher {
            name: m.name,
            value: m.value,
            is_regex: m.is_regex.unwrap_or(false),
            is_equal: m.is_equal.unwrap_or(true),
        };
        if matcher.name.trim().is_empty() {
            return Err(ApiError::invalid(path("name"), "must not be empty"));
        }
        matcher.validate().map_err(|err| {
            ApiError::invalid(path(if matcher.is_regex { "value" } else { "name" }), err)
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
    let starts_at = request.starts_at.unwrap_or(now);
    let (end_field, ends_at) = match (request.ends_at, request.duration) {
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
            check_text("duration", &duration, 64)?;
            let length = exporter_settings::duration::parse_duration(&duration)
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
    let created_by = request.created_by.unwrap_or_else(|| caller.name.clone());
    check_text("created_by", &created_by, MAX_USER_CHARS)?;
    check_user(&created_by).map_err(|err| ApiError::invalid("created_by", err))?;
    let comment = request.comment;
    check_text("comment", &comment, MAX_COMMENT_CHARS)?;
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
    post, path = "/silences", operation_id = "create_silence", tag = "alerts",
    params(NoParams),
    request_body = SilenceRequest,
    responses(
        (status = 201, description = "The silence created", body = SilenceView),
        (status = 400, description = "The body is not JSON, or a query parameter was given", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key has the read scope only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is not acceptable; `parameter` names it (`matchers[0].value`, `ends_at`, ...)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create_silence(
    AdminCaller(caller): AdminCaller,
    State(state): State<AppState>,
    AppQuery(NoParams {}): AppQuery<NoParams>,
    AppJson(request): AppJson<SilenceRequest>,
) -> Result<(StatusCode, Json<SilenceView>), ApiError> {
    let now = Utc::now();
    let silence = silence_from_request(request, &caller, now)?;
    state.store.insert_silence(&silence).await?;
    tracing::info!(silence_id = %silence.id, created_by = %silence.created_by, caller = %caller.name, ends_at = %silence.ends_at, "silence created");
    Ok((StatusCode::CREATED, Json(SilenceView::new(silence, now))))
}

#[utoipa::path(
    delete, path = "/silences/{id}", operation_id = "delete_silence", tag = "alerts",
    params(("id" = Uuid, Path, description = "the silence's id"), NoParams),
    responses(
        (status = 200, description = "The silence, expired now (or as it was, if it had already ended or been deleted)", body = SilenceView),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key has the read scope only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No silence has this id", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_silence(
    AdminCaller(caller): AdminCaller,
    State(state): State<AppState>,
    AppPath(id): AppPath<Uuid>,
    AppQuery(NoParams {}): AppQuery<NoParams>,
) -> Result<Json<SilenceView>, ApiError> {
    let now = Utc::now();
    let silence = match state.store.expire_silence(id, now).await? {
        SilenceExpiry::NotFound => return Err(ApiError::NotFound(format!("no silence {id}"))),
        SilenceExpiry::Already(silence) => silence,
        SilenceExpiry::Expired(silence) => {
            tracing::info!(silence_id = %id, caller = %caller.name, "silence expired");
            silence
        }
    };
    Ok(Json(SilenceView::new(silence, now)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::alerts::{SilenceState, silence_state};
    use exporter_settings::KeyScope;
    use serde_json::{Value, json};

    fn silence_from_body(
        body: &[u8],
        caller: &Caller,
        now: DateTime<Utc>,
    ) -> Result<Silence, ApiError> {
        let request = crate::extract::parse_json::<SilenceRequest>(body)?;
        silence_from_request(request, caller, now)
    }

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
        assert_eq!(silence_state(&silence, now), SilenceState::Active);
    }
}
