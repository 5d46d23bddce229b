//! The trading numbers derived from the stored fills and equity, computed here once for every
//! reader: the API's `/trades/*` endpoints and the alert engine's derived series
//! (`trading.realized_pnl_today`, `portfolio.drawdown_percent`) both call these.

use std::ops::{Div, Mul, Sub};

use chrono::NaiveDate;
use chrono_tz::Tz;
use exporter_protocol::brokerage::{CashActivity, FillRecord};
use rust_decimal::Decimal;

use crate::{
    CashFlow, CostBasis, Fill, Trade, build_trades_with, cash_flows, charge_order_fees, daily_pnl,
};

/// The trades of the stored fills (as the store returns them, oldest first), lots matched by
/// `method` (the `trading.cost_basis` setting).
pub fn trades_from_records(records: Vec<FillRecord>, method: CostBasis) -> Vec<Trade> {
    let fills: Vec<Fill> = records.into_iter().map(Fill::from).collect();
    build_trades_with(&fills, method)
}

/// The account's trades and cash flows from the stored fills and non-trade activities: the
/// trades of [`trades_from_records`], with every fee that names one of their orders charged to
/// them ([`charge_order_fees`], days counted in `tz`).
pub fn account_from_records(
    records: Vec<FillRecord>,
    activities: &[CashActivity],
    method: CostBasis,
    tz: Tz,
) -> (Vec<Trade>, Vec<CashFlow>) {
    let fills: Vec<Fill> = records.iter().cloned().map(Fill::from).collect();
    let mut trades = build_trades_with(&fills, method);
    let mut flows = cash_flows(activities);
    charge_order_fees(&mut trades, &records, &mut flows, tz);
    (trades, flows)
}

/// Realised P&L of the trading day `day` (calendar date in `tz`): zero on a day without any.
pub fn realised_pnl_on(trades: &[Trade], tz: Tz, day: NaiveDate) -> Decimal {
    daily_pnl(trades, tz, Some(day), Some(day))
        .first()
        .map(|row| row.realised_pnl)
        .unwrap_or_default()
}

/// How far `equity` is below `peak`, in percent of the peak: `(peak − equity) / peak × 100`;
/// `None` when the peak is not above zero. Exact for [`Decimal`] (the statistics), and the same
/// formula for `f64` (the alert engine's live series).
pub fn drawdown_percent<T>(peak: T, equity: T) -> Option<T>
where
    T: Copy + PartialOrd + Default + From<u8> + Sub<Output = T> + Div<Output = T> + Mul<Output = T>,
{
    (peak > T::default()).then(|| (peak - equity) / peak * T::from(100))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{build_trades, sample_fills};

    #[test]
    fn drawdown_is_the_fall_below_the_peak_in_percent() {
        assert_eq!(drawdown_percent(100_000.0, 89_000.0), Some(11.0));
        assert_eq!(
            drawdown_percent(Decimal::from(200), Decimal::from(150)),
            Some(Decimal::from(25))
        );
        assert_eq!(drawdown_percent(0.0, 10.0), None);
    }

    #[test]
    fn one_day_of_realised_pnl_is_that_row_of_the_daily_table() {
        let fills = sample_fills(500, 3);
        let trades = build_trades(&fills);
        let tz = crate::DEFAULT_TIMEZONE;
        let days = daily_pnl(&trades, tz, None, None);
        let busy = days.iter().find(|d| !d.realised_pnl.is_zero()).unwrap();
        assert_eq!(realised_pnl_on(&trades, tz, busy.date), busy.realised_pnl);
        let quiet = NaiveDate::from_ymd_opt(1999, 1, 1).unwrap();
        assert_eq!(realised_pnl_on(&trades, tz, quiet), Decimal::ZERO);
    }
}
