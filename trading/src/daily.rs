//! Puts realised P&L on the trading day it was made.
//!
//! A trader's day is the exchange's calendar day, not UTC's: a fill at 23:30 in New York on
//! 31 January is 04:30 UTC on 1 February, yet it belongs to January. This module converts fill
//! times to the calendar date in the exchange time zone (daylight saving included, through the
//! IANA database in `chrono-tz`) and sums each day's realised P&L.
//!
//! # Rules
//!
//! * A trading day is the calendar date of the fill's time in the chosen time zone
//!   ([`DEFAULT_TIMEZONE`], `America/New_York`, unless told otherwise). There is no session
//!   cut-off: after-hours fills stay on their calendar date.
//! * Realised P&L and realised fees go on the day of each realising (exit) fill, from the
//!   trades' [`Realisation`](crate::Realisation)s; a trade closed over several days spreads its
//!   P&L over them.
//! * `trades_closed`, `wins` and `losses` count trades on the day they closed, judged by the
//!   trade's whole `realised_pnl` (> 0 win, < 0 loss, 0 neither).
//! * Cash flows ([`crate::cash`]) go on their own date: fees not charged to a trade as
//!   `account_fees`, dividends and interest as `income`, deposits minus withdrawals as
//!   `net_deposits`; `net_pnl = realised_pnl − account_fees + income`. Deposits are not P&L.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::Trade;
use crate::cash::{CashFlow, CashKind};

/// The time zone trading days are counted in unless the caller chooses another.
pub const DEFAULT_TIMEZONE: Tz = chrono_tz::America::New_York;

/// The trading day (calendar date in `tz`) that `time` falls on.
pub fn trading_day(time: DateTime<Utc>, tz: Tz) -> NaiveDate {
    time.with_timezone(&tz).date_naive()
}

/// Realised P&L of one trading day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyPnl {
    /// The trading day (calendar date in the chosen time zone).
    pub date: NaiveDate,
    /// Net P&L realised by the day's exit fills (after the fees realised with them).
    pub realised_pnl: Decimal,
    /// Fees deducted in `realised_pnl`: the exit fills' fees plus the entry fees they realised.
    pub fees: Decimal,
    /// Trades that closed on this day.
    pub trades_closed: u32,
    /// Of those, trades whose whole realised P&L is > 0.
    pub wins: u32,
    /// Of those, trades whose whole realised P&L is < 0.
    pub losses: u32,
    /// Fees the broker charged on the day that name no known order (charged to no trade),
    /// positive: not in `realised_pnl`, taken out in `net_pnl`.
    pub account_fees: Decimal,
    /// Dividends and interest of the day, net of withholding.
    pub income: Decimal,
    /// Deposits minus withdrawals of the day: cash moved in or out, not performance.
    pub net_deposits: Decimal,
    /// `realised_pnl − account_fees + income`.
    pub net_pnl: Decimal,
}

impl DailyPnl {
    /// A day with nothing on it yet.
    pub fn empty(date: NaiveDate) -> Self {
        Self {
            date,
            realised_pnl: Decimal::ZERO,
            fees: Decimal::ZERO,
            trades_closed: 0,
            wins: 0,
            losses: 0,
            account_fees: Decimal::ZERO,
            income: Decimal::ZERO,
            net_deposits: Decimal::ZERO,
            net_pnl: Decimal::ZERO,
        }
    }

    /// Whether the day has a trading number (a realisation, a close, a fee or income), not
    /// only deposits or withdrawals.
    pub fn has_trading(&self) -> bool {
        self.trades_closed > 0
            || !self.realised_pnl.is_zero()
            || !self.fees.is_zero()
            || !self.account_fees.is_zero()
            || !self.income.is_zero()
    }
}

/// The days being summed: rows in first-seen order, an index by date, and the last row used
/// (fills come mostly in time order, so consecutive realisations usually hit the same day).
#[derive(Debug, Default)]
struct DayTable {
    rows: Vec<DailyPnl>,
    index: HashMap<NaiveDate, usize>,
    last: Option<(NaiveDate, usize)>,
}

impl DayTable {
    /// The row of `date`, created empty if new.
    fn row(&mut self, date: NaiveDate) -> &mut DailyPnl {
        let slot = match self.last {
            Some((last_date, slot)) if last_date == date => slot,
            _ => {
                let rows = &mut self.rows;
                let slot = *self.index.entry(date).or_insert_with(|| {
                    rows.push(DailyPnl::empty(date));
                    rows.len() - 1
                });
                self.last = Some((date, slot));
                slot
            }
        };
        &mut self.rows[slot]
    }
}

/// Realised P&L per trading day in `tz`, for days from `from` to `to` (both inclusive, either
/// open-ended when `None`), in date order; only days with a realisation or a close appear.
///
/// See the [module documentation](self) for the attribution rules. Cost: one time-zone
/// conversion per realisation, then a sort of the days.
pub fn daily_pnl(
    trades: &[Trade],
    tz: Tz,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Vec<DailyPnl> {
    daily_pnl_with_cash(trades, &[], tz, from, to)
}

/// [`daily_pnl`] with the account's cash flows: days with a fee, income or a deposit appear
/// too, with `account_fees`, `income`, `net_deposits` and `net_pnl` (see the
/// [module documentation](self)). Fees already charged to a trade (`trade_id` set, by
/// [`crate::charge_order_fees`]) are in the trade's realisations, not counted again.
pub fn daily_pnl_with_cash(
    trades: &[Trade],
    flows: &[CashFlow],
    tz: Tz,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Vec<DailyPnl> {
    let in_range = |date: NaiveDate| from.is_none_or(|f| date >= f) && to.is_none_or(|t| date <= t);
    let mut days = DayTable::default();
    for trade in trades {
        let mut last_date = None;
        for realisation in &trade.realisations {
            let date = trading_day(realisation.time, tz);
            last_date = Some(date);
            if in_range(date) {
                let day = days.row(date);
                day.realised_pnl += realisation.pnl;
                day.fees += realisation.fees;
            }
        }
        let Some(closed_at) = trade.closed_at else {
            continue;
        };
        // A trade closes at its last realisation's time, so that date is usually known already.
        let date = match (last_date, trade.realisations.last()) {
            (Some(date), Some(last)) if last.time == closed_at => date,
            _ => trading_day(closed_at, tz),
        };
        if in_range(date) {
            let day = days.row(date);
            day.trades_closed += 1;
            if trade.realised_pnl > Decimal::ZERO {
                day.wins += 1;
            } else if trade.realised_pnl < Decimal::ZERO {
                day.losses += 1;
            }
        }
    }
    with_cash(days, flows, from, to)
}

/// The day rows of trades (`days`, any order) with the cash flows of `flows` in range added,
/// `net_pnl` set, in date order.
fn with_cash(
    mut days: DayTable,
    flows: &[CashFlow],
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Vec<DailyPnl> {
    let in_range = |date: NaiveDate| from.is_none_or(|f| date >= f) && to.is_none_or(|t| date <= t);
    for flow in flows.iter().filter(|f| in_range(f.date)) {
        match flow.kind {
            CashKind::Fee if flow.trade_id.is_none() => {
                days.row(flow.date).account_fees -= flow.amount
            }
            CashKind::Income => days.row(flow.date).income += flow.amount,
            CashKind::Deposit | CashKind::Withdrawal => {
                days.row(flow.date).net_deposits += flow.amount;
            }
            CashKind::Fee | CashKind::Other => {}
        }
    }
    let mut rows = days.rows;
    for row in &mut rows {
        row.net_pnl = row.realised_pnl - row.account_fees + row.income;
    }
    rows.sort_unstable_by_key(|row| row.date);
    rows
}

/// [`daily_pnl_with_cash`] from day rows of the trades already summed (`rows`, date order,
/// each date once): what [`crate::Ledger`] keeps.
pub(crate) fn rows_with_cash(
    rows: Vec<DailyPnl>,
    flows: &[CashFlow],
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Vec<DailyPnl> {
    let mut days = DayTable::default();
    for (slot, row) in rows.iter().enumerate() {
        days.index.insert(row.date, slot);
    }
    days.rows = rows;
    with_cash(days, flows, from, to)
}
