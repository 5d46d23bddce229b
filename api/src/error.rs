//! The API's one error type. Every error is `application/problem+json` (RFC 9457) with type,
//! title, status, detail and, for bad input, the offending parameter. Internal details are
//! logged, never sent.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid parameter `{parameter}`: {detail}")]
    BadParameter { parameter: String, detail: String },
    #[error("missing or invalid API key")]
    Unauthorized,
    #[error("not found: {0}")]
    NotFound(String),
    #[error("store unavailable: {0}")]
    Store(#[from] exporter_store::StoreError),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    /// A well-formed request body whose field `field` is not acceptable (422 naming it).
    #[error("invalid field `{field}`: {detail}")]
    InvalidField { field: String, detail: String },
    /// The key is valid but its scope does not allow this route.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The route exists, but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request contradicts the resource's state (acknowledging a resolved alert).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Too many failed authentications from this client address: retry after the wait.
    #[error("too many failed authentications")]
    Throttled { retry_after_seconds: u64 },
    /// A dependency (the market collector, Yahoo) cannot answer now; retry later.
    #[error("unavailable: {detail}")]
    Unavailable {
        detail: String,
        retry_after_seconds: u64,
    },
}

impl ApiError {
    /// A 400 naming `parameter`.
    pub fn bad(parameter: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::BadParameter {
            parameter: parameter.into(),
            detail: detail.into(),
        }
    }

    /// A 422 naming the body field `field` (e.g. `matchers[0].value`).
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

/// The problem+json body (RFC 9457) of every error.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/bad-parameter",
    "title": "Bad parameter",
    "status": 400,
    "detail": "parameter `limit`: 0 is out of range 1..=1000",
    "parameter": "limit"
}))]
pub struct Problem {
    /// A URI reference naming the problem kind.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The query or path parameter at fault (400s), or the body field at fault (422s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            Self::Unavailable {
                retry_after_seconds,
                ..
            }
            | Self::Throttled {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            _ => None,
        };
        let (status, kind, title, detail, parameter) = match self {
            Self::BadParameter { parameter, detail } => (
                StatusCode::BAD_REQUEST,
                "/problems/bad-parameter",
                "Bad parameter",
                format!("parameter `{parameter}`: {detail}"),
                Some(parameter),
            ),
            Self::Throttled {
                retry_after_seconds,
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                "/problems/too-many-failed-authentications",
                "Too many failed authentications",
                format!(
                    "too many requests without a valid key from this address; retry in {retry_after_seconds} s"
                ),
                None,
            ),
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "/problems/unauthorized",
                "Unauthorized",
                "missing or invalid API key (X-API-Key or Authorization: Bearer)".to_owned(),
                None,
            ),
            Self::NotFound(detail) => (
                StatusCode::NOT_FOUND,
                "/problems/not-found",
                "Not found",
                detail,
                None,
            ),
            Self::Unprocessable(detail) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "/problems/unprocessable",
                "Unprocessable request",
                detail,
                None,
            ),
            Self::InvalidField { field, detail } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "/problems/invalid-field",
                "Invalid field",
                format!("field `{field}`: {detail}"),
                Some(field),
            ),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "/problems/method-not-allowed",
                "Method not allowed",
                "this route does not take this method; see /openapi.json".to_owned(),
                None,
            ),
            Self::Forbidden(detail) => (
                StatusCode::FORBIDDEN,
                "/problems/forbidden",
                "Forbidden",
                detail,
                None,
            ),
            Self::Conflict(detail) => (
                StatusCode::CONFLICT,
                "/problems/conflict",
                "Conflict",
                detail,
                None,
            ),
            Self::Unavailable {
                detail,
                retry_after_seconds,
            } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "/problems/unavailable",
                "Temporarily unavailable",
                format!("{detail}; retry in {retry_after_seconds} s"),
                None,
            ),
            Self::Internal(detail) => {
                tracing::error!(%detail, "internal error while serving a request");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "/problems/internal",
                    "Internal error",
                    "the request failed inside the API; see its log".to_owned(),
                    None,
                )
            }
            Self::Store(err) => {
                tracing::error!(error = %err, "store error while serving a request");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "/problems/store-unavailable",
                    "Store unavailable",
                    "the database could not answer; see the API's log".to_owned(),
                    None,
                )
            }
        };
        let body = Problem {
            kind,
            title,
            status: status.as_u16(),
            detail,
            parameter,
        };
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            Json(body),
        )
            .into_response();
        if let Some(seconds) = retry_after
            && let Ok(value) = header::HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
