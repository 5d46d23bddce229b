//! `/trades/*`: fills, open and closed trades, statistics, daily P&L, the P&L calendar and the
//! cash flows (fees, income, deposits, withdrawals), computed with `exporter-trading` from the
//! fills, non-trade activities and equity history in the store (lots matched by
//! `trading.cost_basis`, fees naming an order charged to its trade). Trades are rebuilt only
//! when the fills or activities changed (counts and timestamps tell), so repeated requests are
//! cheap. Days, calendar cells and fills are marked with the stored market calendar when it is
//! known. Fills, trades and daily P&L also come as CSV ([`super::csv`]).

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

use super::csv::{self, Format, FormatParam};
use super::metrics::latest_typed;
use crate::error::Problem;
use crate::extract::{AppQuery, NoParams, de};
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

/// `GET /trades/active` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveTrades {
    /// Open trades, built from the fills.
    #[schema(value_type = Vec<crate::schema::Trade>)]
    pub open_trades: Vec<Trade>,
    /// The open orders of the latest snapshot.
    pub open_orders: Vec<OpenOrder>,
    /// When that snapshot was taken; null before the first.
    pub orders_time: Option<DateTime<Utc>>,
}

#[utoipa::path(
    get, path = "/trades/active", operation_id = "active_trades", tag = "trading",
    params(NoParams),
    responses(
        (status = 200, description = "Open trades and open orders", body = ActiveTrades),
        (status = 400, description = "A parameter was given; this route takes none", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn active(
    State(state): State<AppState>,
    AppQuery(NoParams {}): AppQuery<NoParams>,
) -> Result<Json<ActiveTrades>, ApiError> {
    let trades = trades(&state).await?;
    let open_trades = trades
        .iter()
        .filter(|t| t.status == TradeStatus::Open)
        .cloned()
        .collect();
    let orders = latest_typed::<OpenOrders>(&state, None, ORDERS_KIND).await?;
    let latest_orders = orders.into_iter().max_by_key(|o| o.time);
    Ok(Json(ActiveTrades {
        open_trades,
        orders_time: latest_orders.as_ref().map(|o| o.time),
        open_orders: latest_orders.map(|o| o.sample.orders).unwrap_or_default(),
    }))
}

/// Side of a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TradeSideParam {
    Long,
    Short,
}

/// Side of a fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FillSideParam {
    Buy,
    Sell,
}

/// Query of `GET /trades/history`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TradeListParams {
    /// Page size, default 100 (a CSV export without `limit` or `offset` holds every row).
    #[serde(default, deserialize_with = "de::ranged::<1, 1000, _>")]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Rows to skip, default 0.
    #[serde(default, deserialize_with = "de::ranged::<0, { i64::MAX }, _>")]
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// Only this symbol.
    #[serde(default, deserialize_with = "de::text")]
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
    pub symbol: Option<String>,
    /// Closed on or after this day (trading time zone).
    #[serde(default, deserialize_with = "de::date")]
    pub start_date: Option<NaiveDate>,
    /// Closed on or before this day.
    #[serde(default, deserialize_with = "de::date")]
    pub end_date: Option<NaiveDate>,
    #[serde(default)]
    #[param(inline)]
    pub side: Option<TradeSideParam>,
    /// Strategy tag.
    #[serde(default, deserialize_with = "de::text")]
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
    pub strategy: Option<String>,
    /// `json` (default) or `csv`; `Accept: text/csv` also asks for CSV.
    #[serde(default)]
    #[param(inline)]
    pub format: Option<FormatParam>,
}

/// Query of `GET /trades/fills`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FillListParams {
    /// Page size, default 100 (a CSV export without `limit` or `offset` holds every row).
    #[serde(default, deserialize_with = "de::ranged::<1, 1000, _>")]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Rows to skip, default 0.
    #[serde(default, deserialize_with = "de::ranged::<0, { i64::MAX }, _>")]
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// Only this symbol.
    #[serde(default, deserialize_with = "de::text")]
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
    pub symbol: Option<String>,
    /// Filled on or after this day (trading time zone).
    #[serde(default, deserialize_with = "de::date")]
    pub start_date: Option<NaiveDate>,
    /// Filled on or before this day.
    #[serde(default, deserialize_with = "de::date")]
    pub end_date: Option<NaiveDate>,
    #[serde(default)]
    #[param(inline)]
    pub side: Option<FillSideParam>,
    /// Strategy tag.
    #[serde(default, deserialize_with = "de::text")]
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
    pub strategy: Option<String>,
    /// `json` (default) or `csv`; `Accept: text/csv` also asks for CSV.
    #[serde(default)]
    #[param(inline)]
    pub format: Option<FormatParam>,
}

/// `GET /trades/history` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TradePage<'a> {
    /// Trades matching, in all.
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
    /// Newest first.
    #[schema(value_type = Vec<crate::schema::Trade>)]
    pub trades: Vec<&'a Trade>,
}

#[utoipa::path(
    get, path = "/trades/history", operation_id = "trade_history", tag = "trading",
    params(TradeListParams),
    responses(
        (status = 200, description = "Closed trades, newest first; or a CSV attachment, one trade a row", content(
            (TradePage = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppQuery(params): AppQuery<TradeListParams>,
) -> Result<Response, ApiError> {
    let format = Format::of(params.format, &headers);
    let (limit, offset) = page(params.limit, params.offset, format);
    let (start, end) = (params.start_date, params.end_date);
    let (symbol, side, strategy) = (params.symbol, params.side, params.strategy);
    let trades = trades(&state).await?;
    let mut closed: Vec<&Trade> = trades
        .iter()
        .filter(|t| t.status == TradeStatus::Closed)
        .filter(|t| symbol.as_ref().is_none_or(|s| &t.symbol == s))
        .filter(|t| {
            side.is_none_or(|s| {
                (s == TradeSideParam::Long) == (t.side == exporter_trading::TradeSide::Long)
            })
        })
        .filter(|t| strategy.is_none() || t.strategy == strategy)
        .filter(|t| (start.is_none() && end.is_none()) || within(closed_day(&state, t), start, end))
        .collect();
    closed.sort_by(|a, b| b.closed_at.cmp(&a.closed_at).then_with(|| b.id.cmp(&a.id)));
    let total = closed.len();
    let page: Vec<&Trade> = closed.into_iter().skip(offset).take(limit).collect();
    if format == Format::Csv {
        let rows = page.iter().map(|trade| trade_row(trade));
        return Ok(csv::attachment(
            "trades.csv",
            csv::table(&TRADE_COLUMNS, rows),
        ));
    }
    Ok(Json(TradePage {
        total: total as u64,
        limit: limit as u64,
        offset: offset as u64,
        trades: page,
    })
    .into_response())
}

/// `limit` (1 to 1000, default 100) and `offset` (default 0); a CSV export without either holds
/// every row.
fn page(limit: Option<i64>, offset: Option<i64>, format: Format) -> (usize, usize) {
    let everything = format == Format::Csv && limit.is_none() && offset.is_none();
    let limit = if everything {
        usize::MAX
    } else {
        limit.unwrap_or(100) as usize
    };
    (
        limit,
        usize::try_from(offset.unwrap_or(0)).unwrap_or(usize::MAX),
    )
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

/// A fill of `GET /trades/fills`: the stored fill (the fields of `FillRecord`; a
/// `sell_short` listed as a sell, the fee in cents) with its session.
#[derive(Debug, Serialize, ToSchema)]
pub struct FillView {
    /// The broker's (or the trading system's) unique execution id.
    pub id: String,
    pub symbol: String,
    /// `buy` or `sell`.
    pub side: String,
    /// Positive quantity.
    pub quantity: Decimal,
    pub price: Decimal,
    /// Commission and fees of this execution, in cents as booked.
    pub fee: Decimal,
    pub time: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Strategy tag, when the trading system knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// The exchange session it executed in; null while the market calendar is unknown.
    #[schema(value_type = Option<crate::schema::Session>)]
    pub session: Option<Session>,
}

impl FillView {
    fn new(fill: FillRecord, session: Option<Session>) -> Self {
        Self {
            id: fill.id,
            symbol: fill.symbol,
            side: fill.side,
            quantity: fill.quantity,
            price: fill.price,
            fee: fill.fee,
            time: fill.time,
            order_id: fill.order_id,
            strategy: fill.strategy,
            session,
        }
    }
}

/// `GET /trades/fills` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct FillPage {
    /// Fills matching, in all.
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
    /// Newest first; fees in cents as booked.
    pub fills: Vec<FillView>,
}

#[utoipa::path(
    get, path = "/trades/fills", operation_id = "list_fills", tag = "trading",
    params(FillListParams),
    responses(
        (status = 200, description = "Stored fills, newest first, each with its session; or a CSV attachment, one fill a row", content(
            (FillPage = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn fills(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppQuery(params): AppQuery<FillListParams>,
) -> Result<Response, ApiError> {
    let format = Format::of(params.format, &headers);
    let (limit, offset) = page(params.limit, params.offset, format);
    let (start, end) = (params.start_date, params.end_date);
    let (symbol, side, strategy) = (params.symbol, params.side, params.strategy);
    let mut fills: Vec<FillRecord> = state
        .store
        .fills()
        .await?
        .into_iter()
        .filter(|f| symbol.as_ref().is_none_or(|s| &f.symbol == s))
        .filter(|f| side.is_none_or(|s| (s == FillSideParam::Buy) == (f.side == "buy")))
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
                session(f).map(snake_name).unwrap_or_default(),
            ]
        });
        let columns = [
            "id", "time", "symbol", "side", "quantity", "price", "fee", "order_id", "strategy",
            "session",
        ];
        return Ok(csv::attachment("fills.csv", csv::table(&columns, rows)));
    }
    let fills = page
        .into_iter()
        .map(|fill| {
            let session = session(&fill);
            FillView::new(fill, session)
        })
        .collect();
    Ok(Json(FillPage {
        total: total as u64,
        limit: limit as u64,
        offset: offset as u64,
        fills,
    })
    .into_response())
}

/// Query of `GET /trades/statistics`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatisticsParams {
    /// Trades closed on or after this day (trading time zone).
    #[serde(default, deserialize_with = "de::date")]
    pub start_date: Option<NaiveDate>,
    /// Trades closed on or before this day.
    #[serde(default, deserialize_with = "de::date")]
    pub end_date: Option<NaiveDate>,
    /// Only this symbol (the equity-based figures are then null).
    #[serde(default, deserialize_with = "de::text")]
    #[param(min_length = 1, max_length = 256, pattern = "^[^\\u0000]+$")]
    pub symbol: Option<String>,
}

#[utoipa::path(
    get, path = "/trades/statistics", operation_id = "trade_statistics", tag = "trading",
    params(StatisticsParams),
    responses(
        (status = 200, description = "Every statistic of docs/trading.md, over the closed trades in range", body = crate::schema::Statistics),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn stats(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<StatisticsParams>,
) -> Result<Json<Statistics>, ApiError> {
    let (start, end) = (params.start_date, params.end_date);
    let symbol = params.symbol;
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
    Ok(Json(result))
}

/// Query of `GET /trades/daily-pnl`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DailyParams {
    /// First day (trading time zone).
    #[serde(default, deserialize_with = "de::date")]
    pub start_date: Option<NaiveDate>,
    /// Last day.
    #[serde(default, deserialize_with = "de::date")]
    pub end_date: Option<NaiveDate>,
    /// `json` (default) or `csv`; `Accept: text/csv` also asks for CSV.
    #[serde(default)]
    #[param(inline)]
    pub format: Option<FormatParam>,
}

/// One day of `GET /trades/daily-pnl`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyRow<'a> {
    #[serde(flatten)]
    #[schema(value_type = crate::schema::DailyPnl)]
    pub day: &'a DailyPnl,
    /// That day's last equity minus the previous day's; null without equity on both.
    pub equity_change: Option<Decimal>,
    /// The day's P&L by the equity: `equity_change − net_deposits` (what moved the equity other
    /// than deposits and withdrawals); null with `equity_change`.
    pub equity_pnl: Option<Decimal>,
    /// What the day was on the exchange; null while the market calendar is unknown.
    #[schema(value_type = Option<crate::schema::MarketDayKind>)]
    pub market_day: Option<MarketDayKind>,
}

/// `GET /trades/daily-pnl` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyPnlPage<'a> {
    /// The trading time zone (IANA name) the days are in.
    pub timezone: &'static str,
    pub days: Vec<DailyRow<'a>>,
}

#[utoipa::path(
    get, path = "/trades/daily-pnl", operation_id = "daily_pnl", tag = "trading",
    params(DailyParams),
    responses(
        (status = 200, description = "One row per day with realised P&L, fees, trades closed, wins, losses, account fees, income, net deposits, net P&L, the equity change, the equity P&L (equity change − net deposits) and the market day; or a CSV attachment, one day a row", content(
            (DailyPnlPage = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn daily(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppQuery(params): AppQuery<DailyParams>,
) -> Result<Response, ApiError> {
    let format = Format::of(params.format, &headers);
    let (start, end) = (params.start_date, params.end_date);
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
    let mark = |row: &DailyPnl| market.as_ref().and_then(|m| m.day_kind(row.date));
    let equity_pnl = |row: &DailyPnl| change(row).map(|c| c - row.net_deposits);
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
                csv::optional(equity_pnl(row)),
                mark(row).map(snake_name).unwrap_or_default(),
            ]
        });
        return Ok(csv::attachment(
            "daily-pnl.csv",
            csv::table(&columns, lines),
        ));
    }
    let days = rows
        .iter()
        .map(|day| DailyRow {
            day,
            equity_change: change(day),
            equity_pnl: equity_pnl(day),
            market_day: mark(day),
        })
        .collect();
    Ok(Json(DailyPnlPage {
        timezone: state.timezone.name(),
        days,
    })
    .into_response())
}

/// Query of `GET /trades/pnl-calendar`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CalendarParams {
    /// Default: the current year.
    #[serde(default, deserialize_with = "de::ranged::<1970, 9999, _>")]
    #[param(minimum = 1970, maximum = 9999)]
    pub year: Option<i64>,
    /// 1 to 12; without it, the year's 12 months.
    #[serde(default, deserialize_with = "de::ranged::<1, 12, _>")]
    #[param(minimum = 1, maximum = 12)]
    pub month: Option<i64>,
}

/// A date of the month grid, with what it was on the exchange.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarCell {
    #[serde(flatten)]
    #[schema(value_type = crate::schema::CalendarDay)]
    pub day: CalendarDay,
    /// Null while the market calendar is unknown.
    #[schema(value_type = Option<crate::schema::MarketDayKind>)]
    pub market_day: Option<MarketDayKind>,
}

/// A month laid out as Monday-first weeks, its cells marked by the market calendar.
#[derive(Debug, Serialize, ToSchema)]
pub struct MonthGrid {
    pub year: i32,
    /// 1 = January.
    #[schema(minimum = 1, maximum = 12)]
    pub month: u32,
    /// Rows of seven cells, Monday first; cells outside the month are null.
    pub weeks: Vec<Vec<Option<CalendarCell>>>,
    /// Sum of each row's P&L, one per entry of `weeks`.
    pub week_totals: Vec<Decimal>,
    pub month_total: Decimal,
    /// Null when the month has no trading day.
    #[schema(value_type = Option<crate::schema::CalendarDay>)]
    pub best_day: Option<CalendarDay>,
    /// Null when the month has no trading day.
    #[schema(value_type = Option<crate::schema::CalendarDay>)]
    pub worst_day: Option<CalendarDay>,
    /// Dates in the month with trading.
    pub trading_days: u32,
    /// The month's exchange holidays (weekdays without a session); empty while the market
    /// calendar is unknown.
    pub holidays: Vec<NaiveDate>,
    /// The month's sessions closing early; empty while the market calendar is unknown.
    pub early_closes: Vec<NaiveDate>,
}

impl MonthGrid {
    fn new(
        calendar: MonthCalendar,
        market: Option<&MarketCalendar>,
        (holidays, early_closes): (Vec<NaiveDate>, Vec<NaiveDate>),
    ) -> Self {
        let weeks = calendar
            .weeks
            .into_iter()
            .map(|week| {
                week.into_iter()
                    .map(|cell| {
                        cell.map(|day| CalendarCell {
                            market_day: market.and_then(|m| m.day_kind(day.date)),
                            day,
                        })
                    })
                    .collect()
            })
            .collect();
        Self {
            year: calendar.year,
            month: calendar.month,
            weeks,
            week_totals: calendar.week_totals,
            month_total: calendar.month_total,
            best_day: calendar.best_day,
            worst_day: calendar.worst_day,
            trading_days: calendar.trading_days,
            holidays,
            early_closes,
        }
    }
}

/// One month of a year's summary, with its holidays and early closes.
#[derive(Debug, Serialize, ToSchema)]
pub struct MonthSummaryView {
    #[serde(flatten)]
    #[schema(value_type = crate::schema::MonthSummary)]
    pub summary: MonthSummary,
    /// The month's exchange holidays; empty while the market calendar is unknown.
    pub holidays: Vec<NaiveDate>,
    /// The month's sessions closing early; empty while the market calendar is unknown.
    pub early_closes: Vec<NaiveDate>,
}

/// A month of the P&L calendar.
#[derive(Debug, Serialize, ToSchema)]
pub struct MonthAnswer {
    /// The trading time zone (IANA name).
    pub timezone: &'static str,
    /// Monday-first weeks, week totals, month total, best and worst day, holidays and early
    /// closes.
    pub calendar: MonthGrid,
}

/// A year of the P&L calendar.
#[derive(Debug, Serialize, ToSchema)]
pub struct YearAnswer {
    /// The trading time zone (IANA name).
    pub timezone: &'static str,
    pub year: i32,
    /// The 12 months.
    pub months: Vec<MonthSummaryView>,
    /// Whether the market calendar is known (else no holiday or early close is listed).
    pub market_calendar_known: bool,
}

/// `GET /trades/pnl-calendar` answer: a month with `month`, else the year.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CalendarAnswer {
    Month(MonthAnswer),
    Year(YearAnswer),
}

#[utoipa::path(
    get, path = "/trades/pnl-calendar", operation_id = "pnl_calendar", tag = "trading",
    params(CalendarParams),
    responses(
        (status = 200, description = "With `month`: the month grid. Without: 12 month summaries", body = CalendarAnswer),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn calendar(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<CalendarParams>,
) -> Result<Json<CalendarAnswer>, ApiError> {
    let today = trading_day(Utc::now(), state.timezone);
    let year = params.year.map_or(today.year(), |y| y as i32);
    let month = params.month.map(|m| m as u32);
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
        let marked = || {
            let first = NaiveDate::from_ymd_opt(year, month, 1)?;
            let last = first
                .checked_add_months(chrono::Months::new(1))?
                .pred_opt()?;
            Some((
                dates_of_kind(market, first, last, MarketDayKind::Holiday),
                dates_of_kind(market, first, last, MarketDayKind::EarlyClose),
            ))
        };
        marked().unwrap_or_default()
    };
    match month {
        Some(month) => {
            let calendar = month_calendar(&rows, year, month)
                .map_err(|err| ApiError::bad("month", err.to_string()))?;
            Ok(Json(CalendarAnswer::Month(MonthAnswer {
                timezone: state.timezone.name(),
                calendar: MonthGrid::new(calendar, market, holidays_and_early_closes(month)),
            })))
        }
        None => Ok(Json(CalendarAnswer::Year(YearAnswer {
            timezone: state.timezone.name(),
            year,
            months: year_calendar(&rows, year)
                .into_iter()
                .map(|summary| {
                    let (holidays, early_closes) = holidays_and_early_closes(summary.month);
                    MonthSummaryView {
                        summary,
                        holidays,
                        early_closes,
                    }
                })
                .collect(),
            market_calendar_known: market.is_some(),
        }))),
    }
}

/// Query of `GET /trades/cash-flows`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CashFlowParams {
    /// First day (the day the activity applies to).
    #[serde(default, deserialize_with = "de::date")]
    pub start_date: Option<NaiveDate>,
    /// Last day.
    #[serde(default, deserialize_with = "de::date")]
    pub end_date: Option<NaiveDate>,
}

/// `GET /trades/cash-flows` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CashFlowPage<'a> {
    /// Oldest first (by date, then id).
    #[schema(value_type = Vec<crate::schema::CashFlow>)]
    pub cash_flows: Vec<&'a CashFlow>,
}

#[utoipa::path(
    get, path = "/trades/cash-flows", operation_id = "cash_flows", tag = "trading",
    params(CashFlowParams),
    responses(
        (status = 200, description = "The account's non-trade activities as booked, oldest first: `kind` (fee, income, deposit, withdrawal, other), signed `amount` in cents, the `trade_id` a fee was charged to", body = CashFlowPage),
        (status = 400, description = "A parameter is invalid; `parameter` names it", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn cash_flows(
    State(state): State<AppState>,
    AppQuery(params): AppQuery<CashFlowParams>,
) -> Result<Response, ApiError> {
    let (start, end) = (params.start_date, params.end_date);
    let (_, flows) = account(&state).await?;
    let cash_flows = flows
        .iter()
        .filter(|f| within(Some(f.date), start, end))
        .collect();
    Ok(Json(CashFlowPage { cash_flows }).into_response())
}
