//! `/trades/*`: fills, open and closed trades, statistics, daily P&L, the P&L calendar and the
//! cash flows (fees, income, deposits, withdrawals), computed with `exporter-trading` from the
//! fills, non-trade activities and equity history in the store (lots matched by
//! `trading.cost_basis`, fees naming an order charged to its trade). The trades live in one
//! [`LiveLedger`] per API process: built from every fill at first use, then advanced with only
//! the fills stored or corrected since (late ones too), so a request right after a new fill
//! costs what that fill changed, not the account's history (docs/trading.md). Days, calendar
//! cells and fills are marked with the stored market calendar when it is known. Fills, trades
//! and daily P&L also come as CSV ([`crate::routes::csv`]).
//!
//! Split by responsibility: this module keeps the shared part (the ledger, the calendar marks,
//! day filters); [`list`] answers the lists (open trades, trade history, fills) and
//! [`pnl`] the figures over time (statistics, daily P&L, the calendar, cash flows).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use exporter_protocol::brokerage::{FillRecord, ORDERS_KIND, OpenOrder, OpenOrders};
use exporter_store::LiveLedger;
use exporter_trading::{
    CalendarDay, CashFlow, DailyPnl, MarketCalendar, MarketDayKind, MonthCalendar, MonthSummary,
    Session, Statistics, Trade, TradeStatus, cents, month_calendar, statistics, trading_day,
    year_calendar,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};
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

/// The account's ledger: `None` until the first request that needs it builds it.
pub type TradesCache = Arc<Mutex<Option<LiveLedger>>>;

/// The account's ledger, up to date with the store: built from every fill at first use, then
/// advanced with the fills and activities changed since the last request. Held locked while the
/// answer is computed from it (cheap: the ledger keeps its sums).
pub(crate) async fn ledger(state: &AppState) -> Result<MappedMutexGuard<'_, LiveLedger>, ApiError> {
    let mut guard = state.trades.lock().await;
    match guard.as_mut() {
        Some(live) => {
            live.refresh(&state.store).await?;
        }
        None => {
            let live = LiveLedger::load(&state.store, state.cost_basis, state.timezone).await?;
            *guard = Some(live);
        }
    }
    MutexGuard::try_map(guard, Option::as_mut)
        .map_err(|_| ApiError::Internal("the trading ledger is missing".into()))
}

/// Today's realised P&L (trading time zone), from the ledger when it is built and free: a
/// Prometheus scrape never waits for the first build (it starts one in the background) nor for
/// a request holding the ledger. `None` then.
pub(crate) async fn realised_pnl_today(state: &AppState) -> Option<Decimal> {
    let Ok(mut guard) = state.trades.try_lock() else {
        return None;
    };
    let Some(live) = guard.as_mut() else {
        drop(guard);
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(err) = ledger(&state).await {
                tracing::warn!(error = %err, "building the trading ledger for /metrics failed");
            }
        });
        return None;
    };
    if let Err(err) = live.refresh(&state.store).await {
        tracing::warn!(error = %err, "the trading ledger could not be brought up to date");
    }
    let today = trading_day(Utc::now(), state.timezone);
    Some(live.ledger().realised_pnl_on(today))
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
