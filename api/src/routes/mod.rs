//! One module per resource; [`router`] merges them and puts every route but `/health` behind
//! the API key.

pub mod alerts;
pub mod csv;
pub mod docs;
pub mod hardware;
pub mod health;
pub mod logs;
pub mod market;
pub mod metrics;
pub mod portfolio;
pub mod prometheus;
pub mod silences;
pub mod stream;
pub mod trades;

use axum::Router;
use axum::middleware;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{AppState, auth, openapi};

/// Every route, and the OpenAPI document built from the same declarations: a route exists only
/// with its documentation. `/health` (and the docs page) need no key; every other route does.
pub fn router(state: AppState) -> Router {
    let (router, document) = documented(state.clone()).split_for_parts();
    let document = openapi::finish(document, &state);
    match document.to_json() {
        Ok(json) => {
            let _ = state.document.set(json);
        }
        Err(err) => tracing::error!(error = %err, "cannot encode the OpenAPI document"),
    }
    router.method_not_allowed_fallback(|| async { crate::ApiError::MethodNotAllowed })
}

/// The routes with their document (the document is also served, at `/openapi.json`).
pub fn documented(state: AppState) -> OpenApiRouter {
    let protected = OpenApiRouter::new()
        .routes(routes!(prometheus::exposition))
        .routes(routes!(metrics::system))
        .routes(routes!(hardware::hardware))
        .routes(routes!(metrics::all))
        .routes(routes!(portfolio::portfolio))
        .routes(routes!(market::chart))
        .routes(routes!(market::quote))
        .routes(routes!(trades::active))
        .routes(routes!(trades::fills))
        .routes(routes!(trades::history))
        .routes(routes!(trades::stats))
        .routes(routes!(trades::daily))
        .routes(routes!(trades::calendar))
        .routes(routes!(metrics::history))
        .routes(routes!(logs::logs))
        .routes(routes!(alerts::alerts))
        .routes(routes!(alerts::deliveries))
        .routes(routes!(stream::alerts))
        .routes(routes!(alerts::alert))
        .routes(routes!(alerts::acknowledge))
        .routes(routes!(silences::silences, silences::create_silence))
        .routes(routes!(silences::delete_silence))
        .routes(routes!(openapi::document))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(health::health))
        .routes(routes!(docs::page))
        .routes(routes!(docs::asset))
        .merge(protected)
        .fallback(|| async { crate::ApiError::NotFound("no such route; see /openapi.json".into()) })
        .with_state(state)
}
