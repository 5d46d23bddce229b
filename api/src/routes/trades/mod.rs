//! `/trades/*`: fills, open and closed trades, statistics, daily P&L, the P&L calendar and the
//! cash flows (fees, income, deposits, withdrawals), computed with `exporter-trading` from the
//! fills, non-trade activities and equity history in the store (lots matched by
//! `trading.cost_basis`, fees naming an order charged to its trade). Trades are rebuilt only
//! when the fills or activities changed (counts and timestamps tell), so repeated requests are
//! cheap. Days, calendar cells and fills are marked with the stored market calendar when it is
//! known. Fills, trades and daily P&L also come as CSV ([`crate::routes::csv`]).
//!
//! Split by responsibility: this module keeps the shared part (the trades cache, the calendar
//! marks, day filters); [`list`] answers the lists (open trades, trade history, fills) and
//! [`pnl`] the figures over time (statistics, daily P&L, the calendar, cash flows).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use exporter_protocol::brokerage::{FillRecord, ORDERS_KIND, OpenOrder, OpenOrders};
use exporter_store::FillsVersion;
use exporter_trading::{
    CalendarDay, CashFlow, DailyPnl, MarketCalendar, MarketDayKind, MonthCalendar, MonthSummary,
    Session, Statistics, Trade, TradeStatus, cents, daily_pnl, daily_pnl_with_cash, month_calendar,
    statistics, trading_day, year_calendar,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use utoipa::{IntoParams, ToSchema};

use crate::error::Problem;
use crate::extract::{AppQuery, NoParams, de};
use crate::routes::csv::{self, Format, FormatParam};
use crate::routes::metrics::latest_typed;
use crate::{ApiError, AppState};

mod list;
mod pnl;

pub use list::*;
pub use pnl::*;

/// The trades and cash flows of the current fill and activity tables, and which version of
/// them they were built from.
pub type TradesCache = Arc<Mutex<Option<(FillsVersion, Arc<Vec<Trade>>, Arc<Vec<CashFlow>>)>>>;

/// Every trade (with the fees naming their orders) and every cash flow, rebuilt when the fills
/// or the activities changed.
async fn account(state: &AppState) -> Result<(Arc<Vec<Trade>>, Arc<Vec<CashFlow>>), ApiError> {
    let version = state.store.fills_version().await?;
    let mut cache = state.trades.lock().await;
    if let Some((built_from, trades, flows)) = cache.as_ref()
        && *built_from == version
    {
        return Ok((trades.clone(), flows.clone()));
    }
    let fills = state.store.fills().await?;
    let activities = state.store.cash_activities().await?;
    let (method, tz) = (state.cost_basis, state.timezone);
    let (trades, flows) = tokio::task::spawn_blocking(move || {
        exporter_trading::account_from_records(fills, &activities, method, tz)
    })
    .await
    .map_err(|err| ApiError::Internal(format!("building trades failed: {err}")))?;
    let (trades, flows) = (Arc::new(trades), Arc::new(flows));
    *cache = Some((version, trades.clone(), flows.clone()));
    Ok((trades, flows))
}

/// Every trade, rebuilt when the fills or activities changed.
pub(crate) async fn trades(state: &AppState) -> Result<Arc<Vec<Trade>>, ApiError> {
    Ok(account(state).await?.0)
}

/// The stored market calendar (`None` while unknown: no broker keys, or not fetched yet).
pub(crate) async fn market_calendar(state: &AppState) -> Option<MarketCalendar> {
    match state.store.market_calendar().await {
        Ok(Some(message)) => MarketCalendar::from_message(&message)
            .map_err(
                |err| tracing::warn!(error = %err, "the stored market calendar cannot be used"),
            )
            .ok(),
        Ok(None) => None,
        Err(err) => {
            tracing::warn!(error = %err, "the market calendar could not be read; days are not marked");
            None
        }
    }
}

/// The dates of `[first, last]` the calendar marks `kind`.
fn dates_of_kind(
    market: Option<&MarketCalendar>,
    first: NaiveDate,
    last: NaiveDate,
    kind: MarketDayKind,
) -> Vec<NaiveDate> {
    let Some(market) = market else {
        return Vec::new();
    };
    first
        .iter_days()
        .take_while(|d| *d <= last)
        .filter(|d| market.day_kind(*d) == Some(kind))
        .collect()
}

/// The name of a market-day kind or a session as in JSON (`early_close`, `after_hours`).
fn snake_name(value: impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// Equity history in the trading crate's terms.
async fn equity(state: &AppState) -> Result<Vec<exporter_trading::EquityPoint>, ApiError> {
    Ok(state
        .store
        .equity_points()
        .await?
        .into_iter()
        .map(|p| exporter_trading::EquityPoint {
            time: p.time,
            equity: p.equity,
        })
        .collect())
}

fn closed_day(state: &AppState, trade: &Trade) -> Option<NaiveDate> {
    trade.closed_at.map(|t| trading_day(t, state.timezone))
}

/// Whether `day` is within `start..=end` (a start after the end is an empty range).
fn within(day: Option<NaiveDate>, start: Option<NaiveDate>, end: Option<NaiveDate>) -> bool {
    day.is_some_and(|d| start.is_none_or(|s| d >= s) && end.is_none_or(|e| d <= e))
}
