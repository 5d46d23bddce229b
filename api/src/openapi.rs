//! The OpenAPI 3.1 document, generated from the handlers' annotations; served at
//! `/openapi.json`. Every route must be listed here.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    alerts, hardware, health, logs, market, metrics, portfolio, prometheus, silences, stream,
    trades,
};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "GH200 Trading System Exporter",
        description = "Host, GPU, brokerage, trading, log and alert data of one GH200 trading server. Every route but /health needs the API key, in the X-API-Key header or as `Authorization: Bearer <key>` (as Prometheus sends it). Errors are application/problem+json."
    ),
    paths(
        health::health,
        prometheus::exposition,
        metrics::system,
        hardware::hardware,
        metrics::all,
        metrics::history,
        portfolio::portfolio,
        trades::active,
        trades::fills,
        trades::history,
        trades::stats,
        trades::daily,
        trades::calendar,
        trades::cash_flows,
        market::chart,
        market::quote,
        logs::logs,
        alerts::alerts,
        alerts::deliveries,
        stream::alerts,
        alerts::alert,
        alerts::acknowledge,
        silences::silences,
        silences::create_silence,
        silences::delete_silence,
        document
    ),
    components(schemas(
        crate::error::Problem,
        silences::SilenceRequest,
        silences::MatcherRequest
    )),
    modifiers(&ApiKeyScheme),
    tags(
        (name = "health", description = "Liveness of the exporter and its dependencies"),
        (name = "metrics", description = "Latest samples and history of every numeric series"),
        (name = "market", description = "Charts with indicators and quotes (Yahoo Finance through the market collector)"),
        (name = "trading", description = "Portfolio, trades, statistics and P&L, from the store"),
        (name = "logs", description = "Log lines of the trading system and the exporter, filtered and paged"),
        (name = "alerts", description = "Alerts, their acknowledgement, the delivery log and silences"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
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
    }
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    security(("api_key" = [])),
    responses((status = 200, description = "This OpenAPI document", content_type = "application/json"))
)]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
