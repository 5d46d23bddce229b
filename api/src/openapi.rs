//! The OpenAPI 3.1 document, served at `/openapi.json`. Its paths come from the route list
//! itself ([`crate::routes::documented`]: `utoipa-axum`'s `OpenApiRouter` with `routes!()`), so
//! a route cannot exist without its documentation; this module adds what no handler says: the
//! title, the tags, the security schemes (`X-API-Key`, `Authorization: Bearer`, or the
//! dashboard's session cookie; required on every route but the public ones), and the limits
//! that come from the settings.
//!
//! Genuinely free-form payloads are few and all are listed here, documented as objects:
//! - `GET /metrics/all`: each source's sample as that source sent it (the typed routes
//!   `/metrics/system`, `/metrics/hardware`, `/metrics/portfolio` describe the main ones);
//! - `GET /logs`: a line's `fields` (whatever the logger wrote);
//! - `GET /openapi.json`: this document.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::{Modify, OpenApi};

use crate::AppState;
use crate::error::Problem;
use crate::extract::{AppQuery, NoParams};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "GH200 Trading System Exporter",
        description = "Host, GPU, brokerage, trading, log and alert data of one GH200 trading server. Every route but /health, the docs, the dashboard page and sign-in needs the API key, in the X-API-Key header or as `Authorization: Bearer <key>` (as Prometheus sends it), or the dashboard's session cookie from POST /session (a state-changing request with the cookie must come from this API's own origin). Errors are application/problem+json (RFC 9457) and name the parameter or field at fault in `parameter`."
    ),
    components(schemas(Problem, crate::extract::ListItem)),
    modifiers(&ApiKeyScheme),
    security(("api_key" = []), ("bearer" = []), ("session" = [])),
    tags(
        (name = "health", description = "Liveness of the exporter and its dependencies"),
        (name = "metrics", description = "Latest samples and history of every numeric series"),
        (name = "market", description = "Charts with indicators and quotes (Yahoo Finance through the market collector)"),
        (name = "trading", description = "Portfolio, trades, statistics and P&L, from the store"),
        (name = "logs", description = "Log lines of the trading system and the exporter, filtered and paged"),
        (name = "alerts", description = "Alerts, their acknowledgement, the delivery log and silences"),
        (name = "session", description = "The dashboard's sign-in: the key once, for a session cookie"),
        (name = "dashboard", description = "The dashboard page (its files are under /ui/)"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "The API key (`exporter key show`); admin-scope keys may also change state",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The same API key as `Authorization: Bearer <key>` (Prometheus' `authorization` scrape option)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::session::COOKIE,
                "The dashboard's session (POST /session): same scope as its key; POST, PUT, PATCH and DELETE with it must be same-origin (Sec-Fetch-Site or Origin)",
            ))),
        );
    }
}

/// The document's frame, before the routes add their paths.
pub fn base() -> Document {
    ApiDoc::openapi()
}

/// Adds what every operation may answer: a 503 when PostgreSQL does not answer or the request
/// outlives `api.request_timeout_seconds` (the routes that give a 503 of their own describe it
/// themselves; `/health` answers its own body), and on every route that needs a key the 429 of
/// failed-authentication throttling.
pub fn complete(document: &mut Document) {
    use utoipa::openapi::{ContentBuilder, ResponseBuilder};
    let unavailable = ResponseBuilder::new()
        .description(
            "PostgreSQL did not answer, or the request took longer than `api.request_timeout_seconds`; retry later (Retry-After)",
        )
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                .build(),
        )
        .build();
    let throttled = ResponseBuilder::new()
        .description(
            "Too many failed authentications from this client address (`api.auth_failure_limit` within `api.auth_failure_window_seconds`); retry after `Retry-After` seconds. A valid key is never throttled",
        )
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                .build(),
        )
        .build();
    for (path, item) in document.paths.paths.iter_mut() {
        if path.starts_with("/docs") || path == "/" {
            continue;
        }
        for operation in [
            &mut item.get,
            &mut item.post,
            &mut item.delete,
            &mut item.put,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            operation
                .responses
                .responses
                .entry("503".to_owned())
                .or_insert_with(|| RefOr::T(unavailable.clone()));
            // Every route that needs a key may throttle the failed attempts of an address.
            if operation.responses.responses.contains_key("401") {
                operation
                    .responses
                    .responses
                    .entry("429".to_owned())
                    .or_insert_with(|| RefOr::T(throttled.clone()));
            }
        }
    }
}

/// Adds what depends on the settings: the upper bound of `max_points` of `/metrics/history`.
pub fn finish(mut document: Document, state: &AppState) -> Document {
    complete(&mut document);
    if let Some(item) = document.paths.paths.get_mut("/metrics/history")
        && let Some(operation) = item.get.as_mut()
    {
        for parameter in operation.parameters.iter_mut().flatten() {
            if parameter.name == "max_points"
                && let Some(RefOr::T(utoipa::openapi::schema::Schema::Object(object))) =
                    parameter.schema.as_mut()
            {
                object.maximum = Some(utoipa::Number::from(state.history_max_points));
            }
        }
    }
    document
}

#[utoipa::path(
    get,
    path = "/openapi.json", operation_id = "openapi_document",
    tag = "meta",
    params(NoParams),
    responses(
        (status = 200, description = "This OpenAPI document (free-form here: it is the OpenAPI 3.1 schema's own document)", body = Object, content_type = "application/json"),
        (status = 400, description = "A parameter was given; this route takes none", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn document(
    State(state): State<AppState>,
    AppQuery(NoParams {}): AppQuery<NoParams>,
) -> Response {
    let json = match state.document.get() {
        Some(json) => json.clone(),
        None => base().to_json().unwrap_or_default(),
    };
    ([(header::CONTENT_TYPE, "application/json")], json).into_response()
}
