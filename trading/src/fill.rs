//! The input of every computation here: one execution (fill) as the broker reports it.
//!
//! A fill is kept as close to the broker's record as possible (unsigned quantity, a side, the
//! fee charged on it) so that everything derived from it (trades, P&L, calendars) can be traced
//! back to the fill ids that produced it.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::TradingError;

/// Direction of a fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Bought: adds to a long position or covers a short one.
    Buy,
    /// Sold: reduces a long position or adds to a short one (a broker `sell_short` is a `Sell`).
    Sell,
}

impl Side {
    /// Maps a broker side string (`buy`, `sell`, `sell_short`, any case) to a [`Side`].
    ///
    /// Whether a sale opens a short or closes a long is decided by the position at the time,
    /// not by the broker's label, so `sell_short` and `sell` both map to [`Side::Sell`].
    pub fn from_broker(side: &str) -> Result<Self, TradingError> {
        match side.trim().to_ascii_lowercase().as_str() {
            "buy" | "buy_to_cover" => Ok(Self::Buy),
            "sell" | "sell_short" | "short" => Ok(Self::Sell),
            _ => Err(TradingError::UnknownSide {
                side: side.to_owned(),
            }),
        }
    }

    /// +1 for a buy, -1 for a sell: the sign this side gives a quantity in a signed position.
    pub fn sign(self) -> Decimal {
        match self {
            Self::Buy => Decimal::ONE,
            Self::Sell => Decimal::NEGATIVE_ONE,
        }
    }
}

/// One execution: `quantity` units of `symbol` bought or sold at `price`, with `fee` charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// Broker id of the fill; ties between fills at the same time are broken by it.
    pub id: String,
    /// Instrument symbol, e.g. `AAPL`.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// Units filled; always > 0 (the side gives the direction).
    pub quantity: Decimal,
    /// Price per unit, in the account currency.
    pub price: Decimal,
    /// Fee charged on this fill, in the account currency; >= 0.
    pub fee: Decimal,
    /// When the fill executed.
    pub time: DateTime<Utc>,
    /// Strategy tag the trading system put on the order, where it has one.
    pub strategy: Option<String>,
}

impl From<exporter_protocol::brokerage::FillRecord> for Fill {
    /// A fill as stored (its side already normalised to `buy` or `sell`; anything but `buy`
    /// reads as a sale).
    fn from(record: exporter_protocol::brokerage::FillRecord) -> Self {
        Self {
            side: if record.side == "buy" {
                Side::Buy
            } else {
                Side::Sell
            },
            id: record.id,
            symbol: record.symbol,
            quantity: record.quantity,
            price: record.price,
            fee: record.fee,
            time: record.time,
            strategy: record.strategy,
        }
    }
}

impl Fill {
    /// Checks the fill's invariants: `quantity > 0` and `fee >= 0`.
    pub fn validate(&self) -> Result<(), TradingError> {
        if self.quantity <= Decimal::ZERO {
            return Err(TradingError::NonPositiveQuantity {
                fill_id: self.id.clone(),
                quantity: self.quantity,
            });
        }
        if self.fee < Decimal::ZERO {
            return Err(TradingError::NegativeFee {
                fill_id: self.id.clone(),
                fee: self.fee,
            });
        }
        Ok(())
    }

    /// `price * quantity`: the fill's traded value in the account currency.
    pub fn notional(&self) -> Decimal {
        self.price * self.quantity
    }
}
