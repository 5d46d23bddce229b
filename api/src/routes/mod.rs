//! One module per resource; [`router`] merges them and puts every route but `/health` behind
//! the API key.

pub mod alerts;
pub mod csv;
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
use axum::routing::{delete, get, post};

use crate::{AppState, auth, openapi};

/// Every route.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .route("/metrics", get(prometheus::exposition))
        .route("/metrics/system", get(metrics::system))
        .route("/metrics/hardware", get(hardware::hardware))
        .route("/metrics/all", get(metrics::all))
        .route("/metrics/portfolio", get(portfolio::portfolio))
        .route("/market/chart/{symbol}", get(market::chart))
        .route("/market/quote/{symbol}", get(market::quote))
        .route("/trades/active", get(trades::active))
        .route("/trades/fills", get(trades::fills))
        .route("/trades/history", get(trades::history))
        .route("/trades/statistics", get(trades::stats))
        .route("/trades/daily-pnl", get(trades::daily))
        .route("/trades/pnl-calendar", get(trades::calendar))
        .route("/trades/cash-flows", get(trades::cash_flows))
        .route("/metrics/history", get(metrics::history))
        .route("/logs", get(logs::logs))
        .route("/alerts", get(alerts::alerts))
        .route("/alerts/deliveries", get(alerts::deliveries))
        .route("/alerts/stream", get(stream::alerts))
        .route("/alerts/{alert_id}", get(alerts::alert))
        .route("/alerts/{alert_id}/acknowledge", post(alerts::acknowledge))
        .route(
            "/silences",
            get(silences::silences).post(silences::create_silence),
        )
        .route("/silences/{id}", delete(silences::delete_silence))
        .route("/openapi.json", get(openapi::document))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ));
    Router::new()
        .route("/health", get(health::health))
        .merge(protected)
        .fallback(|| async { crate::ApiError::NotFound("no such route; see /openapi.json".into()) })
        .with_state(state)
}
