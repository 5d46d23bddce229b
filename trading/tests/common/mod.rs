//! Helpers shared by the integration tests: terse constructors for fills, decimals and times.

#![allow(dead_code)]

use std::str::FromStr;

use chrono::{DateTime, Utc};
use exporter_trading::{Fill, Side};
use rust_decimal::Decimal;

/// A decimal from its text, e.g. `d("10.50")`.
pub fn d(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

/// A UTC time from RFC 3339 text, e.g. `t("2026-01-05T15:00:00Z")`.
pub fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// A fill with no strategy tag.
pub fn fill(
    id: &str,
    symbol: &str,
    side: Side,
    quantity: &str,
    price: &str,
    fee: &str,
    time: &str,
) -> Fill {
    Fill {
        id: id.to_owned(),
        symbol: symbol.to_owned(),
        side,
        quantity: d(quantity),
        price: d(price),
        fee: d(fee),
        time: t(time),
        strategy: None,
    }
}

/// A buy.
pub fn buy(id: &str, symbol: &str, quantity: &str, price: &str, fee: &str, time: &str) -> Fill {
    fill(id, symbol, Side::Buy, quantity, price, fee, time)
}

/// A sell.
pub fn sell(id: &str, symbol: &str, quantity: &str, price: &str, fee: &str, time: &str) -> Fill {
    fill(id, symbol, Side::Sell, quantity, price, fee, time)
}
