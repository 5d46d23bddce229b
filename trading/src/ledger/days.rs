//! The realised P&L of every trading day, kept as trades come and go, so a day, a month or a
//! year is read without going over every trade's realisations again.
//!
//! Each trade adds its realisations to the days they fell on and its close to the day it closed
//! ([`crate::daily`] gives the rules); taking a trade out subtracts the same amounts. Decimal
//! sums keep the largest scale of their terms, and a subtraction would leave the scale of a term
//! no longer there, so [`ExactSum`] counts the terms of each scale and gives the sum at the
//! scale a fresh sum of the remaining terms would have: the numbers are the same to the byte.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::{DailyPnl, Trade, trading_day};

/// Largest scale a [`Decimal`] has.
const SCALES: usize = 29;

/// A sum of decimals from which terms can be taken out again, given at the scale of a fresh
/// sum of the terms it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExactSum {
    value: Decimal,
    scales: [u32; SCALES],
}

impl Default for ExactSum {
    fn default() -> Self {
        Self {
            value: Decimal::ZERO,
            scales: [0; SCALES],
        }
    }
}

impl ExactSum {
    pub(crate) fn add(&mut self, term: Decimal) {
        self.value += term;
        self.scales[term.scale() as usize] += 1;
    }

    pub(crate) fn remove(&mut self, term: Decimal) {
        self.value -= term;
        let count = &mut self.scales[term.scale() as usize];
        *count = count.saturating_sub(1);
    }

    /// `0 + term + term + …` of the terms held.
    pub(crate) fn get(&self) -> Decimal {
        let scale = self.scales.iter().rposition(|&n| n > 0).unwrap_or(0) as u32;
        let mut value = self.value;
        value.rescale(scale);
        if value.is_zero() {
            value.set_sign_positive(true);
        }
        value
    }
}

/// One day's sums.
#[derive(Debug, Clone, Default)]
struct DayTotals {
    /// Realisations and closes on the day: the row exists while this is above 0.
    entries: u32,
    realised_pnl: ExactSum,
    fees: ExactSum,
    trades_closed: u32,
    wins: u32,
    losses: u32,
}

/// Every trading day's realised P&L, fees and closes.
#[derive(Debug, Clone)]
pub(crate) struct DayBook {
    tz: Tz,
    days: BTreeMap<NaiveDate, DayTotals>,
}

impl DayBook {
    pub(crate) fn new(tz: Tz) -> Self {
        Self {
            tz,
            days: BTreeMap::new(),
        }
    }

    /// Adds (`add`) or takes out the realisations and the close of `trade`.
    pub(crate) fn account(&mut self, trade: &Trade, add: bool) {
        for realisation in &trade.realisations {
            let date = trading_day(realisation.time, self.tz);
            let day = self.days.entry(date).or_default();
            if add {
                day.entries += 1;
                day.realised_pnl.add(realisation.pnl);
                day.fees.add(realisation.fees);
            } else {
                day.entries = day.entries.saturating_sub(1);
                day.realised_pnl.remove(realisation.pnl);
                day.fees.remove(realisation.fees);
            }
            self.drop_if_empty(date);
        }
        let Some(closed_at) = trade.closed_at else {
            return;
        };
        let date = trading_day(closed_at, self.tz);
        let day = self.days.entry(date).or_default();
        let (win, loss) = (
            u32::from(trade.realised_pnl > Decimal::ZERO),
            u32::from(trade.realised_pnl < Decimal::ZERO),
        );
        if add {
            day.entries += 1;
            day.trades_closed += 1;
            day.wins += win;
            day.losses += loss;
        } else {
            day.entries = day.entries.saturating_sub(1);
            day.trades_closed = day.trades_closed.saturating_sub(1);
            day.wins = day.wins.saturating_sub(win);
            day.losses = day.losses.saturating_sub(loss);
        }
        self.drop_if_empty(date);
    }

    fn drop_if_empty(&mut self, date: NaiveDate) {
        if self.days.get(&date).is_some_and(|d| d.entries == 0) {
            self.days.remove(&date);
        }
    }

    /// The days from `from` to `to` (inclusive, open-ended when `None`) that have a realisation
    /// or a close, in date order, as [`crate::daily_pnl`] gives them.
    pub(crate) fn rows(&self, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Vec<DailyPnl> {
        let (Some(first), Some(last)) = (
            from.or(self.days.keys().next().copied()),
            to.or(self.days.keys().next_back().copied()),
        ) else {
            return Vec::new();
        };
        if first > last {
            return Vec::new();
        }
        self.days
            .range(first..=last)
            .map(|(&date, day)| {
                let realised_pnl = day.realised_pnl.get();
                DailyPnl {
                    realised_pnl,
                    fees: day.fees.get(),
                    trades_closed: day.trades_closed,
                    wins: day.wins,
                    losses: day.losses,
                    net_pnl: realised_pnl,
                    ..DailyPnl::empty(date)
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn a_sum_keeps_the_scale_of_the_terms_it_still_holds() {
        let mut sum = ExactSum::default();
        sum.add(d("10"));
        sum.add(d("0.50"));
        assert_eq!(sum.get().to_string(), "10.50");
        sum.remove(d("0.50"));
        assert_eq!(sum.get().to_string(), "10");
        sum.add(d("-10"));
        assert_eq!(sum.get().to_string(), (d("10") + d("-10")).to_string());
        assert_eq!(ExactSum::default().get().to_string(), "0");
    }
}
