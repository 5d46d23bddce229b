//! `/silences`: creating, listing and deleting silences. A silence holds back the delivery of
//! the alerts its matchers select until it ends; deleting one sets its `expired_at` so the
//! record of who silenced what stays. Written by the API itself (admin-scope keys only); the
//! aggregator re-reads silences on every evaluation.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use exporter_protocol::alert::{Matcher, Silence};
use exporter_store::alert_query::SilenceExpiry;
use exporter_store::alert_query::SilenceSet;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::alerts::{AdminCaller, MAX_OFFSET, MAX_USER_CHARS, check_user, parse_id, silence_json};
use crate::auth::Caller;
use crate::params::Params;
use crate::{ApiError, AppState};

/// Longest a silence may last from now.
pub const MAX_SILENCE_DAYS: i64 = 90;
/// Most matchers one silence may have.
pub const MAX_MATCHERS: usize = 64;
/// Longest silence comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 1024;
/// Longest matcher value (a regex is compiled for every alert it is checked against).
pub const MAX_MATCHER_VALUE_CHARS: usize = 1024;

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
    use crate::routes::alerts::silence_state;
    use exporter_settings::KeyScope;

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
}
