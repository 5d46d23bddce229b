//! Trades, P&L and trading statistics computed from a brokerage account's fills.
//!
//! The exporter serves the trading server owner's brokerage data; raw fills are not what a
//! trader reads, so this crate turns them into trades (flat-to-flat round trips), realised P&L
//! per trading day, performance statistics and a P&L calendar. It is pure computation (no I/O,
//! no async), and money is exact: every amount, price and quantity is a
//! [`rust_decimal::Decimal`], each realisation booked to the cent as a broker books it (see
//! [`money`]); ratios and percentages are `f64`.
//!
//! The pipeline: [`build_trades_with`] (fills → [`Trade`]s with [`Realisation`]s, lots matched
//! by the [`CostBasis`] method; [`build_trades`] uses the default, FIFO), then
//! [`daily_pnl`] (realisations → [`DailyPnl`] per trading day in a time zone), then
//! [`month_calendar`] / [`year_calendar`]; [`statistics`] summarises trades and an equity
//! curve. Each module documents its rules; the formulas are also collected in `docs/trading.md`.
//! [`derived`] holds the numbers the API and the alert engine both read (today's realised P&L,
//! the drawdown below the equity peak), so they are computed in one place.
//!
//! ```
//! use exporter_trading::{DEFAULT_TIMEZONE, build_trades, daily_pnl, sample_fills, statistics};
//!
//! let fills = sample_fills(1_000, 7);
//! let trades = build_trades(&fills);
//! let days = daily_pnl(&trades, DEFAULT_TIMEZONE, None, None);
//! let stats = statistics(&trades, &[]);
//! let by_day: rust_decimal::Decimal = days.iter().map(|day| day.realised_pnl).sum();
//! let by_trade: rust_decimal::Decimal = trades.iter().map(|trade| trade.realised_pnl).sum();
//! assert_eq!(by_day, by_trade);
//! assert_eq!(stats.closed_trades + stats.open_trades, trades.len());
//! ```

pub mod book;
pub mod calendar;
pub mod cash;
pub mod daily;
pub mod derived;
pub mod error;
pub mod fill;
pub mod ledger;
pub mod lots;
pub mod money;
pub mod sample;
pub mod session;
pub mod stats;
pub mod trade;

pub use book::{BookChange, TradeBook};
pub use calendar::{CalendarDay, MonthCalendar, MonthSummary, month_calendar, year_calendar};
pub use cash::{CashFlow, CashKind, cash_flows, cash_kind, charge_order_fees};
pub use daily::{DEFAULT_TIMEZONE, DailyPnl, daily_pnl, daily_pnl_with_cash, trading_day};
pub use derived::{account_from_records, drawdown_percent, realised_pnl_on, trades_from_records};
pub use error::TradingError;
pub use fill::{Fill, Side};
pub use ledger::Ledger;
pub use lots::{CostBasis, UnknownCostBasis};
pub use money::{cents, ratio_number};
pub use sample::sample_fills;
pub use session::{CalendarError, MarketCalendar, MarketDayKind, Session};
pub use stats::{
    Drawdown, EquityPoint, Statistics, SymbolStatistics, TRADING_DAYS_PER_YEAR, TradeRef,
    statistics,
};
pub use trade::{
    PRO_RATA_DECIMAL_PLACES, Realisation, Trade, TradeSide, TradeStatus, build_trades,
    build_trades_with, try_build_trades,
};
