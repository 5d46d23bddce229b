//! Client for Alpaca's Trading API v2 (brokerage): account, positions, open orders, account
//! activities, portfolio history and the market calendar and clock, for the exporter to watch what the trading system holds.
//!
//! Why its own client and not the `apca` crate: `apca` is GPL-3.0, which this MIT project cannot
//! take in, and it has no portfolio-history call. Only the handful of read-only calls the
//! exporter needs are here, and nothing that places orders.
//!
//! Money stays exact end to end: every amount, price and quantity is a
//! [`rust_decimal::Decimal`], never an `f64`. Alpaca sends most of them as decimal strings and
//! portfolio history as JSON numbers; the crate's serde_json runs in arbitrary-precision mode, so
//! both are read digit for digit (`"262113.632"` and `103820.56` stay exactly that), and
//! serialising writes them back as JSON strings.
//!
//! Behaviour (see [`Client`]): a client-side sliding-window rate limiter (200 requests a minute
//! by default) that also pauses when Alpaca's `X-Ratelimit-Remaining` reaches 0; retries with
//! exponential backoff on 429 (honouring `Retry-After`), 5xx, connection errors and timeouts;
//! an immediate, explicit error on 401/403 (wrong keys, or paper keys against the live endpoint
//! and vice versa); Alpaca's own `message` on other refusals; and a parse error that names the
//! endpoint and the field, never a panic. The secret key is never logged or printed.

pub mod activity;
pub mod calendar;
pub mod client;
pub mod config;
pub mod error;
pub mod model;
pub mod portfolio;
pub mod rate_limit;
mod serde_util;

pub use activity::{
    ActivitiesQuery, Activity, DEFAULT_ACTIVITY_TYPES, Direction, FillType,
    MAX_ACTIVITIES_PAGE_SIZE, NonTradeActivity, OtherActivity, TradeActivity, TradeSide,
};
pub use calendar::{Clock, MarketDay};
pub use client::{Client, KEY_ID_HEADER, MAX_ORDERS_PAGE_SIZE, SECRET_KEY_HEADER};
pub use config::{ClientConfig, LIVE_BASE_URL, PAPER_BASE_URL, SecretKey};
pub use error::AlpacaError;
pub use model::{Account, Order, Position, PositionSide};
pub use portfolio::{PortfolioHistory, PortfolioPoint};
pub use rate_limit::RateLimiter;
