//! `/session`: the dashboard's sign-in (`POST`: the key once, for a session cookie), who the
//! session is (`GET`), and sign-out (`DELETE`: the session ends on the server and the cookie is
//! cleared). What a session is and how it ends: [`crate::session`].

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{self, Caller};
use crate::error::Problem;
use crate::extract::{AppQuery, NoParams, parse_json};
use crate::{ApiError, AppState, session};

/// Longest key accepted in a sign-in body (generated keys are 43 characters).
const MAX_KEY_CHARS: usize = 1024;
/// Largest sign-in body read.
const MAX_BODY_BYTES: usize = 4096;

/// `POST /session` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The API key (`exporter key show`, or one of `exporter key create`): sent once, never
    /// stored in the browser.
    #[schema(min_length = 1, max_length = 1024)]
    pub key: String,
}

/// The scope of a session: its key's.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Reads everything; cannot acknowledge or silence.
    Read,
    /// Everything.
    Admin,
}

impl From<exporter_settings::KeyScope> for Scope {
    fn from(scope: exporter_settings::KeyScope) -> Self {
        match scope {
            exporter_settings::KeyScope::Read => Self::Read,
            exporter_settings::KeyScope::Admin => Self::Admin,
        }
    }
}

/// Who a session (or key) is.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"name": "main", "scope": "admin", "expires_at": "2026-12-02T02:37:10Z"}))]
pub struct SessionView {
    /// The key's name (`main`, or the name given to `exporter key create`).
    pub name: String,
    pub scope: Scope,
    /// When the session ends (at the latest: sooner if its key is revoked). Asked with a key
    /// instead of the cookie, the key's own expiry, `null` for a key that never expires.
    pub expires_at: Option<DateTime<Utc>>,
}

impl SessionView {
    fn new(caller: Caller, expires_at: Option<DateTime<Utc>>) -> Self {
        Self {
            name: caller.name,
            scope: caller.scope.into(),
            expires_at,
        }
    }
}

#[utoipa::path(
    post, path = "/session", operation_id = "sign_in", tag = "session",
    security(()),
    params(NoParams),
    request_body = SignIn,
    responses(
        (status = 200, description = "Signed in: the session cookie `exporter_session` is set (HttpOnly, SameSite=Strict, Secure over HTTPS, Max-Age `api.session_ttl_seconds`)", body = SessionView,
            headers(("set-cookie" = String, description = "exporter_session=<token>; HttpOnly; SameSite=Strict; Path=/; Max-Age=<seconds>[; Secure]"))),
        (status = 400, description = "The body is not JSON, or a query parameter was given", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong API key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A browser's cross-origin sign-in (Origin or Sec-Fetch-Site not this API's own)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`key` is missing, empty or too long; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`api.session_max` sessions are open already (Retry-After)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn sign_in(
    State(state): State<AppState>,
    AppQuery(NoParams {}): AppQuery<NoParams>,
    request: Request,
) -> Result<Response, ApiError> {
    crate::same_origin::require_if_told(&request)?;
    let https = crate::serve::is_https(&request);
    let address = crate::serve::client_address(&request);
    let previous = session::token_of(request.headers()).map(str::to_owned);
    let body = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::bad(
                "(body)",
                format!("the body must be JSON of at most {MAX_BODY_BYTES} bytes"),
            )
        })?;
    let SignIn { key } = parse_json(&body)?;
    if key.is_empty() {
        return Err(ApiError::invalid("key", "must not be empty"));
    }
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(ApiError::invalid(
            "key",
            format!("at most {MAX_KEY_CHARS} characters"),
        ));
    }
    let now = Utc::now();
    let key_hash = auth::hash(&key);
    let Some(accepted) = state.keys.accepted(&key_hash, now) else {
        return Err(auth::refuse(&state, &address));
    };
    if let Some(previous) = previous {
        state.sessions.close(&previous);
    }
    let opened = state
        .sessions
        .open(key_hash, accepted.expires_at, now)
        .map_err(|err| ApiError::Unavailable {
            detail: err.to_string(),
            retry_after_seconds: 60,
        })?;
    tracing::info!(caller = %accepted.caller.name, client_address = %address, expires_at = %opened.expires_at, "dashboard sign-in");
    let max_age = (opened.expires_at - now).to_std().unwrap_or_default();
    let cookie = session::set_cookie(&opened.token, max_age, https);
    let mut response =
        Json(SessionView::new(accepted.caller, Some(opened.expires_at))).into_response();
    set_cookie(&mut response, &cookie)?;
    Ok(response)
}

fn set_cookie(response: &mut Response, cookie: &str) -> Result<(), ApiError> {
    let value = HeaderValue::from_str(cookie)
        .map_err(|err| ApiError::Internal(format!("session cookie: {err}")))?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(())
}

#[utoipa::path(
    get, path = "/session", operation_id = "current_session", tag = "session",
    params(NoParams),
    responses(
        (status = 200, description = "The session of this cookie (or the key sent)", body = SessionView),
        (status = 400, description = "A parameter was given; this route takes none", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No session (signed out, expired, or its key was revoked) and no valid key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn current(
    State(state): State<AppState>,
    AppQuery(NoParams {}): AppQuery<NoParams>,
    request: Request,
) -> Result<Json<SessionView>, ApiError> {
    let now = Utc::now();
    let found = if let Some(key) = auth::presented_key(request.headers()) {
        state
            .keys
            .accepted(&auth::hash(key), now)
            .map(|accepted| (accepted.caller, accepted.expires_at))
    } else if let Some(token) = session::token_of(request.headers()) {
        state
            .sessions
            .caller(token, &state.keys, now)
            .map(|(caller, expires_at)| (caller, Some(expires_at)))
    } else {
        None
    };
    match found {
        Some((caller, expires_at)) => Ok(Json(SessionView::new(caller, expires_at))),
        None => Err(auth::refuse(
            &state,
            &crate::serve::client_address(&request),
        )),
    }
}

#[utoipa::path(
    delete, path = "/session", operation_id = "sign_out", tag = "session",
    security(()),
    params(NoParams),
    responses(
        (status = 204, description = "Signed out: the session (if any) ended on the server, and the cookie is cleared (Max-Age=0)",
            headers(("set-cookie" = String, description = "exporter_session=; ...; Max-Age=0"))),
        (status = 400, description = "A parameter was given; this route takes none", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A cross-origin request with the session cookie", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn sign_out(
    State(state): State<AppState>,
    AppQuery(NoParams {}): AppQuery<NoParams>,
    request: Request,
) -> Result<Response, ApiError> {
    if let Some(token) = session::token_of(request.headers()) {
        crate::same_origin::require(&request)?;
        if state.sessions.close(token) {
            tracing::info!(
                client_address = %crate::serve::client_address(&request),
                "dashboard sign-out"
            );
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    set_cookie(
        &mut response,
        &session::clear_cookie(crate::serve::is_https(&request)),
    )?;
    Ok(response)
}
