//! `GET /metrics/portfolio`: the account and its positions, from the latest snapshot the
//! portfolio collector stored (never from the broker at request time).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use exporter_protocol::brokerage::{PORTFOLIO_KIND, PortfolioSnapshot, PositionSnapshot};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::metrics::latest_typed;
use crate::extract::AppQuery;
use crate::{ApiError, AppState};

/// The portfolio. Money is in the account currency, as decimal strings.
#[derive(Debug, Serialize, ToSchema)]
pub struct Portfolio {
    pub host: String,
    pub snapshot_time: DateTime<Utc>,
    pub age_seconds: f64,
    pub currency: String,
    pub account_status: String,
    /// Cash balance.
    pub balance: Decimal,
    pub equity: Decimal,
    pub buying_power: Decimal,
    pub portfolio_value: Decimal,
    pub long_market_value: Decimal,
    pub short_market_value: Decimal,
    /// Equity − equity at the previous close.
    pub day_change: Decimal,
    /// `day_change` / previous close equity × 100; null when that equity is 0.
    pub day_change_percent: Option<Decimal>,
    pub positions: Vec<PositionSnapshot>,
}

#[utoipa::path(
    get,
    path = "/metrics/portfolio", operation_id = "portfolio",
    tag = "trading",
    params(super::metrics::HostParam),
    responses(
        (status = 200, body = Portfolio),
        (status = 400, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No snapshot yet (is the portfolio collector running with Alpaca keys?)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn portfolio(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<super::metrics::HostParam>,
) -> Result<Json<Portfolio>, ApiError> {
    let snapshots = latest_typed::<PortfolioSnapshot>(&state, params.host, PORTFOLIO_KIND).await?;
    let latest = snapshots
        .into_iter()
        .max_by_key(|s| s.time)
        .ok_or_else(|| {
            ApiError::NotFound(
                "no portfolio snapshot yet: is the portfolio collector running with Alpaca keys?"
                    .into(),
            )
        })?;
    let account = latest.sample.account;
    let day_change = account.equity - account.last_equity;
    Ok(Json(Portfolio {
        host: latest.host,
        snapshot_time: latest.time,
        age_seconds: latest.age_seconds,
        currency: account.currency,
        account_status: account.status,
        balance: account.cash,
        equity: account.equity,
        buying_power: account.buying_power,
        portfolio_value: account.portfolio_value.unwrap_or(account.equity),
        long_market_value: account.long_market_value,
        short_market_value: account.short_market_value,
        day_change,
        day_change_percent: (account.last_equity != Decimal::ZERO)
            .then(|| (day_change / account.last_equity * Decimal::ONE_HUNDRED).round_dp(4)),
        positions: latest.sample.positions,
    }))
}
