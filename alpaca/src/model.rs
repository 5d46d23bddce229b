//! The account, its positions and its orders, as Alpaca's Trading API v2 describes them.
//!
//! Every amount, price and quantity is a [`Decimal`]: Alpaca sends them as decimal strings (and
//! a few as JSON numbers), and both are read digit for digit; serialising writes them back as
//! JSON strings. Fields Alpaca documents as nullable, or does not send on every account, are
//! `Option`s; unknown fields are ignored so an API addition never breaks the exporter.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `GET /v2/account`: balances, buying power and the flags that stop trading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// Account id (UUID).
    pub id: String,
    /// The account number shown to the owner.
    pub account_number: String,
    /// `ACTIVE`, `ONBOARDING`, `ACCOUNT_UPDATED`, ...
    pub status: String,
    /// Status of crypto trading, where enabled.
    #[serde(default)]
    pub crypto_status: Option<String>,
    /// Currency of the amounts, `USD`.
    pub currency: String,
    /// Cash balance (negative when borrowing on margin).
    pub cash: Decimal,
    /// Cash + long market value + short market value.
    pub equity: Decimal,
    /// Equity at the previous trading day's close.
    pub last_equity: Decimal,
    /// Current buying power.
    pub buying_power: Decimal,
    /// Regulation T buying power.
    #[serde(default)]
    pub regt_buying_power: Option<Decimal>,
    /// Day-trading buying power.
    #[serde(default)]
    pub daytrading_buying_power: Option<Decimal>,
    /// Effective buying power (the lower of the above, where Alpaca reports it).
    #[serde(default)]
    pub effective_buying_power: Option<Decimal>,
    /// Buying power for non-marginable securities.
    #[serde(default)]
    pub non_marginable_buying_power: Option<Decimal>,
    /// Options buying power.
    #[serde(default)]
    pub options_buying_power: Option<Decimal>,
    /// Same as `equity` (deprecated by Alpaca).
    #[serde(default)]
    pub portfolio_value: Option<Decimal>,
    /// Market value of long positions.
    pub long_market_value: Decimal,
    /// Market value of short positions (zero or negative).
    pub short_market_value: Decimal,
    /// Initial margin requirement.
    pub initial_margin: Decimal,
    /// Maintenance margin requirement.
    pub maintenance_margin: Decimal,
    /// Maintenance margin at the previous close.
    #[serde(default)]
    pub last_maintenance_margin: Option<Decimal>,
    /// Special memorandum account value.
    #[serde(default)]
    pub sma: Option<Decimal>,
    /// Buying-power multiplier: 1 (cash), 2 (margin) or 4 (pattern day trader).
    pub multiplier: Decimal,
    /// Fees accrued and not yet charged.
    #[serde(default)]
    pub accrued_fees: Option<Decimal>,
    /// Cash transfers on their way in.
    #[serde(default)]
    pub pending_transfer_in: Option<Decimal>,
    /// Cash transfers on their way out.
    #[serde(default)]
    pub pending_transfer_out: Option<Decimal>,
    /// Day trades in the last five trading days.
    pub daytrade_count: u32,
    /// Flagged as a pattern day trader.
    pub pattern_day_trader: bool,
    /// No trading allowed.
    pub trading_blocked: bool,
    /// No transfers allowed.
    pub transfers_blocked: bool,
    /// The whole account is blocked.
    pub account_blocked: bool,
    /// Trading suspended by the owner.
    pub trade_suspended_by_user: bool,
    /// Short selling allowed.
    pub shorting_enabled: bool,
    /// Options level approved by Alpaca (sent as `"1"` or `1`).
    #[serde(default, deserialize_with = "crate::serde_util::opt_u32_lenient")]
    pub options_approved_level: Option<u32>,
    /// Options level in effect (sent as `"1"` or `1`).
    #[serde(default, deserialize_with = "crate::serde_util::opt_u32_lenient")]
    pub options_trading_level: Option<u32>,
    /// Date the balances were computed, where sent.
    #[serde(default)]
    pub balance_asof: Option<String>,
    /// When the account was opened.
    pub created_at: DateTime<Utc>,
}

/// Long or short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionSide {
    /// Owns the asset.
    Long,
    /// Owes the asset.
    Short,
    /// A value this client does not know.
    #[serde(other)]
    Other,
}

/// One entry of `GET /v2/positions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Asset id (UUID).
    pub asset_id: String,
    /// Ticker, e.g. `AAPL` or `BTC/USD`.
    pub symbol: String,
    /// Listing exchange.
    #[serde(default)]
    pub exchange: Option<String>,
    /// `us_equity`, `crypto`, `us_option`.
    #[serde(default)]
    pub asset_class: Option<String>,
    /// Whether the asset is marginable.
    #[serde(default)]
    pub asset_marginable: Option<bool>,
    /// Average entry price.
    pub avg_entry_price: Decimal,
    /// Quantity held (negative for shorts).
    pub qty: Decimal,
    /// Quantity not tied up in open orders.
    #[serde(default)]
    pub qty_available: Option<Decimal>,
    /// Long or short.
    pub side: PositionSide,
    /// Market value (null when no price is known).
    #[serde(default)]
    pub market_value: Option<Decimal>,
    /// Total cost of the position.
    pub cost_basis: Decimal,
    /// Unrealized profit or loss.
    #[serde(default)]
    pub unrealized_pl: Option<Decimal>,
    /// Unrealized profit or loss as a fraction (0.2 = 20 %).
    #[serde(default)]
    pub unrealized_plpc: Option<Decimal>,
    /// Unrealized profit or loss today.
    #[serde(default)]
    pub unrealized_intraday_pl: Option<Decimal>,
    /// Unrealized profit or loss today as a fraction.
    #[serde(default)]
    pub unrealized_intraday_plpc: Option<Decimal>,
    /// Latest price.
    #[serde(default)]
    pub current_price: Option<Decimal>,
    /// Previous close.
    #[serde(default)]
    pub lastday_price: Option<Decimal>,
    /// Change since the previous close as a fraction.
    #[serde(default)]
    pub change_today: Option<Decimal>,
}

/// One order of `GET /v2/orders` (with its legs for bracket / OCO / OTO orders).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Order id (UUID).
    pub id: String,
    /// The id the trading system gave it.
    pub client_order_id: String,
    /// When Alpaca created it.
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// When it was submitted.
    #[serde(default)]
    pub submitted_at: Option<DateTime<Utc>>,
    /// When it was completely filled.
    #[serde(default)]
    pub filled_at: Option<DateTime<Utc>>,
    /// When it expired.
    #[serde(default)]
    pub expired_at: Option<DateTime<Utc>>,
    /// When it was canceled.
    #[serde(default)]
    pub canceled_at: Option<DateTime<Utc>>,
    /// When it failed.
    #[serde(default)]
    pub failed_at: Option<DateTime<Utc>>,
    /// When it was replaced.
    #[serde(default)]
    pub replaced_at: Option<DateTime<Utc>>,
    /// The order that replaced it.
    #[serde(default)]
    pub replaced_by: Option<String>,
    /// The order it replaces.
    #[serde(default)]
    pub replaces: Option<String>,
    /// Asset id (UUID).
    #[serde(default)]
    pub asset_id: Option<String>,
    /// Ticker.
    pub symbol: String,
    /// `us_equity`, `crypto`, `us_option`.
    #[serde(default)]
    pub asset_class: Option<String>,
    /// Dollar amount ordered (for notional orders; `qty` is null then).
    #[serde(default)]
    pub notional: Option<Decimal>,
    /// Quantity ordered (null for notional orders).
    #[serde(default)]
    pub qty: Option<Decimal>,
    /// Quantity filled so far.
    pub filled_qty: Decimal,
    /// Average fill price (null before any fill).
    #[serde(default)]
    pub filled_avg_price: Option<Decimal>,
    /// `simple`, `bracket`, `oco`, `oto`, `mleg`.
    #[serde(default)]
    pub order_class: Option<String>,
    /// `market`, `limit`, `stop`, `stop_limit`, `trailing_stop`.
    #[serde(default)]
    pub order_type: Option<String>,
    /// Same as `order_type` (Alpaca's older name for it).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `buy` or `sell`.
    pub side: String,
    /// `day`, `gtc`, `opg`, `cls`, `ioc`, `fok`.
    pub time_in_force: String,
    /// Limit price.
    #[serde(default)]
    pub limit_price: Option<Decimal>,
    /// Stop price.
    #[serde(default)]
    pub stop_price: Option<Decimal>,
    /// `new`, `partially_filled`, `accepted`, `pending_new`, ...
    pub status: String,
    /// Eligible for extended hours.
    #[serde(default)]
    pub extended_hours: bool,
    /// Trailing stop distance as a percentage.
    #[serde(default)]
    pub trail_percent: Option<Decimal>,
    /// Trailing stop distance in dollars.
    #[serde(default)]
    pub trail_price: Option<Decimal>,
    /// High-water mark of a trailing stop. An unreadable value is read as `None` (Alpaca's own
    /// recorded examples send `"string"` here).
    #[serde(default, deserialize_with = "crate::serde_util::opt_decimal_lenient")]
    pub hwm: Option<Decimal>,
    /// Child orders of a bracket, OCO or OTO order.
    #[serde(default)]
    pub legs: Option<Vec<Order>>,
}
