//! `/trades/*`: fills, open and closed trades, statistics, daily P&L, the P&L calendar and the
//! cash flows (fees, income, deposits, withdrawals), computed with `exporter-trading` from the
//! fills, non-trade activities and equity history in the store (lots matched by
//! `trading.cost_basis`, fees naming an order charged to its trade). Trades are rebuilt only
//! when the fills or activities changed (counts and timestamps tell), so repeated requests are
//! cheap. Fills, trades and daily P&L also come as
//! CSV ([`super::csv`]).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate, Utc};
use exporter_protocol::brokerage::{FillRecord, ORDERS_KIND, OpenOrders};
use exporter_store::FillsVersion;
use exporter_trading::{
    CashFlow, DailyPnl, MarketCalendar, Trade, TradeStatus, cents, daily_pnl, daily_pnl_with_cash,
    month_calendar, statistics, trading_day, year_calendar,
};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::csv::{self, Format};
use super::metrics::latest_typed;
use crate::params::Params;
use crate::{ApiError, AppState};

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

/// A date's mark: `regular`, `early_close`, `holiday`, `weekend`, or null when unknown.
fn market_day(market: Option<&MarketCalendar>, date: NaiveDate) -> Value {
    json!(market.and_then(|m| m.day_kind(date)))
}

/// The dates of `[first, last]` the calendar marks `kind`.
fn dates_of_kind(
    market: Option<&MarketCalendar>,
    first: NaiveDate,
    last: NaiveDate,
    kind: exporter_trading::MarketDayKind,
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

fn date_range(params: &Params) -> Result<(Option<NaiveDate>, Option<NaiveDate>), ApiError> {
    let start = params.date("start_date")?;
    let end = params.date("end_date")?;
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(ApiError::bad("start_date", "must not be after end_date"));
    }
    Ok((start, end))
}

fn within(day: Option<NaiveDate>, start: Option<NaiveDate>, end: Option<NaiveDate>) -> bool {
    day.is_some_and(|d| start.is_none_or(|s| d >= s) && end.is_none_or(|e| d <= e))
}

#[utoipa::path(
    get, path = "/trades/active", tag = "trading", security(("api_key" = [])),
    responses(
        (status = 200, description = "`open_trades` (built from the fills) and `open_orders` (the latest snapshot, with its time)"),
        (status = 401, body = crate::error::Problem),
    )
)]
pub async fn active(
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.only(&[])?;
    let trades = trades(&state).await?;
    let open: Vec<&Trade> = trades
        .iter()
        .filter(|t| t.status == TradeStatus::Open)
        .collect();
    let orders = latest_typed::<OpenOrders>(&state, None, ORDERS_KIND).await?;
    let latest_orders = orders.into_iter().max_by_key(|o| o.time);
    Ok(Json(json!({
        "open_trades": open,
        "open_orders": latest_orders.as_ref().map(|o| o.sample.orders.clone()).unwrap_or_default(),
        "orders_time": latest_orders.map(|o| o.time),
    })))
}

/// The parameters `/trades/history` and `/trades/fills` share: the format, the page and the
/// filters (`side` is long/short for trades, buy/sell for fills).
struct ListQuery {
    format: Format,
    limit: usize,
    offset: usize,
    symbol: Option<String>,
    side: Option<&'static str>,
    strategy: Option<String>,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
}

impl ListQuery {
    fn parse(
        params: &Params,
        headers: &HeaderMap,
        sides: &[&'static str],
    ) -> Result<Self, ApiError> {
        params.only(&[
            "limit",
            "offset",
            "symbol",
            "start_date",
            "end_date",
            "side",
            "strategy",
            "format",
        ])?;
        let format = Format::of(params, headers)?;
        let (limit, offset) = page(params, format)?;
        let (start, end) = date_range(params)?;
        Ok(Self {
            format,
            limit,
            offset,
            symbol: params.text("symbol")?,
            side: params.choice("side", sides)?,
            strategy: params.text("strategy")?,
            start,
            end,
        })
    }
}

#[utoipa::path(
    get, path = "/trades/history", tag = "trading", security(("api_key" = [])),
    params(
        ("limit" = Option<u32>, Query, description = "1 to 1000, default 100"),
        ("offset" = Option<u32>, Query, description = "default 0"),
        ("symbol" = Option<String>, Query, description = "only this symbol"),
        ("start_date" = Option<String>, Query, description = "closed on or after (YYYY-MM-DD, trading time zone)"),
        ("end_date" = Option<String>, Query, description = "closed on or before (YYYY-MM-DD)"),
        ("side" = Option<String>, Query, description = "long or short"),
        ("strategy" = Option<String>, Query, description = "strategy tag"),
        ("format" = Option<String>, Query, description = "json (default) or csv; `Accept: text/csv` also asks for CSV, which holds every matching trade unless limit or offset is given"),
    ),
    responses(
        (status = 200, description = "Closed trades, newest first: `total`, `limit`, `offset`, `trades`; or a CSV attachment, one trade a row"),
        (status = 400, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let ListQuery {
        format,
        limit,
        offset,
        symbol,
        side,
        strategy,
        start,
        end,
    } = ListQuery::parse(&params, &headers, &["long", "short"])?;
    let trades = trades(&state).await?;
    let mut closed: Vec<&Trade> = trades
        .iter()
        .filter(|t| t.status == TradeStatus::Closed)
        .filter(|t| symbol.as_ref().is_none_or(|s| &t.symbol == s))
        .filter(|t| {
            side.is_none_or(|s| (s == "long") == (t.side == exporter_trading::TradeSide::Long))
        })
        .filter(|t| strategy.is_none() || t.strategy == strategy)
        .filter(|t| (start.is_none() && end.is_none()) || within(closed_day(&state, t), start, end))
        .collect();
    closed.sort_by(|a, b| b.closed_at.cmp(&a.closed_at).then_with(|| b.id.cmp(&a.id)));
    let total = closed.len();
    let page: Vec<&&Trade> = closed.iter().skip(offset).take(limit).collect();
    if format == Format::Csv {
        let rows = page.iter().map(|trade| trade_row(trade));
        return Ok(csv::attachment(
            "trades.csv",
            csv::table(&TRADE_COLUMNS, rows),
        ));
    }
    Ok(
        Json(json!({ "total": total, "limit": limit, "offset": offset, "trades": page }))
            .into_response(),
    )
}

/// `limit` (1 to 1000, default 100) and `offset` (default 0); a CSV export without either holds
/// every row.
fn page(params: &Params, format: Format) -> Result<(usize, usize), ApiError> {
    let limit = params.integer("limit", 1, 1000)?;
    let offset = params.integer("offset", 0, i64::MAX)?;
    let everything = format == Format::Csv && limit.is_none() && offset.is_none();
    let limit = if everything {
        usize::MAX
    } else {
        limit.unwrap_or(100) as usize
    };
    Ok((limit, offset.unwrap_or(0) as usize))
}

/// The columns of a trade in CSV.
const TRADE_COLUMNS: [&str; 16] = [
    "id",
    "symbol",
    "side",
    "status",
    "opened_at",
    "closed_at",
    "entry_quantity",
    "exit_quantity",
    "entry_price",
    "exit_price",
    "fees",
    "gross_pnl",
    "realised_pnl",
    "return_percent",
    "duration_seconds",
    "strategy",
];

fn trade_row(trade: &Trade) -> Vec<String> {
    vec![
        trade.id.clone(),
        trade.symbol.clone(),
        match trade.side {
            exporter_trading::TradeSide::Long => "long".into(),
            exporter_trading::TradeSide::Short => "short".into(),
        },
        match trade.status {
            TradeStatus::Open => "open".into(),
            TradeStatus::Closed => "closed".into(),
        },
        csv::time(trade.opened_at),
        csv::optional(trade.closed_at.map(csv::time)),
        trade.entry_quantity.to_string(),
        trade.exit_quantity.to_string(),
        trade.entry_price.to_string(),
        csv::optional(trade.exit_price),
        trade.fees.to_string(),
        trade.gross_pnl.to_string(),
        trade.realised_pnl.to_string(),
        csv::optional(trade.return_percent),
        csv::optional(trade.duration_seconds),
        trade.strategy.clone().unwrap_or_default(),
    ]
}

#[utoipa::path(
    get, path = "/trades/fills", tag = "trading", security(("api_key" = [])),
    params(
        ("limit" = Option<u32>, Query, description = "1 to 1000, default 100"),
        ("offset" = Option<u32>, Query, description = "default 0"),
        ("symbol" = Option<String>, Query, description = "only this symbol"),
        ("start_date" = Option<String>, Query, description = "filled on or after (YYYY-MM-DD, trading time zone)"),
        ("end_date" = Option<String>, Query, description = "filled on or before (YYYY-MM-DD)"),
        ("side" = Option<String>, Query, description = "buy or sell"),
        ("strategy" = Option<String>, Query, description = "strategy tag"),
        ("format" = Option<String>, Query, description = "json (default) or csv; `Accept: text/csv` also asks for CSV, which holds every matching fill unless limit or offset is given"),
    ),
    responses(
        (status = 200, description = "Stored fills, newest first: `total`, `limit`, `offset`, `fills` (fees in cents as booked); or a CSV attachment, one fill a row"),
        (status = 400, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
    )
)]
pub async fn fills(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let ListQuery {
        format,
        limit,
        offset,
        symbol,
        side,
        strategy,
        start,
        end,
    } = ListQuery::parse(&params, &headers, &["buy", "sell"])?;
    let mut fills: Vec<FillRecord> = state
        .store
        .fills()
        .await?
        .into_iter()
        .filter(|f| symbol.as_ref().is_none_or(|s| &f.symbol == s))
        .filter(|f| side.is_none_or(|s| (s == "buy") == (f.side == "buy")))
        .filter(|f| strategy.is_none() || f.strategy == strategy)
        .filter(|f| {
            (start.is_none() && end.is_none())
                || within(Some(trading_day(f.time, state.timezone)), start, end)
        })
        .collect();
    fills.reverse();
    let total = fills.len();
    let page: Vec<FillRecord> = fills
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|f| FillRecord {
            side: if f.side == "buy" { "buy" } else { "sell" }.to_owned(),
            fee: cents(f.fee),
            ..f
        })
        .collect();
    let market = market_calendar(&state).await;
    let session = |f: &FillRecord| market.as_ref().and_then(|m| m.session_at(f.time));
    if format == Format::Csv {
        let rows = page.iter().map(|f| {
            vec![
                f.id.clone(),
                csv::time(f.time),
                f.symbol.clone(),
                f.side.clone(),
                f.quantity.to_string(),
                f.price.to_string(),
                f.fee.to_string(),
                f.order_id.clone().unwrap_or_default(),
                f.strategy.clone().unwrap_or_default(),
                session(f)
                    .and_then(|s| json!(s).as_str().map(str::to_owned))
                    .unwrap_or_default(),
            ]
        });
        let columns = [
            "id", "time", "symbol", "side", "quantity", "price", "fee", "order_id", "strategy",
            "session",
        ];
        return Ok(csv::attachment("fills.csv", csv::table(&columns, rows)));
    }
    let fills: Vec<Value> = page
        .iter()
        .map(|f| {
            let mut value = json!(f);
            value["session"] = json!(session(f));
            value
        })
        .collect();
    Ok(
        Json(json!({ "total": total, "limit": limit, "offset": offset, "fills": fills }))
            .into_response(),
    )
}

#[utoipa::path(
    get, path = "/trades/statistics", tag = "trading", security(("api_key" = [])),
    params(
        ("start_date" = Option<String>, Query, description = "trades closed on or after (YYYY-MM-DD)"),
        ("end_date" = Option<String>, Query, description = "trades closed on or before"),
        ("symbol" = Option<String>, Query, description = "only this symbol"),
    ),
    responses(
        (status = 200, description = "Every statistic of docs/trading.md, over the closed trades in range"),
        (status = 400, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
    )
)]
pub async fn stats(State(state): State<AppState>, params: Params) -> Result<Json<Value>, ApiError> {
    params.only(&["start_date", "end_date", "symbol"])?;
    let (start, end) = date_range(&params)?;
    let symbol = params.text("symbol")?;
    let trades = trades(&state).await?;
    let unfiltered = symbol.is_none() && start.is_none() && end.is_none();
    let selected: Option<Vec<Trade>> = (!unfiltered).then(|| {
        trades
            .iter()
            .filter(|t| symbol.as_ref().is_none_or(|s| &t.symbol == s))
            .filter(|t| match t.status {
                TradeStatus::Open => true,
                TradeStatus::Closed => {
                    within(closed_day(&state, t), start, end) || (start.is_none() && end.is_none())
                }
            })
            .cloned()
            .collect()
    });
    // The equity history is the whole account's: with a symbol filter the equity-based figures
    // (Sharpe, Sortino, equity drawdown) would describe something else, so they stay null.
    let account_equity = if symbol.is_some() {
        Vec::new()
    } else {
        equity(&state).await?
    };
    let equity: Vec<_> = account_equity
        .into_iter()
        .filter(|p| {
            (start.is_none() && end.is_none())
                || within(Some(trading_day(p.time, state.timezone)), start, end)
        })
        .collect();
    // Unfiltered, the cached trades are used as they are (no copy of a million trades).
    let result = tokio::task::spawn_blocking(move || match &selected {
        Some(selected) => statistics(selected, &equity),
        None => statistics(&trades, &equity),
    })
    .await
    .map_err(|err| ApiError::Internal(format!("statistics failed: {err}")))?;
    Ok(Json(json!(result)))
}

#[utoipa::path(
    get, path = "/trades/daily-pnl", tag = "trading", security(("api_key" = [])),
    params(
        ("start_date" = Option<String>, Query, description = "first day (YYYY-MM-DD, trading time zone)"),
        ("end_date" = Option<String>, Query, description = "last day"),
        ("format" = Option<String>, Query, description = "json (default) or csv; `Accept: text/csv` also asks for CSV"),
    ),
    responses(
        (status = 200, description = "One row per day with realised P&L, fees, trades closed, wins, losses, account fees, income, net deposits, net P&L, the equity change and the equity P&L (equity change − net deposits); or a CSV attachment, one day a row"),
        (status = 400, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
    )
)]
pub async fn daily(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    params.only(&["start_date", "end_date", "format"])?;
    let format = Format::of(&params, &headers)?;
    let (start, end) = date_range(&params)?;
    let (trades, flows) = account(&state).await?;
    let rows = daily_pnl_with_cash(&trades, &flows, state.timezone, start, end);
    // Equity change per day: that day's last equity minus the previous day's.
    let mut by_day = std::collections::BTreeMap::new();
    for point in equity(&state).await? {
        by_day.insert(trading_day(point.time, state.timezone), point.equity);
    }
    let change = |row: &DailyPnl| {
        by_day.get(&row.date).and_then(|today| {
            by_day
                .range(..row.date)
                .next_back()
                .map(|(_, previous)| cents(today - previous))
        })
    };
    let market = market_calendar(&state).await;
    let mark = |row: &DailyPnl| market_day(market.as_ref(), row.date);
    if format == Format::Csv {
        let columns = [
            "date",
            "realised_pnl",
            "fees",
            "trades_closed",
            "wins",
            "losses",
            "account_fees",
            "income",
            "net_deposits",
            "net_pnl",
            "equity_change",
            "equity_pnl",
            "market_day",
        ];
        let lines = rows.iter().map(|row| {
            vec![
                row.date.to_string(),
                row.realised_pnl.to_string(),
                row.fees.to_string(),
                row.trades_closed.to_string(),
                row.wins.to_string(),
                row.losses.to_string(),
                row.account_fees.to_string(),
                row.income.to_string(),
                row.net_deposits.to_string(),
                row.net_pnl.to_string(),
                csv::optional(change(row)),
                csv::optional(change(row).map(|c| c - row.net_deposits)),
                mark(row).as_str().unwrap_or_default().to_owned(),
            ]
        });
        return Ok(csv::attachment(
            "daily-pnl.csv",
            csv::table(&columns, lines),
        ));
    }
    let days: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut value = json!(row);
            value["equity_change"] = json!(change(row));
            // The day's P&L by the equity: what moved it other than deposits and withdrawals.
            value["equity_pnl"] = json!(change(row).map(|c| c - row.net_deposits));
            value["market_day"] = mark(row);
            value
        })
        .collect();
    Ok(Json(json!({ "timezone": state.timezone.name(), "days": days })).into_response())
}

#[utoipa::path(
    get, path = "/trades/pnl-calendar", tag = "trading", security(("api_key" = [])),
    params(
        ("year" = Option<i32>, Query, description = "default: the current year"),
        ("month" = Option<u32>, Query, description = "1 to 12; without it, the year's 12 months"),
    ),
    responses(
        (status = 200, description = "With `month`: the month grid (Monday-first weeks, week totals, month total, best and worst day). Without: 12 month summaries"),
        (status = 400, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
    )
)]
pub async fn calendar(
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.only(&["year", "month"])?;
    let today = trading_day(Utc::now(), state.timezone);
    let year = params
        .integer("year", 1970, 9999)?
        .map_or(today.year(), |y| y as i32);
    let month = params.integer("month", 1, 12)?.map(|m| m as u32);
    let trades = trades(&state).await?;
    let rows: Vec<DailyPnl> = daily_pnl(
        &trades,
        state.timezone,
        NaiveDate::from_ymd_opt(year, 1, 1),
        NaiveDate::from_ymd_opt(year, 12, 31),
    );
    let market = market_calendar(&state).await;
    let market = market.as_ref();
    let holidays_and_early_closes = |month: u32| {
        let first = NaiveDate::from_ymd_opt(year, month, 1)?;
        let last = first
            .checked_add_months(chrono::Months::new(1))?
            .pred_opt()?;
        Some((
            dates_of_kind(
                market,
                first,
                last,
                exporter_trading::MarketDayKind::Holiday,
            ),
            dates_of_kind(
                market,
                first,
                last,
                exporter_trading::MarketDayKind::EarlyClose,
            ),
        ))
    };
    match month {
        Some(month) => {
            let grid = month_calendar(&rows, year, month)
                .map_err(|err| ApiError::bad("month", err.to_string()))?;
            let mut grid = json!(grid);
            for cell in grid["weeks"]
                .as_array_mut()
                .into_iter()
                .flatten()
                .filter_map(Value::as_array_mut)
                .flatten()
                .filter(|cell| cell.is_object())
            {
                if let Some(date) = cell["date"].as_str().and_then(|d| d.parse().ok()) {
                    cell["market_day"] = market_day(market, date);
                }
            }
            let (holidays, early_closes) = holidays_and_early_closes(month).unwrap_or_default();
            grid["holidays"] = json!(holidays);
            grid["early_closes"] = json!(early_closes);
            Ok(Json(
                json!({ "timezone": state.timezone.name(), "calendar": grid }),
            ))
        }
        None => {
            let mut months = json!(year_calendar(&rows, year));
            for summary in months.as_array_mut().into_iter().flatten() {
                let month = summary["month"].as_u64().unwrap_or(0) as u32;
                let (holidays, early_closes) = holidays_and_early_closes(month).unwrap_or_default();
                summary["holidays"] = json!(holidays);
                summary["early_closes"] = json!(early_closes);
            }
            Ok(Json(json!({
                "timezone": state.timezone.name(),
                "year": year,
                "months": months,
                "market_calendar_known": market.is_some(),
            })))
        }
    }
}

#[utoipa::path(
    get, path = "/trades/cash-flows", tag = "trading", security(("api_key" = [])),
    params(
        ("start_date" = Option<String>, Query, description = "first day (YYYY-MM-DD)"),
        ("end_date" = Option<String>, Query, description = "last day"),
    ),
    responses(
        (status = 200, description = "The account's non-trade activities as booked, oldest first: `kind` (fee, income, deposit, withdrawal, other), signed `amount` in cents, the `trade_id` a fee was charged to"),
        (status = 400, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem),
    )
)]
pub async fn cash_flows(
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    params.only(&["start_date", "end_date"])?;
    let (start, end) = date_range(&params)?;
    let (_, flows) = account(&state).await?;
    let selected: Vec<&CashFlow> = flows
        .iter()
        .filter(|f| within(Some(f.date), start, end))
        .collect();
    Ok(Json(json!({ "cash_flows": selected })))
}
