//! Everything the trading computations can refuse, as one enum.
//!
//! The computations themselves are total (they never fail on well-formed data); errors come
//! only from input that cannot mean anything: a broker side this crate does not know, a fill
//! with a non-positive quantity or a negative fee, or a calendar month outside 1..=12.

/// An error from this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TradingError {
    /// A broker side string that is neither a buy nor a sell (`buy`, `sell`, `sell_short`).
    #[error("unknown fill side {side:?}: expected buy, sell or sell_short")]
    UnknownSide {
        /// The side as the broker sent it.
        side: String,
    },

    /// A fill whose quantity is zero or negative (quantities are unsigned; the side gives the
    /// direction).
    #[error("fill {fill_id}: quantity {quantity} is not positive")]
    NonPositiveQuantity {
        /// The fill's id.
        fill_id: String,
        /// The quantity it carried.
        quantity: rust_decimal::Decimal,
    },

    /// A fill whose fee is negative (rebates are not modelled).
    #[error("fill {fill_id}: fee {fee} is negative")]
    NegativeFee {
        /// The fill's id.
        fill_id: String,
        /// The fee it carried.
        fee: rust_decimal::Decimal,
    },

    /// A calendar month outside 1..=12, or a year chrono cannot represent.
    #[error("invalid calendar month {year}-{month}")]
    InvalidMonth {
        /// The year asked for.
        year: i32,
        /// The month asked for (1 = January).
        month: u32,
    },
}
