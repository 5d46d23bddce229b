//! How numbers leave this crate: money booked to the cent, ratios as plain numbers.
//!
//! A broker books every realisation to the cent when it happens and every statement total is a
//! sum of those cents; a reader (a phone, a spreadsheet) wants `12.34`, not 28 decimals. So
//! each realised amount is rounded once, half to even, where it is realised ([`cents`]), and
//! totals are sums of booked cents (exact, so day, month, year and trade totals reconcile).
//! Ratios and percentages are not money: they leave as `f64` rounded to
//! [`RATIO_DECIMAL_PLACES`] decimal places ([`ratio_number`]), JSON numbers for programs.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

/// Decimal places of money as booked: cents.
pub const MONEY_DECIMAL_PLACES: u32 = 2;

/// Decimal places kept in a ratio or percentage before it becomes an `f64`.
pub const RATIO_DECIMAL_PLACES: u32 = 6;

/// Decimal places an average price keeps beyond the instrument's own price precision.
pub const AVERAGE_PRICE_EXTRA_DECIMAL_PLACES: u32 = 4;

/// `amount` booked to the cent, half to even (banker's rounding): 0.125 → 0.12, 0.135 → 0.14.
pub fn cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(MONEY_DECIMAL_PLACES, RoundingStrategy::MidpointNearestEven)
}

/// `amount × part / whole` in cents (half to even); the caller gives the last piece of a split
/// "what is left", so the pieces add up to the amount.
pub fn cents_pro_rata(amount: Decimal, part: Decimal, whole: Decimal) -> Decimal {
    cents(amount * part / whole)
}

/// A ratio or percentage as a JSON-friendly number, rounded to [`RATIO_DECIMAL_PLACES`].
pub fn ratio_number(value: Decimal) -> f64 {
    value
        .round_dp_with_strategy(RATIO_DECIMAL_PLACES, RoundingStrategy::MidpointNearestEven)
        .to_f64()
        .unwrap_or(f64::NAN)
}

/// `numerator / denominator` as a [`ratio_number`]; `None` when the denominator is 0.
pub fn ratio(numerator: Decimal, denominator: Decimal) -> Option<f64> {
    (!denominator.is_zero()).then(|| ratio_number(numerator / denominator))
}

/// Serialises money as booked (a JSON string of at most 2 decimals), for amounts kept with more
/// precision inside (a cost basis).
pub fn serialize_cents<S: serde::Serializer>(
    amount: &Decimal,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&cents(*amount), serializer)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn half_cents_go_to_the_even_cent() {
        assert_eq!(cents(d("0.125")), d("0.12"));
        assert_eq!(cents(d("0.135")), d("0.14"));
        assert_eq!(cents(d("-0.125")), d("-0.12"));
        assert_eq!(cents(d("-0.135")), d("-0.14"));
        assert_eq!(cents(d("0.1251")), d("0.13"));
        assert_eq!(cents(d("2.5")), d("2.5"));
    }

    #[test]
    fn ratios_keep_six_decimals() {
        assert_eq!(ratio(d("71"), d("158")), Some(0.449367));
        assert_eq!(ratio(d("1"), d("0")), None);
        assert_eq!(ratio_number(d("2")), 2.0);
    }
}
