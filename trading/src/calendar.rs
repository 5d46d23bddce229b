//! The P&L calendar: a month as a grid of days, and a year as twelve month summaries.
//!
//! This is the view traders use to see at a glance which days made or lost money. It is built
//! from [`DailyPnl`] rows (already attributed to trading days), so it inherits their time zone
//! and attribution rules. A *trading day* here is a date that has a `DailyPnl` row; other dates
//! are shown with 0 P&L and 0 trades. "Best" and "worst" days are the trading days with the
//! highest and lowest P&L (the earliest on a tie), even when the best one lost money.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::{DailyPnl, TradingError};

/// One date of the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CalendarDay {
    /// The date.
    pub date: NaiveDate,
    /// Net realised P&L attributed to the date (0 when there is no row for it).
    pub pnl: Decimal,
    /// Trades closed on the date.
    pub trades: u32,
}

/// A month laid out as Monday-first weeks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthCalendar {
    /// The year.
    pub year: i32,
    /// The month, 1 = January.
    pub month: u32,
    /// Rows of seven cells, Monday first; cells outside the month are `None`.
    pub weeks: Vec<[Option<CalendarDay>; 7]>,
    /// Sum of each row's P&L, one per entry of `weeks`.
    pub week_totals: Vec<Decimal>,
    /// Sum of the month's P&L.
    pub month_total: Decimal,
    /// Trading day with the highest P&L; `None` when the month has no trading day.
    pub best_day: Option<CalendarDay>,
    /// Trading day with the lowest P&L; `None` when the month has no trading day.
    pub worst_day: Option<CalendarDay>,
    /// Dates in the month that have a `DailyPnl` row.
    pub trading_days: u32,
}

/// One month of a year's summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MonthSummary {
    /// The month, 1 = January.
    pub month: u32,
    /// Sum of the month's P&L.
    pub pnl: Decimal,
    /// Dates in the month that have a `DailyPnl` row.
    pub trading_days: u32,
    /// Trading days with P&L > 0.
    pub winning_days: u32,
    /// Trading days with P&L < 0.
    pub losing_days: u32,
    /// Trading day with the highest P&L; `None` when the month has no trading day.
    pub best_day: Option<CalendarDay>,
    /// Trading day with the lowest P&L; `None` when the month has no trading day.
    pub worst_day: Option<CalendarDay>,
}

/// Running sums of one month.
#[derive(Debug, Clone, Copy)]
struct MonthAccumulator {
    pnl: Decimal,
    trading_days: u32,
    winning_days: u32,
    losing_days: u32,
    best_day: Option<CalendarDay>,
    worst_day: Option<CalendarDay>,
}

impl MonthAccumulator {
    const EMPTY: Self = Self {
        pnl: Decimal::ZERO,
        trading_days: 0,
        winning_days: 0,
        losing_days: 0,
        best_day: None,
        worst_day: None,
    };

    /// Adds one trading day (dates must come in ascending order for "earliest on a tie").
    fn add(&mut self, day: CalendarDay) {
        self.pnl += day.pnl;
        self.trading_days += 1;
        if day.pnl > Decimal::ZERO {
            self.winning_days += 1;
        } else if day.pnl < Decimal::ZERO {
            self.losing_days += 1;
        }
        if self.best_day.is_none_or(|best| day.pnl > best.pnl) {
            self.best_day = Some(day);
        }
        if self.worst_day.is_none_or(|worst| day.pnl < worst.pnl) {
            self.worst_day = Some(day);
        }
    }
}

/// The trading days of `daily` within `[first, next_first)`, merged by date (rows for the same
/// date are added up) and in date order.
fn days_between(daily: &[DailyPnl], first: NaiveDate, next_first: NaiveDate) -> Vec<CalendarDay> {
    let mut days: Vec<CalendarDay> = daily
        .iter()
        .filter(|row| row.date >= first && row.date < next_first)
        .map(|row| CalendarDay {
            date: row.date,
            pnl: row.realised_pnl,
            trades: row.trades_closed,
        })
        .collect();
    days.sort_by_key(|day| day.date);
    days.dedup_by(|later, earlier| {
        let same = later.date == earlier.date;
        if same {
            earlier.pnl += later.pnl;
            earlier.trades += later.trades;
        }
        same
    });
    days
}

/// First day of `month` in `year`, or the error naming them.
fn first_of_month(year: i32, month: u32) -> Result<NaiveDate, TradingError> {
    NaiveDate::from_ymd_opt(year, month, 1).ok_or(TradingError::InvalidMonth { year, month })
}

/// First day of the month after `month` in `year`.
fn first_of_next_month(year: i32, month: u32) -> Result<NaiveDate, TradingError> {
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(next_year, next_month, 1)
        .ok_or(TradingError::InvalidMonth { year, month })
}

/// Lays out `month` (1..=12) of `year` as Monday-first weeks with the P&L of `daily`.
///
/// Rows of `daily` outside the month are ignored; several rows for one date are added up.
pub fn month_calendar(
    daily: &[DailyPnl],
    year: i32,
    month: u32,
) -> Result<MonthCalendar, TradingError> {
    let first = first_of_month(year, month)?;
    let next_first = first_of_next_month(year, month)?;
    let trading = days_between(daily, first, next_first);

    let mut accumulator = MonthAccumulator::EMPTY;
    trading.iter().for_each(|&day| accumulator.add(day));

    let mut weeks: Vec<[Option<CalendarDay>; 7]> = Vec::new();
    let mut week_totals: Vec<Decimal> = Vec::new();
    let mut trading_iter = trading.iter().peekable();
    let mut column = first.weekday().num_days_from_monday() as usize;
    let mut week = [None; 7];
    let mut week_total = Decimal::ZERO;
    for date in first.iter_days().take_while(|date| *date < next_first) {
        let cell = match trading_iter.next_if(|day| day.date == date) {
            Some(&day) => day,
            None => CalendarDay {
                date,
                pnl: Decimal::ZERO,
                trades: 0,
            },
        };
        week_total += cell.pnl;
        week[column] = Some(cell);
        column += 1;
        if column == 7 {
            weeks.push(week);
            week_totals.push(week_total);
            week = [None; 7];
            week_total = Decimal::ZERO;
            column = 0;
        }
    }
    if column > 0 {
        weeks.push(week);
        week_totals.push(week_total);
    }

    Ok(MonthCalendar {
        year,
        month,
        weeks,
        week_totals,
        month_total: accumulator.pnl,
        best_day: accumulator.best_day,
        worst_day: accumulator.worst_day,
        trading_days: accumulator.trading_days,
    })
}

/// Summarises each month of `year`: always 12 entries, January first.
///
/// Rows of `daily` outside the year are ignored; several rows for one date are added up.
pub fn year_calendar(daily: &[DailyPnl], year: i32) -> Vec<MonthSummary> {
    let mut months = [MonthAccumulator::EMPTY; 12];
    let bounds = NaiveDate::from_ymd_opt(year, 1, 1).zip(NaiveDate::from_ymd_opt(year + 1, 1, 1));
    if let Some((first, next_first)) = bounds {
        for day in days_between(daily, first, next_first) {
            months[day.date.month0() as usize].add(day);
        }
    }
    (1..)
        .zip(months)
        .map(|(month, acc)| MonthSummary {
            month,
            pnl: acc.pnl,
            trading_days: acc.trading_days,
            winning_days: acc.winning_days,
            losing_days: acc.losing_days,
            best_day: acc.best_day,
            worst_day: acc.worst_day,
        })
        .collect()
}
