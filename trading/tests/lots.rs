//! Lot matching and cent booking, worked out by hand: FIFO and average cost on the same fills
//! (a scale-in after a partial exit across two days, a short, a flip) and the half-even
//! rounding of each realisation.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::NaiveDate;
use common::{buy, d, sell};
use exporter_trading::{
    CostBasis, DEFAULT_TIMEZONE, Fill, TradeSide, TradeStatus, build_trades, build_trades_with,
    daily_pnl, month_calendar, statistics,
};
use rust_decimal::Decimal;

/// The docs/trading.md example: buy 100 @ 10, sell 50 @ 12, buy 50 @ 14, sell 50 @ 15 on
/// Monday 5 January 2026, sell 50 @ 13 on Tuesday; every fill pays a 1.00 fee.
fn scale_in_after_partial_exit() -> Vec<Fill> {
    vec![
        buy("b1", "AMD", "100", "10", "1.00", "2026-01-05T15:00:00Z"),
        sell("s1", "AMD", "50", "12", "1.00", "2026-01-05T16:00:00Z"),
        buy("b2", "AMD", "50", "14", "1.00", "2026-01-05T17:00:00Z"),
        sell("s2", "AMD", "50", "15", "1.00", "2026-01-05T18:00:00Z"),
        sell("s3", "AMD", "50", "13", "1.00", "2026-01-06T15:00:00Z"),
    ]
}

/// `(date, realised_pnl)` of each day, New York time.
fn days(fills: &[Fill], method: CostBasis) -> Vec<(NaiveDate, Decimal)> {
    daily_pnl(
        &build_trades_with(fills, method),
        DEFAULT_TIMEZONE,
        None,
        None,
    )
    .iter()
    .map(|day| (day.date, day.realised_pnl))
    .collect()
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

#[test]
fn fifo_closes_the_oldest_lot_first_across_two_days() {
    // Lot 1: 100 @ 10 (cost 1000, fee 1.00).
    // s1 takes 50 of lot 1: gross 600 - 500 = 100; fees 1.00 + 0.50 (half of lot 1's fee) =
    //    1.50; pnl 98.50. Lot 1 keeps 50 @ 10 (cost 500, fee 0.50).
    // b2 opens lot 2: 50 @ 14 (cost 700, fee 1.00).
    // s2 takes the rest of lot 1: gross 750 - 500 = 250; fees 1.00 + 0.50; pnl 248.50.
    // s3 takes lot 2: gross 650 - 700 = -50; fees 1.00 + 1.00; pnl -52.00.
    // Monday 98.50 + 248.50 = 347.00; Tuesday -52.00; trade 295.00 = sells 2000 - buys 1700 - fees 5.
    let fills = scale_in_after_partial_exit();
    let trades = build_trades_with(&fills, CostBasis::Fifo);
    assert_eq!(trades, build_trades(&fills), "FIFO is the default");
    assert_eq!(trades.len(), 1);
    let trade = &trades[0];
    let booked: Vec<(Decimal, Decimal, Decimal)> = trade
        .realisations
        .iter()
        .map(|r| (r.gross_pnl, r.fees, r.pnl))
        .collect();
    assert_eq!(
        booked,
        [
            (d("100"), d("1.50"), d("98.50")),
            (d("250"), d("1.50"), d("248.50")),
            (d("-50"), d("2.00"), d("-52.00")),
        ]
    );
    assert_eq!(trade.realised_pnl, d("295.00"));
    assert_eq!(trade.gross_pnl, d("300"));
    assert_eq!(trade.fees, d("5.00"));
    assert_eq!(
        days(&fills, CostBasis::Fifo),
        [
            (date("2026-01-05"), d("347.00")),
            (date("2026-01-06"), d("-52.00"))
        ]
    );
}

#[test]
fn average_cost_re_averages_on_the_scale_in_and_splits_the_days_differently() {
    // s1 takes half of 100 @ 10: gross 100; fees 1.00 + 0.50; pnl 98.50 (as FIFO).
    // Left: 50 costing 500 with 0.50 of entry fee; b2 adds 50 costing 700 and 1.00:
    //    100 costing 1200 (average 12) with 1.50 of entry fees.
    // s2 takes half: cost 600; gross 750 - 600 = 150; fees 1.00 + 0.75; pnl 148.25.
    // s3 takes the rest: cost 600; gross 650 - 600 = 50; fees 1.00 + 0.75; pnl 48.25.
    // Monday 98.50 + 148.25 = 246.75; Tuesday 48.25; the trade total is FIFO's, 295.00.
    let fills = scale_in_after_partial_exit();
    let trade = &build_trades_with(&fills, CostBasis::Average)[0];
    let pnl: Vec<Decimal> = trade.realisations.iter().map(|r| r.pnl).collect();
    assert_eq!(pnl, [d("98.50"), d("148.25"), d("48.25")]);
    assert_eq!(trade.realisations[1].fees, d("1.75"));
    assert_eq!(trade.realised_pnl, d("295.00"));
    assert_eq!(
        days(&fills, CostBasis::Average),
        [
            (date("2026-01-05"), d("246.75")),
            (date("2026-01-06"), d("48.25"))
        ]
    );
    // The month follows the method; its total does not depend on it.
    for (method, monday) in [(CostBasis::Fifo, "347.00"), (CostBasis::Average, "246.75")] {
        let rows = daily_pnl(
            &build_trades_with(&fills, method),
            DEFAULT_TIMEZONE,
            None,
            None,
        );
        let month = month_calendar(&rows, 2026, 1).unwrap();
        assert_eq!(month.month_total, d("295.00"), "{method}");
        assert_eq!(month.best_day.unwrap().pnl, d(monday), "{method}");
    }
}

#[test]
fn a_short_covers_its_oldest_lot_first() {
    // Sell 10 @ 50, sell 10 @ 60 (short 20), buy 15 @ 55, buy 5 @ 40; no fees.
    // FIFO: the first cover takes 10 @ 50 and 5 @ 60: cost 800, paid 825: -25; the second
    //   takes the other 5 @ 60: 300 - 200 = +100. Total 75.
    // Average (55): the first cover takes 825, paid 825: 0; the second 275 - 200 = +75.
    let fills = [
        sell("a", "TSLA", "10", "50", "0", "2026-01-07T15:00:00Z"),
        sell("b", "TSLA", "10", "60", "0", "2026-01-07T15:01:00Z"),
        buy("c", "TSLA", "15", "55", "0", "2026-01-07T15:02:00Z"),
        buy("e", "TSLA", "5", "40", "0", "2026-01-07T15:03:00Z"),
    ];
    for (method, expected) in [
        (CostBasis::Fifo, [d("-25"), d("100")]),
        (CostBasis::Average, [d("0"), d("75")]),
    ] {
        let trades = build_trades_with(&fills, method);
        assert_eq!(trades.len(), 1);
        assert_eq!(trades[0].side, TradeSide::Short);
        let pnl: Vec<Decimal> = trades[0].realisations.iter().map(|r| r.pnl).collect();
        assert_eq!(pnl, expected, "{method}");
        assert_eq!(trades[0].realised_pnl, d("75"), "{method}");
    }
}

#[test]
fn a_flip_closes_the_old_lots_and_opens_a_trade_with_the_remainder() {
    // Buy 10 @ 100, buy 10 @ 110, sell 10 @ 120, then sell 20 @ 90 (fee 0.03) closes the last
    // 10 and opens a 10 short @ 90; buy 10 @ 85 covers it. The flip fee splits
    // 0.03 * 10/20 = 0.015 -> 0.02 (half to even) to the close, 0.01 to the new short.
    // FIFO: 1200 - 1000 = +200, then 900 - 1100 - 0.02 = -200.02; the long nets -0.02.
    // Average (105): 1200 - 1050 = +150, then 900 - 1050 - 0.02 = -150.02; also -0.02.
    // The short, either way: 900 - 850 - 0.01 = 49.99.
    let fills = [
        buy("b1", "SPY", "10", "100", "0", "2026-01-08T15:00:00Z"),
        buy("b2", "SPY", "10", "110", "0", "2026-01-08T15:01:00Z"),
        sell("s1", "SPY", "10", "120", "0", "2026-01-08T15:02:00Z"),
        sell("x1", "SPY", "20", "90", "0.03", "2026-01-08T15:03:00Z"),
        buy("b3", "SPY", "10", "85", "0", "2026-01-08T15:04:00Z"),
    ];
    for (method, expected) in [
        (CostBasis::Fifo, [d("200"), d("-200.02")]),
        (CostBasis::Average, [d("150"), d("-150.02")]),
    ] {
        let trades = build_trades_with(&fills, method);
        assert_eq!(trades.len(), 2, "{method}");
        let long = &trades[0];
        let pnl: Vec<Decimal> = long.realisations.iter().map(|r| r.pnl).collect();
        assert_eq!(pnl, expected, "{method}");
        assert_eq!(long.realised_pnl, d("-0.02"));
        assert_eq!(long.fees, d("0.02"));
        let short = &trades[1];
        assert_eq!((short.id.as_str(), short.side), ("x1", TradeSide::Short));
        assert_eq!(short.entry_quantity, d("10"));
        assert_eq!(short.fees, d("0.01"));
        assert_eq!(short.status, TradeStatus::Closed);
        assert_eq!(short.realised_pnl, d("49.99"));
    }
}

#[test]
fn each_realisation_is_booked_to_the_cent_half_to_even() {
    // 1 @ 10 sold at 10.125: 0.125 -> 0.12 (2 is even); at 10.135: 0.135 -> 0.14.
    // A short from 10.125 covered at 10.25 loses 0.125 -> -0.12.
    let cases = [
        (
            buy("b", "X", "1", "10", "0", "2026-01-05T15:00:00Z"),
            "10.125",
            "0.12",
        ),
        (
            buy("b", "X", "1", "10", "0", "2026-01-05T15:00:00Z"),
            "10.135",
            "0.14",
        ),
        (
            sell("b", "X", "1", "10.125", "0", "2026-01-05T15:00:00Z"),
            "10.25",
            "-0.12",
        ),
    ];
    for (open, close_price, expected) in cases {
        let close_side = if open.side == exporter_trading::Side::Buy {
            sell
        } else {
            buy
        };
        let close = close_side("c", "X", "1", close_price, "0", "2026-01-05T16:00:00Z");
        for method in [CostBasis::Fifo, CostBasis::Average] {
            let trades = build_trades_with(&[open.clone(), close.clone()], method);
            assert_eq!(
                trades[0].realised_pnl,
                d(expected),
                "{close_price} {method}"
            );
            let json = serde_json::to_value(&trades[0]).unwrap();
            assert_eq!(json["realised_pnl"], expected);
        }
    }

    // Two exits of 0.125 on one day book 0.12 each: the day and the trade are 0.24, the sum of
    // what was booked, not 0.25 (the day's unrounded P&L).
    let fills = [
        buy("b", "X", "2", "10", "0", "2026-01-05T15:00:00Z"),
        sell("s1", "X", "1", "10.125", "0", "2026-01-05T16:00:00Z"),
        sell("s2", "X", "1", "10.125", "0", "2026-01-05T17:00:00Z"),
    ];
    let trades = build_trades(&fills);
    assert_eq!(trades[0].realised_pnl, d("0.24"));
    assert_eq!(
        days(&fills, CostBasis::Fifo),
        [(date("2026-01-05"), d("0.24"))]
    );
    assert_eq!(statistics(&trades, &[]).net_pnl, d("0.24"));
}

#[test]
fn an_open_position_keeps_its_lots_cost_and_fees() {
    // Buy 10 @ 100 (fee 1.00), buy 10 @ 110 (fee 1.00), sell 5 @ 120 (fee 0).
    // FIFO: 5 of the first lot go: cost 500, fee 0.50; realised 600 - 500 - 0.50 = 99.50;
    //   left 5 @ 100 + 10 @ 110 = 1600 and 1.50; at a mark of 115: 1725 - 1600 - 1.50 = 123.50.
    // Average (105): cost 525 and 2.00 * 5/20 = 0.50 go; realised 600 - 525 - 0.50 = 74.50;
    //   left 1575 and 1.50; at 115: 1725 - 1575 - 1.50 = 148.50.
    // Realised + open is 99.50 + 123.50 = 74.50 + 148.50 = 223.00 either way.
    let fills = [
        buy("b1", "NVDA", "10", "100", "1.00", "2026-01-09T15:00:00Z"),
        buy("b2", "NVDA", "10", "110", "1.00", "2026-01-09T15:01:00Z"),
        sell("s1", "NVDA", "5", "120", "0", "2026-01-09T15:02:00Z"),
    ];
    for (method, realised, cost, open_pnl) in [
        (CostBasis::Fifo, "99.50", "1600", "123.50"),
        (CostBasis::Average, "74.50", "1575", "148.50"),
    ] {
        let trade = &build_trades_with(&fills, method)[0];
        assert_eq!(trade.realised_pnl, d(realised), "{method}");
        assert_eq!(trade.open_cost_basis, d(cost), "{method}");
        assert_eq!(trade.open_entry_fees, d("1.50"), "{method}");
        assert_eq!(trade.unrealised_pnl(d("115")), d(open_pnl), "{method}");
        assert_eq!(
            trade.realised_pnl + trade.unrealised_pnl(d("115")),
            d("223.00")
        );
    }
}
