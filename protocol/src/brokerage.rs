//! The brokerage payloads: the account and positions snapshot (`portfolio`), the daily equity
//! history (`equity_history`), new fills (`fills`), the open orders (`orders`) and the cash the
//! account moved for other reasons (`cash_activities`: fees, dividends, interest, deposits and
//! withdrawals), plus the documented JSON the trading system may publish itself on
//! `exporter.v1.ingest.fill`.
//!
//! Money, prices and quantities are `rust_decimal::Decimal` end to end and travel as JSON
//! strings (`"103820.56"`), so no value is ever rounded through a float.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::series::{HasSeries, Labels, SeriesPoint};

/// Kind of the account + positions snapshot.
pub const PORTFOLIO_KIND: &str = "portfolio";
/// Kind of the portfolio (equity) history.
pub const EQUITY_KIND: &str = "equity_history";
/// Kind of a batch of new fills from the broker.
pub const FILLS_KIND: &str = "fills";
/// Kind of the open orders snapshot.
pub const ORDERS_KIND: &str = "orders";
/// Kind of a batch of non-trade account activities (fees, dividends, interest, deposits, ...).
pub const CASH_ACTIVITIES_KIND: &str = "cash_activities";
/// Source of the positions the trading system reports itself (`exporter.v1.ingest.positions`).
pub const ENGINE_POSITIONS_KIND: &str = "engine_positions";
/// Ingest subject token of the trading system's own positions report.
pub const INGEST_POSITIONS: &str = "positions";
/// Ingest subject token of fills published by the trading system itself.
pub const INGEST_FILL: &str = "fill";

/// Account and positions at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PortfolioSnapshot {
    pub account: AccountSnapshot,
    pub positions: Vec<PositionSnapshot>,
}

/// The account's balances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountSnapshot {
    pub currency: String,
    pub status: String,
    /// Cash balance.
    pub cash: Decimal,
    pub equity: Decimal,
    /// Equity at the previous trading day's close.
    pub last_equity: Decimal,
    pub buying_power: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portfolio_value: Option<Decimal>,
    pub long_market_value: Decimal,
    pub short_market_value: Decimal,
    pub initial_margin: Decimal,
    pub maintenance_margin: Decimal,
    pub daytrade_count: u32,
    pub pattern_day_trader: bool,
}

/// One open position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PositionSnapshot {
    pub symbol: String,
    /// Signed quantity as the broker reports it (negative for shorts).
    pub quantity: Decimal,
    /// `long` or `short`.
    pub side: String,
    pub average_entry_price: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market_value: Option<Decimal>,
    pub cost_basis: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unrealized_pnl: Option<Decimal>,
    /// Unrealised P&L as a percentage of the cost basis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unrealized_pnl_percent: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intraday_pnl: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intraday_pnl_percent: Option<Decimal>,
}

/// Daily equity, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EquityHistory {
    pub timeframe: String,
    pub points: Vec<EquityPoint>,
}

/// Equity at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EquityPoint {
    pub time: DateTime<Utc>,
    pub equity: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profit_loss: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profit_loss_percent: Option<Decimal>,
}

/// One execution. The same JSON is accepted on `exporter.v1.ingest.fill` from the trading
/// system itself (without an envelope).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FillRecord {
    /// The broker's (or the trading system's) unique execution id: a repeated id is a no-op.
    pub id: String,
    pub symbol: String,
    /// `buy` or `sell` (`sell_short` is a sell).
    pub side: String,
    /// Positive quantity.
    pub quantity: Decimal,
    pub price: Decimal,
    /// Commission and fees of this execution (default 0).
    #[serde(default)]
    pub fee: Decimal,
    pub time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Strategy tag, when the trading system knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
}

impl FillRecord {
    /// Checks what serde cannot: side and positive quantity.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.side.as_str(), "buy" | "sell" | "sell_short") {
            return Err(format!(
                "fill {}: side `{}` is not buy, sell or sell_short",
                self.id, self.side
            ));
        }
        if self.quantity <= Decimal::ZERO {
            return Err(format!("fill {}: quantity must be positive", self.id));
        }
        if self.price < Decimal::ZERO || self.fee < Decimal::ZERO {
            return Err(format!(
                "fill {}: price and fee must not be negative",
                self.id
            ));
        }
        if self.id.is_empty() || self.symbol.is_empty() {
            return Err("fill: id and symbol must not be empty".into());
        }
        Ok(())
    }
}

/// The positions the trading system believes it holds, published by it on
/// `exporter.v1.ingest.positions` (plain JSON, no envelope) at least once a minute while it
/// runs; compared with the broker's by the alert engine (`trading.positions_mismatched`), and
/// its arrival tells that the trading system is up.
///
/// ```json
/// {"time": "2026-03-02T15:00:00Z", "positions": [{"symbol": "AAPL", "quantity": "5"}, {"symbol": "TSLA", "quantity": "-2"}]}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnginePositions {
    /// When the report was made (default: when it arrived).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<DateTime<Utc>>,
    /// The host the trading system runs on (default: `trading-engine`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Every open position; a symbol not listed is flat.
    pub positions: Vec<EnginePosition>,
}

/// One position as the trading system holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnginePosition {
    pub symbol: String,
    /// Signed quantity: negative for a short, as the broker reports it.
    pub quantity: Decimal,
}

impl EnginePositions {
    /// Checks what serde cannot: non-empty symbols listed once, no NUL characters.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for p in &self.positions {
            if p.symbol.is_empty() || p.symbol.contains('\0') {
                return Err("positions: a symbol is empty or holds a NUL character".into());
            }
            if !seen.insert(p.symbol.as_str()) {
                return Err(format!("positions: {} is listed twice", p.symbol));
            }
        }
        if self
            .host
            .as_deref()
            .is_some_and(|h| h.is_empty() || h.contains('\0'))
        {
            return Err("positions: host is empty or holds a NUL character".into());
        }
        Ok(())
    }
}

impl HasSeries for EnginePositions {
    fn series(&self) -> Vec<SeriesPoint> {
        Vec::new()
    }
}

/// New fills since the collector's cursor, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FillBatch {
    pub fills: Vec<FillRecord>,
}

/// One non-trade account activity as the broker reported it: cash that moved for a reason other
/// than a fill (Alpaca's `FEE`, `DIV`, `INT`, `CSD`, `CSW`, ... activities). What it counts as in
/// the P&L (a fee, income, a deposit or withdrawal) is decided by `exporter-trading` from
/// `activity_type`, so a reclassification needs no new data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CashActivity {
    /// The broker's activity id: a repeated id replaces the stored one (a correction).
    pub id: String,
    /// The broker's code: `FEE`, `CFEE`, `PTC`, `DIV`, `INT`, `CSD`, `CSW`, `JNLC`, ...
    pub activity_type: String,
    /// The broker's finer code where it sends one (`REG`, `TAF` for a regulatory fee, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_sub_type: Option<String>,
    /// The day it applies to (the broker's `date`).
    pub date: NaiveDate,
    /// Cash moved, signed: positive into the account, negative out of it.
    pub net_amount: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// The order it belongs to, where the broker names one (a fee charged on an order's fills).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `executed`, `correct`, `canceled`, ... where sent; a `canceled` activity moves no cash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl CashActivity {
    /// Checks what serde cannot: non-empty id and type, no NUL characters.
    pub fn validate(&self) -> Result<(), String> {
        if self.id.is_empty() || self.activity_type.is_empty() {
            return Err("cash activity: id and activity_type must not be empty".into());
        }
        let texts = [
            Some(&self.id),
            Some(&self.activity_type),
            self.activity_sub_type.as_ref(),
            self.symbol.as_ref(),
            self.order_id.as_ref(),
            self.description.as_ref(),
            self.status.as_ref(),
        ];
        if texts.into_iter().flatten().any(|s| s.contains('\0')) {
            return Err(format!(
                "cash activity {}: a string contains a NUL character",
                self.id
            ));
        }
        Ok(())
    }
}

/// Non-trade activities new or changed since the collector last published them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CashActivityBatch {
    pub activities: Vec<CashActivity>,
}

/// The open orders, and how many orders ended rejected or canceled lately.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OpenOrders {
    pub orders: Vec<OpenOrder>,
    /// Orders rejected within the last `recent_window_seconds` (absent from older collectors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_rejected: Option<u32>,
    /// Orders canceled (or expired) within the last `recent_window_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_canceled: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_window_seconds: Option<u64>,
}

/// One open order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OpenOrder {
    pub id: String,
    pub symbol: String,
    pub side: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notional: Option<Decimal>,
    pub filled_quantity: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_price: Option<Decimal>,
    pub time_in_force: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

fn f(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(f64::NAN)
}

crate::series_catalogue! {
    PORTFOLIO_EQUITY = gauge("portfolio.equity", Currency, "Account equity");
    PORTFOLIO_CASH = gauge("portfolio.cash", Currency, "Cash in the account");
    PORTFOLIO_BUYING_POWER = gauge("portfolio.buying_power", Currency, "Buying power");
    PORTFOLIO_LONG_MARKET_VALUE = gauge("portfolio.long_market_value", Currency, "Market value of long positions");
    PORTFOLIO_SHORT_MARKET_VALUE = gauge("portfolio.short_market_value", Currency, "Market value of short positions");
    PORTFOLIO_DAY_CHANGE = gauge("portfolio.day_change", Currency, "Equity change since the previous close");
    PORTFOLIO_DAY_CHANGE_PERCENT = gauge("portfolio.day_change_percent", Percent, "Equity change since the previous close, in percent");
    PORTFOLIO_POSITIONS = gauge("portfolio.positions", Count, "Open positions");
    POSITION_MARKET_VALUE = gauge("position.market_value", Currency, "Market value of one position");
    POSITION_UNREALIZED_PNL = gauge("position.unrealized_pnl", Currency, "Unrealised profit and loss of one position");
    TRADES_FILLS_RECEIVED = gauge("trades.fills_received", Count, "Fills in one batch from the broker");
    TRADES_OPEN_ORDERS = gauge("trades.open_orders", Count, "Open orders at the broker");
    TRADES_ORDERS_REJECTED_RECENT = gauge("trades.orders_rejected_recent", Count, "Orders rejected at the broker in the last 15 minutes");
    TRADES_ORDERS_CANCELED_RECENT = gauge("trades.orders_canceled_recent", Count, "Orders canceled or expired at the broker in the last 15 minutes");
    PORTFOLIO_DRAWDOWN_PERCENT = gauge("portfolio.drawdown_percent", Percent, "Equity below its running peak, in percent (derived for alert rules)");
    TRADING_REALIZED_PNL_TODAY = gauge("trading.realized_pnl_today", Currency, "Realised profit and loss of the current trading day (derived for alert rules)");
}

impl HasSeries for PortfolioSnapshot {
    fn series(&self) -> Vec<SeriesPoint> {
        let a = &self.account;
        let mut points = vec![
            PORTFOLIO_EQUITY.plain(f(a.equity)),
            PORTFOLIO_CASH.plain(f(a.cash)),
            PORTFOLIO_BUYING_POWER.plain(f(a.buying_power)),
            PORTFOLIO_LONG_MARKET_VALUE.plain(f(a.long_market_value)),
            PORTFOLIO_SHORT_MARKET_VALUE.plain(f(a.short_market_value)),
            PORTFOLIO_DAY_CHANGE.plain(f(a.equity - a.last_equity)),
            PORTFOLIO_POSITIONS.plain(self.positions.len() as f64),
        ];
        if a.last_equity > Decimal::ZERO {
            let percent = (a.equity - a.last_equity) / a.last_equity * Decimal::ONE_HUNDRED;
            points.push(PORTFOLIO_DAY_CHANGE_PERCENT.plain(f(percent)));
        }
        for p in &self.positions {
            let labels = Labels::from([("symbol".to_owned(), p.symbol.clone())]);
            if let Some(value) = p.market_value {
                points.push(POSITION_MARKET_VALUE.point(labels.clone(), f(value)));
            }
            if let Some(value) = p.unrealized_pnl {
                points.push(POSITION_UNREALIZED_PNL.point(labels, f(value)));
            }
        }
        points.retain(|p| p.value.is_finite());
        points
    }
}

impl HasSeries for EquityHistory {
    fn series(&self) -> Vec<SeriesPoint> {
        Vec::new()
    }
}

impl HasSeries for FillBatch {
    fn series(&self) -> Vec<SeriesPoint> {
        vec![TRADES_FILLS_RECEIVED.plain(self.fills.len() as f64)]
    }
}

impl HasSeries for CashActivityBatch {
    fn series(&self) -> Vec<SeriesPoint> {
        Vec::new()
    }
}

impl HasSeries for OpenOrders {
    fn series(&self) -> Vec<SeriesPoint> {
        let mut points = vec![TRADES_OPEN_ORDERS.plain(self.orders.len() as f64)];
        if let Some(count) = self.recent_rejected {
            points.push(TRADES_ORDERS_REJECTED_RECENT.plain(f64::from(count)));
        }
        if let Some(count) = self.recent_canceled {
            points.push(TRADES_ORDERS_CANCELED_RECENT.plain(f64::from(count)));
        }
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_travel_as_exact_strings_and_fills_are_validated() {
        let json = r#"{"id":"a1","symbol":"AAPL","side":"buy","quantity":"1.792161878","price":"2907.15","time":"2026-01-31T04:30:00Z"}"#;
        let fill: FillRecord = serde_json::from_str(json).unwrap();
        assert_eq!(fill.quantity.to_string(), "1.792161878");
        assert_eq!(fill.fee, Decimal::ZERO);
        fill.validate().unwrap();
        let back = serde_json::to_value(&fill).unwrap();
        assert_eq!(back["price"], "2907.15");
        let bad: FillRecord = serde_json::from_str(&json.replace("buy", "hold")).unwrap();
        assert!(bad.validate().unwrap_err().contains("side"));
        assert!(
            serde_json::from_str::<FillRecord>(&json.replace("\"id\"", "\"extra\":1,\"id\""))
                .is_err()
        );
    }
}
