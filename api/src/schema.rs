//! The OpenAPI schemas of the `exporter-trading` types the API sends as they are (trades,
//! statistics, daily P&L, calendars). The trading crate stays free of HTTP concerns, so its
//! types are described here, field for field, and the handlers' answers point at these with
//! `#[schema(value_type = ...)]`. The schemathesis contract test (tests/openapi) checks every
//! answer against them, so a field renamed there without being renamed here fails a test.

#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use utoipa::ToSchema;

/// Direction of a trade.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = TradeSide)]
#[serde(rename_all = "lowercase")]
pub enum TradeSide {
    Long,
    Short,
}

/// Whether a trade is still open.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = TradeStatus)]
#[serde(rename_all = "lowercase")]
pub enum TradeStatus {
    Open,
    Closed,
}

/// The P&L one exit fill realised. Money is a decimal string in the account currency.
#[derive(Debug, ToSchema)]
#[schema(as = Realisation)]
pub struct Realisation {
    /// When the exit fill executed.
    pub time: DateTime<Utc>,
    /// Id of the exit fill.
    pub fill_id: String,
    /// Quantity this exit closed.
    pub quantity: Decimal,
    /// Price difference times quantity against the cost of the lots closed.
    pub gross_pnl: Decimal,
    /// Fees realised with this exit.
    pub fees: Decimal,
    /// Net P&L realised by this exit, to the cent.
    pub pnl: Decimal,
}

/// One symbol's position from flat to flat (or from flat to now, while open); docs/trading.md
/// gives every formula. Money is a decimal string in the account currency.
#[derive(Debug, ToSchema)]
#[schema(as = Trade)]
pub struct Trade {
    /// Id of the fill that opened the trade.
    pub id: String,
    pub symbol: String,
    pub side: TradeSide,
    pub status: TradeStatus,
    pub opened_at: DateTime<Utc>,
    /// Null while open.
    pub closed_at: Option<DateTime<Utc>>,
    pub entry_quantity: Decimal,
    pub exit_quantity: Decimal,
    /// The quantity still held (0 once closed).
    pub open_quantity: Decimal,
    /// Quantity-weighted average price of the opening fills.
    pub entry_price: Decimal,
    /// Quantity-weighted average price of the closing fills; null before the first exit.
    pub exit_price: Option<Decimal>,
    /// Every fee attributed to the trade, in cents.
    pub fees: Decimal,
    /// Realised P&L before fees.
    pub gross_pnl: Decimal,
    /// Realised P&L after fees.
    pub realised_pnl: Decimal,
    /// Cost of the quantity still held (0 once closed).
    pub open_cost_basis: Decimal,
    /// Entry fees of the quantity still held (0 once closed).
    pub open_entry_fees: Decimal,
    /// Closed trades only: net P&L as a percentage of the capital the entry took.
    pub return_percent: Option<f64>,
    /// Closed trades only: whole seconds from open to close.
    pub duration_seconds: Option<i64>,
    /// Strategy tag of the opening fill.
    pub strategy: Option<String>,
    /// Ids of every fill that touched the trade.
    pub fill_ids: Vec<String>,
    /// One entry per exit fill, in time order.
    pub realisations: Vec<Realisation>,
}

/// Realised P&L of one trading day.
#[derive(Debug, ToSchema)]
#[schema(as = DailyPnl)]
pub struct DailyPnl {
    /// The trading day (calendar date in the trading time zone).
    pub date: NaiveDate,
    /// Net P&L realised by the day's exit fills.
    pub realised_pnl: Decimal,
    /// Fees deducted in `realised_pnl`.
    pub fees: Decimal,
    /// Trades that closed on this day.
    #[schema(minimum = 0)]
    pub trades_closed: u32,
    #[schema(minimum = 0)]
    pub wins: u32,
    #[schema(minimum = 0)]
    pub losses: u32,
    /// Fees the broker charged on the day that name no known order (charged to no trade),
    /// positive: not in `realised_pnl`, taken out in `net_pnl`.
    pub account_fees: Decimal,
    /// Dividends and interest of the day, net of withholding.
    pub income: Decimal,
    /// Deposits minus withdrawals of the day: cash moved in or out, not performance.
    pub net_deposits: Decimal,
    /// `realised_pnl − account_fees + income`.
    pub net_pnl: Decimal,
}

/// What kind of day a date is on the exchange.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = MarketDayKind)]
#[serde(rename_all = "snake_case")]
pub enum MarketDayKind {
    /// A full session.
    Regular,
    /// A session whose regular close is before 16:00.
    EarlyClose,
    /// A weekday without a session.
    Holiday,
    /// Saturday or Sunday.
    Weekend,
}

/// The exchange session a moment is in.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = Session)]
#[serde(rename_all = "snake_case")]
pub enum Session {
    PreMarket,
    Regular,
    AfterHours,
    Closed,
}

/// What a non-trade activity counts as.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = CashKind)]
#[serde(rename_all = "snake_case")]
pub enum CashKind {
    /// Charged by the broker or a regulator (`FEE`, `CFEE`, `PTC`, `DIVFEE`).
    Fee,
    /// Dividends and interest, net of withholding.
    Income,
    /// Cash brought in.
    Deposit,
    /// Cash taken out.
    Withdrawal,
    /// Anything else (listed, counted in no total).
    Other,
}

/// One non-trade activity of the account as booked.
#[derive(Debug, ToSchema)]
#[schema(as = CashFlow)]
pub struct CashFlow {
    /// The broker's activity id.
    pub id: String,
    pub kind: CashKind,
    /// The broker's code (`FEE`, `DIV`, `CSD`, ...).
    pub activity_type: String,
    /// The day it applies to.
    pub date: NaiveDate,
    /// Cash moved, in cents, signed: positive into the account (a fee is negative).
    pub amount: Decimal,
    /// The symbol, for dividends and per-asset fees.
    pub symbol: Option<String>,
    /// The order a fee names.
    pub order_id: Option<String>,
    /// The broker's description.
    pub description: Option<String>,
    /// The trade a fee was charged to; null for an account fee.
    pub trade_id: Option<String>,
}

/// One date of the calendar.
#[derive(Debug, ToSchema)]
#[schema(as = CalendarDay)]
pub struct CalendarDay {
    pub date: NaiveDate,
    /// Net realised P&L of the date (0 without trades).
    pub pnl: Decimal,
    /// Trades closed on the date.
    pub trades: u32,
}

/// A month laid out as Monday-first weeks.
#[derive(Debug, ToSchema)]
#[schema(as = MonthCalendar)]
pub struct MonthCalendar {
    pub year: i32,
    /// 1 = January.
    #[schema(minimum = 1, maximum = 12)]
    pub month: u32,
    /// Rows of seven cells, Monday first; cells outside the month are null.
    pub weeks: Vec<Vec<Option<CalendarDay>>>,
    /// Sum of each row's P&L, one per entry of `weeks`.
    pub week_totals: Vec<Decimal>,
    pub month_total: Decimal,
    /// Null when the month has no trading day.
    pub best_day: Option<CalendarDay>,
    /// Null when the month has no trading day.
    pub worst_day: Option<CalendarDay>,
    /// Dates in the month with trading.
    pub trading_days: u32,
}

/// One month of a year's summary.
#[derive(Debug, ToSchema)]
#[schema(as = MonthSummary)]
pub struct MonthSummary {
    /// 1 = January.
    #[schema(minimum = 1, maximum = 12)]
    pub month: u32,
    pub pnl: Decimal,
    pub trading_days: u32,
    pub winning_days: u32,
    pub losing_days: u32,
    pub best_day: Option<CalendarDay>,
    pub worst_day: Option<CalendarDay>,
}

/// A closed trade as a point of the cumulative P&L curve.
#[derive(Debug, ToSchema)]
#[schema(as = TradeRef)]
pub struct TradeRef {
    pub index: u64,
    pub id: String,
    pub closed_at: DateTime<Utc>,
}

/// The largest peak-to-trough fall of cumulative realised P&L.
#[derive(Debug, ToSchema)]
#[schema(as = Drawdown)]
pub struct Drawdown {
    pub amount: Decimal,
    pub peak_cumulative_pnl: Decimal,
    pub trough_cumulative_pnl: Decimal,
    /// Null when the peak is the start.
    pub peak: Option<TradeRef>,
    pub trough: TradeRef,
}

/// Statistics of one symbol's closed trades.
#[derive(Debug, ToSchema)]
#[schema(as = SymbolStatistics)]
pub struct SymbolStatistics {
    pub symbol: String,
    pub closed_trades: u64,
    pub wins: u64,
    pub losses: u64,
    pub net_pnl: Decimal,
    /// A fraction in 0..=1.
    pub win_rate: Option<f64>,
}

/// Statistics of the closed trades and of the equity curve (docs/trading.md gives each
/// formula); the equity-based figures are null with a `symbol` filter.
#[derive(Debug, ToSchema)]
#[schema(as = Statistics)]
pub struct Statistics {
    pub closed_trades: u64,
    pub open_trades: u64,
    pub wins: u64,
    pub losses: u64,
    pub breakeven: u64,
    /// A fraction in 0..=1; null without closed trades.
    pub win_rate: Option<f64>,
    pub gross_profit: Decimal,
    pub gross_loss: Decimal,
    pub net_pnl: Decimal,
    pub profit_factor: Option<f64>,
    pub average_win: Option<Decimal>,
    pub average_loss: Option<Decimal>,
    pub payoff_ratio: Option<f64>,
    pub expectancy: Option<Decimal>,
    pub largest_win: Option<Decimal>,
    pub largest_loss: Option<Decimal>,
    pub average_duration_seconds: Option<f64>,
    pub longest_win_streak: u64,
    pub longest_loss_streak: u64,
    pub max_drawdown: Option<Drawdown>,
    pub total_fees: Decimal,
    pub per_symbol: Vec<SymbolStatistics>,
    pub daily_returns: u64,
    pub sharpe_ratio: Option<f64>,
    pub sortino_ratio: Option<f64>,
    pub max_equity_drawdown_percent: Option<f64>,
}
