//! Day attribution in the exchange time zone (month ends, daylight saving) and the P&L
//! calendar (month grid, year summary).

#![allow(clippy::unwrap_used)]

mod common;

use chrono::{NaiveDate, Timelike};
use common::{buy, d, sell, t};
use exporter_trading::{
    CalendarDay, DEFAULT_TIMEZONE, DailyPnl, TradingError, build_trades, daily_pnl, month_calendar,
    trading_day, year_calendar,
};
use rust_decimal::Decimal;

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap()
}

fn row(date: NaiveDate, pnl: &str, trades: u32) -> DailyPnl {
    DailyPnl {
        date,
        realised_pnl: d(pnl),
        fees: Decimal::ZERO,
        trades_closed: trades,
        wins: 0,
        losses: 0,
        ..DailyPnl::empty(date)
    }
}

#[test]
fn late_evening_new_york_fill_belongs_to_its_local_day_and_month() {
    // 2026-02-01 04:30 UTC = 2026-01-31 23:30 EST (UTC-5): 31 January, hence January.
    let late = t("2026-02-01T04:30:00Z");
    assert_eq!(trading_day(late, DEFAULT_TIMEZONE), date(2026, 1, 31));
    assert_eq!(trading_day(late, chrono_tz::UTC), date(2026, 2, 1));

    // Buy 10 @ 100 at 15:00 EST on 31 Jan, sell 10 @ 105 (fee 1) at 23:30 EST: +49 on 31 Jan.
    let fills = [
        buy("b", "AAPL", "10", "100", "0", "2026-01-31T20:00:00Z"),
        sell("s", "AAPL", "10", "105", "1", "2026-02-01T04:30:00Z"),
    ];
    let trades = build_trades(&fills);
    let daily = daily_pnl(&trades, DEFAULT_TIMEZONE, None, None);
    assert_eq!(
        daily,
        [DailyPnl {
            date: date(2026, 1, 31),
            realised_pnl: d("49"),
            fees: d("1"),
            trades_closed: 1,
            wins: 1,
            losses: 0,
            net_pnl: d("49"),
            ..DailyPnl::empty(date(2026, 1, 31))
        }]
    );
    let year = year_calendar(&daily, 2026);
    assert_eq!(year[0].pnl, d("49"));
    assert_eq!(year[0].trading_days, 1);
    assert_eq!(year[1].pnl, Decimal::ZERO);
    assert_eq!(year[1].trading_days, 0);

    // In UTC the same P&L lands on 1 February.
    let utc = daily_pnl(&trades, chrono_tz::UTC, None, None);
    assert_eq!(utc[0].date, date(2026, 2, 1));
}

#[test]
fn daylight_saving_changes_map_to_the_right_day() {
    let ny = DEFAULT_TIMEZONE;
    // Spring forward, Sunday 2026-03-08: 02:00 EST (07:00 UTC) becomes 03:00 EDT.
    // 06:59:59 UTC = 01:59:59 EST on 8 March; 07:00 UTC = 03:00 EDT on 8 March.
    assert_eq!(trading_day(t("2026-03-08T06:59:59Z"), ny), date(2026, 3, 8));
    assert_eq!(t("2026-03-08T06:59:59Z").with_timezone(&ny).hour(), 1);
    assert_eq!(trading_day(t("2026-03-08T07:00:00Z"), ny), date(2026, 3, 8));
    assert_eq!(t("2026-03-08T07:00:00Z").with_timezone(&ny).hour(), 3);
    // 04:30 UTC on 8 March is still EST: 23:30 on 7 March.
    assert_eq!(trading_day(t("2026-03-08T04:30:00Z"), ny), date(2026, 3, 7));
    // 04:30 UTC on 9 March is EDT (UTC-4): 00:30 on 9 March (a fixed UTC-5 would say 8 March).
    assert_eq!(trading_day(t("2026-03-09T04:30:00Z"), ny), date(2026, 3, 9));

    // Fall back, Sunday 2026-11-01: 02:00 EDT (06:00 UTC) becomes 01:00 EST.
    // 01:30 EDT = 05:30 UTC and 01:30 EST = 06:30 UTC are both on 1 November.
    assert_eq!(
        trading_day(t("2026-11-01T05:30:00Z"), ny),
        date(2026, 11, 1)
    );
    assert_eq!(
        trading_day(t("2026-11-01T06:30:00Z"), ny),
        date(2026, 11, 1)
    );
    assert_eq!(t("2026-11-01T05:30:00Z").with_timezone(&ny).hour(), 1);
    assert_eq!(t("2026-11-01T06:30:00Z").with_timezone(&ny).hour(), 1);
    // 04:30 UTC on 1 November is EDT: 00:30 on 1 November (a fixed UTC-5 would say 31 October).
    assert_eq!(
        trading_day(t("2026-11-01T04:30:00Z"), ny),
        date(2026, 11, 1)
    );
    // 04:30 UTC on 2 November is EST: 23:30 on 1 November (a fixed UTC-4 would say 2 November).
    assert_eq!(
        trading_day(t("2026-11-02T04:30:00Z"), ny),
        date(2026, 11, 1)
    );

    // Through daily_pnl: exits at 01:30 EDT and 01:30 EST both realise on 1 November.
    // Long 2 @ 100; sell 1 @ 110 at 05:30Z (+10), sell 1 @ 90 at 06:30Z (-10).
    let fills = [
        buy("b", "SPY", "2", "100", "0", "2026-10-30T15:00:00Z"),
        sell("s1", "SPY", "1", "110", "0", "2026-11-01T05:30:00Z"),
        sell("s2", "SPY", "1", "90", "0", "2026-11-01T06:30:00Z"),
    ];
    let daily = daily_pnl(&build_trades(&fills), ny, None, None);
    assert_eq!(daily.len(), 1);
    assert_eq!(daily[0].date, date(2026, 11, 1));
    assert_eq!(daily[0].realised_pnl, Decimal::ZERO);
    assert_eq!(daily[0].trades_closed, 1);
    assert_eq!((daily[0].wins, daily[0].losses), (0, 0));
}

#[test]
fn partial_exits_spread_pnl_over_days_and_the_range_filters() {
    // Same trade as the partial-exit trade test: 78.6 (fees 1.4) on 5 Jan, -61.6 (fees 1.6)
    // on 6 Jan, where it closes as a win (17 net).
    let fills = [
        buy("b1", "NVDA", "100", "20", "1", "2026-01-05T15:00:00Z"),
        sell("s1", "NVDA", "40", "22", "1", "2026-01-05T20:00:00Z"),
        sell("s2", "NVDA", "60", "19", "1", "2026-01-06T15:00:00Z"),
    ];
    let trades = build_trades(&fills);
    let daily = daily_pnl(&trades, DEFAULT_TIMEZONE, None, None);
    assert_eq!(
        daily,
        [
            DailyPnl {
                date: date(2026, 1, 5),
                realised_pnl: d("78.6"),
                fees: d("1.4"),
                trades_closed: 0,
                wins: 0,
                losses: 0,
                net_pnl: d("78.6"),
                ..DailyPnl::empty(date(2026, 1, 5))
            },
            DailyPnl {
                date: date(2026, 1, 6),
                realised_pnl: d("-61.6"),
                fees: d("1.6"),
                trades_closed: 1,
                wins: 1,
                losses: 0,
                net_pnl: d("-61.6"),
                ..DailyPnl::empty(date(2026, 1, 6))
            },
        ]
    );
    let only_sixth = daily_pnl(&trades, DEFAULT_TIMEZONE, Some(date(2026, 1, 6)), None);
    assert_eq!(only_sixth, daily[1..]);
    let only_fifth = daily_pnl(&trades, DEFAULT_TIMEZONE, None, Some(date(2026, 1, 5)));
    assert_eq!(only_fifth, daily[..1]);
    let none = daily_pnl(
        &trades,
        DEFAULT_TIMEZONE,
        Some(date(2026, 1, 7)),
        Some(date(2026, 1, 31)),
    );
    assert!(none.is_empty());
}

#[test]
fn february_2026_grid_starts_on_a_sunday() {
    // 1 Feb 2026 is a Sunday (1 Jan 2026 is a Thursday, + 31 days = Sunday); 28 days.
    // Rows: [_ _ _ _ _ _ 1] [2..8] [9..15] [16..22] [23..28 _].
    let daily = [
        row(date(2026, 1, 31), "-999", 3), // outside the month: ignored
        row(date(2026, 2, 1), "10", 1),
        row(date(2026, 2, 3), "100", 2),
        row(date(2026, 2, 4), "-40", 1),
        row(date(2026, 2, 27), "25", 1),
        row(date(2026, 3, 1), "999", 3), // outside the month: ignored
    ];
    let calendar = month_calendar(&daily, 2026, 2).unwrap();
    assert_eq!((calendar.year, calendar.month), (2026, 2));
    assert_eq!(calendar.weeks.len(), 5);
    assert!(calendar.weeks[0][..6].iter().all(Option::is_none));
    assert_eq!(
        calendar.weeks[0][6],
        Some(CalendarDay {
            date: date(2026, 2, 1),
            pnl: d("10"),
            trades: 1,
        })
    );
    assert_eq!(
        calendar.weeks[1][0].map(|day| day.date),
        Some(date(2026, 2, 2))
    );
    // A date without a row is shown with 0 P&L and 0 trades.
    assert_eq!(
        calendar.weeks[1][0],
        Some(CalendarDay {
            date: date(2026, 2, 2),
            pnl: Decimal::ZERO,
            trades: 0,
        })
    );
    assert_eq!(
        calendar.weeks[4][5].map(|day| day.date),
        Some(date(2026, 2, 28))
    );
    assert_eq!(calendar.weeks[4][6], None);
    let cells = calendar.weeks.iter().flatten().flatten().count();
    assert_eq!(cells, 28);
    // Week totals: 10 | 100 - 40 = 60 | 0 | 0 | 25; month 95.
    assert_eq!(
        calendar.week_totals,
        [d("10"), d("60"), d("0"), d("0"), d("25")]
    );
    assert_eq!(calendar.month_total, d("95"));
    assert_eq!(calendar.trading_days, 4);
    assert_eq!(
        calendar.best_day.map(|day| day.date),
        Some(date(2026, 2, 3))
    );
    assert_eq!(
        calendar.worst_day.map(|day| day.date),
        Some(date(2026, 2, 4))
    );

    // June 2026 starts on a Monday and ends on a Tuesday: 5 rows, first cell filled.
    let june = month_calendar(&[], 2026, 6).unwrap();
    assert_eq!(june.weeks.len(), 5);
    assert_eq!(june.weeks[0][0].map(|day| day.date), Some(date(2026, 6, 1)));
    assert_eq!(june.best_day, None);
    assert_eq!(june.trading_days, 0);

    assert_eq!(
        month_calendar(&daily, 2026, 13),
        Err(TradingError::InvalidMonth {
            year: 2026,
            month: 13,
        })
    );
    assert!(month_calendar(&daily, 2026, 0).is_err());
}

#[test]
fn year_summary_has_twelve_months() {
    let daily = [
        row(date(2025, 12, 31), "1000", 1), // other year: ignored
        row(date(2026, 1, 5), "100", 1),
        row(date(2026, 1, 6), "-50", 2),
        row(date(2026, 2, 3), "100", 1),
        row(date(2026, 2, 4), "-40", 1),
        row(date(2026, 3, 2), "0", 1),
        row(date(2026, 12, 31), "7", 1),
    ];
    let year = year_calendar(&daily, 2026);
    assert_eq!(year.len(), 12);
    assert_eq!(
        year.iter().map(|month| month.month).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<u32>>()
    );
    // January: 100 - 50 = 50 over 2 days, 1 winning, 1 losing; best 5 Jan, worst 6 Jan.
    assert_eq!(year[0].pnl, d("50"));
    assert_eq!(year[0].trading_days, 2);
    assert_eq!(year[0].winning_days, 1);
    assert_eq!(year[0].losing_days, 1);
    assert_eq!(year[0].best_day.map(|day| day.date), Some(date(2026, 1, 5)));
    assert_eq!(
        year[0].worst_day.map(|day| (day.date, day.trades)),
        Some((date(2026, 1, 6), 2))
    );
    // February: 60; March: one flat trading day (neither winning nor losing).
    assert_eq!(year[1].pnl, d("60"));
    assert_eq!(year[2].pnl, Decimal::ZERO);
    assert_eq!(
        (
            year[2].trading_days,
            year[2].winning_days,
            year[2].losing_days
        ),
        (1, 0, 0)
    );
    // April to November: empty.
    assert!(
        year[3..11]
            .iter()
            .all(|month| month.trading_days == 0 && month.best_day.is_none())
    );
    assert_eq!(year[11].pnl, d("7"));
    // The month grid agrees with the summary.
    let january = month_calendar(&daily, 2026, 1).unwrap();
    assert_eq!(january.month_total, year[0].pnl);
    assert_eq!(january.best_day, year[0].best_day);
}
