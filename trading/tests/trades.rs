//! Trade building: hand-computed round trips, scale-ins, partial exits, shorts, flips and
//! interleaved symbols, with the arithmetic written out.

#![allow(clippy::unwrap_used)]

mod common;

use common::{buy, d, fill, sell, t};
use exporter_trading::{
    CostBasis, Side, TradeSide, TradeStatus, TradingError, build_trades, build_trades_with,
    try_build_trades,
};
use rust_decimal::Decimal;

#[test]
fn long_round_trip_with_fees() {
    // Buy 100 @ 10.00 (fee 1.00), sell 100 @ 11.50 (fee 1.00), one hour later.
    // gross = (11.50 - 10.00) * 100 = 150; fees = 1 + 1 = 2; net = 148.
    // return = 148 / (10.00 * 100) * 100 = 14.8 %; duration = 3600 s.
    let fills = [
        buy("b1", "AAPL", "100", "10.00", "1.00", "2026-01-05T15:00:00Z"),
        sell("s1", "AAPL", "100", "11.50", "1.00", "2026-01-05T16:00:00Z"),
    ];
    let trades = build_trades(&fills);
    assert_eq!(trades.len(), 1);
    let trade = &trades[0];
    assert_eq!(trade.id, "b1");
    assert_eq!(trade.side, TradeSide::Long);
    assert_eq!(trade.status, TradeStatus::Closed);
    assert_eq!(trade.opened_at, t("2026-01-05T15:00:00Z"));
    assert_eq!(trade.closed_at, Some(t("2026-01-05T16:00:00Z")));
    assert_eq!(trade.entry_quantity, d("100"));
    assert_eq!(trade.exit_quantity, d("100"));
    assert_eq!(trade.open_quantity, Decimal::ZERO);
    assert_eq!(trade.entry_price, d("10"));
    assert_eq!(trade.exit_price, Some(d("11.5")));
    assert_eq!(trade.gross_pnl, d("150"));
    assert_eq!(trade.fees, d("2"));
    assert_eq!(trade.realised_pnl, d("148"));
    assert_eq!(trade.return_percent, Some(14.8));
    assert_eq!(trade.duration_seconds, Some(3600));
    assert_eq!(trade.fill_ids, ["b1", "s1"]);
    assert_eq!(trade.realisations.len(), 1);
    let realisation = &trade.realisations[0];
    assert_eq!(realisation.fill_id, "s1");
    assert_eq!(realisation.quantity, d("100"));
    assert_eq!(realisation.gross_pnl, d("150"));
    assert_eq!(realisation.fees, d("2"));
    assert_eq!(realisation.pnl, d("148"));
}

#[test]
fn scale_in_two_buys_one_sell() {
    // Buy 100 @ 10 (fee 1), buy 100 @ 12 (fee 1), sell 200 @ 13 (fee 2).
    // entry = (100*10 + 100*12) / 200 = 2200 / 200 = 11; gross = (13 - 11) * 200 = 400.
    // fees = 4; net = 396; return = 396 / 2200 * 100 = 18 %.
    let fills = [
        buy("b1", "MSFT", "100", "10", "1", "2026-01-05T15:00:00Z"),
        buy("b2", "MSFT", "100", "12", "1", "2026-01-05T15:10:00Z"),
        sell("s1", "MSFT", "200", "13", "2", "2026-01-05T15:20:00Z"),
    ];
    let trades = build_trades(&fills);
    assert_eq!(trades.len(), 1);
    let trade = &trades[0];
    assert_eq!(trade.entry_quantity, d("200"));
    assert_eq!(trade.entry_price, d("11"));
    assert_eq!(trade.exit_price, Some(d("13")));
    assert_eq!(trade.gross_pnl, d("400"));
    assert_eq!(trade.fees, d("4"));
    assert_eq!(trade.realised_pnl, d("396"));
    assert_eq!(trade.return_percent, Some(18.0));
    assert_eq!(trade.duration_seconds, Some(1200));
    assert_eq!(trade.fill_ids, ["b1", "b2", "s1"]);
}

#[test]
fn partial_exit_then_final_exit_realises_on_each_fill() {
    // Buy 100 @ 20 (fee 1) on 5 Jan; sell 40 @ 22 (fee 1) on 5 Jan; sell 60 @ 19 (fee 1) on 6 Jan.
    // Exit 1: basis taken = 2000 * 40/100 = 800; gross = 40*22 - 800 = 80;
    //         fees = own 1 + entry 1 * 40/100 = 1.4; pnl = 78.6.
    // Exit 2: basis left = 1200; gross = 60*19 - 1200 = -60; fees = 1 + 0.6 = 1.6; pnl = -61.6.
    // Trade: gross 20 (= (20.2 - 20) * 100, exit avg (880 + 1140)/100 = 20.2), fees 3, net 17.
    let fills = [
        buy("b1", "NVDA", "100", "20", "1", "2026-01-05T15:00:00Z"),
        sell("s1", "NVDA", "40", "22", "1", "2026-01-05T20:00:00Z"),
        sell("s2", "NVDA", "60", "19", "1", "2026-01-06T15:00:00Z"),
    ];

    // After the partial exit only: still open, 78.6 realised, all of the 2.00 fees attributed.
    let partial = build_trades(&fills[..2]);
    assert_eq!(partial.len(), 1);
    assert_eq!(partial[0].status, TradeStatus::Open);
    assert_eq!(partial[0].exit_quantity, d("40"));
    assert_eq!(partial[0].open_quantity, d("60"));
    assert_eq!(partial[0].exit_price, Some(d("22")));
    assert_eq!(partial[0].realised_pnl, d("78.6"));
    assert_eq!(partial[0].fees, d("2"));
    assert_eq!(partial[0].return_percent, None);
    assert_eq!(partial[0].closed_at, None);

    let trades = build_trades(&fills);
    let trade = &trades[0];
    assert_eq!(trade.status, TradeStatus::Closed);
    assert_eq!(trade.realisations.len(), 2);
    assert_eq!(trade.realisations[0].time, t("2026-01-05T20:00:00Z"));
    assert_eq!(trade.realisations[0].gross_pnl, d("80"));
    assert_eq!(trade.realisations[0].fees, d("1.4"));
    assert_eq!(trade.realisations[0].pnl, d("78.6"));
    assert_eq!(trade.realisations[1].time, t("2026-01-06T15:00:00Z"));
    assert_eq!(trade.realisations[1].gross_pnl, d("-60"));
    assert_eq!(trade.realisations[1].fees, d("1.6"));
    assert_eq!(trade.realisations[1].pnl, d("-61.6"));
    assert_eq!(trade.exit_price, Some(d("20.2")));
    assert_eq!(trade.gross_pnl, d("20"));
    assert_eq!(trade.fees, d("3"));
    assert_eq!(trade.realised_pnl, d("17"));
    // 17 / 2000 * 100 = 0.85 %
    assert_eq!(trade.return_percent, Some(0.85));
}

#[test]
fn scale_in_after_partial_exit_with_one_lot_left_is_the_same_under_both_methods() {
    // Buy 100 @ 10, sell 50 @ 12, buy 50 @ 14, sell 100 @ 15; no fees.
    // Exit 1: basis 1000 * 50/100 = 500 taken; gross = 600 - 500 = 100.
    // Then 50 held at basis 500, + 50 @ 14 = 700 -> 100 held at basis 1200 (average 12).
    // Exit 2: gross = 1500 - 1200 = 300. Total 400 = cash flow (600 + 1500) - (1000 + 700).
    // FIFO: exit 1 takes 50 of the 100 @ 10 lot (500, the same); exit 2 closes 50 @ 10 and
    // 50 @ 14: 1500 - 500 - 700 = 300, the same split (one lot was open at the first exit).
    let fills = [
        buy("b1", "AMD", "100", "10", "0", "2026-01-05T15:00:00Z"),
        sell("s1", "AMD", "50", "12", "0", "2026-01-05T15:01:00Z"),
        buy("b2", "AMD", "50", "14", "0", "2026-01-05T15:02:00Z"),
        sell("s2", "AMD", "100", "15", "0", "2026-01-05T15:03:00Z"),
    ];
    assert_eq!(
        build_trades(&fills),
        build_trades_with(&fills, CostBasis::Fifo)
    );
    let fifo = build_trades(&fills);
    assert_eq!(fifo[0].realisations[0].gross_pnl, d("100"));
    assert_eq!(fifo[0].realisations[1].gross_pnl, d("300"));
    let trades = build_trades_with(&fills, CostBasis::Average);
    assert_eq!(trades.len(), 1);
    let trade = &trades[0];
    assert_eq!(trade.realisations[0].gross_pnl, d("100"));
    assert_eq!(trade.realisations[1].gross_pnl, d("300"));
    assert_eq!(trade.gross_pnl, d("400"));
    assert_eq!(trade.realised_pnl, d("400"));
    assert_eq!(trade.entry_quantity, d("150"));
    // entry avg = 1700 / 150 = 11.333...: kept to the prices' 0 decimals + 4; exit avg = 2100 / 150 = 14.
    assert_eq!(trade.entry_price, d("11.3333"));
    assert_eq!(trade.exit_price, Some(d("14")));
}

#[test]
fn short_round_trip() {
    // Sell 50 @ 250 (fee 0.50), buy 50 @ 240 (fee 0.50).
    // gross = (250 - 240) * 50 = 500; fees 1; net 499; return = 499 / 12500 * 100 = 3.992 %.
    let fills = [
        sell("s1", "TSLA", "50", "250", "0.50", "2026-01-07T15:00:00Z"),
        buy("b1", "TSLA", "50", "240", "0.50", "2026-01-07T18:30:00Z"),
    ];
    let trades = build_trades(&fills);
    assert_eq!(trades.len(), 1);
    let trade = &trades[0];
    assert_eq!(trade.side, TradeSide::Short);
    assert_eq!(trade.status, TradeStatus::Closed);
    assert_eq!(trade.entry_price, d("250"));
    assert_eq!(trade.exit_price, Some(d("240")));
    assert_eq!(trade.gross_pnl, d("500"));
    assert_eq!(trade.fees, d("1"));
    assert_eq!(trade.realised_pnl, d("499"));
    assert_eq!(trade.return_percent, Some(3.992));
    assert_eq!(trade.duration_seconds, Some(3 * 3600 + 1800));
}

#[test]
fn flip_long_to_short_in_one_fill_splits_quantity_and_fee() {
    // Buy 100 @ 10 (fee 1); sell 150 @ 12 (fee 3): closes 100, opens a 50 short; buy 50 @ 11 (fee 0.5).
    // Fee split: close = 3 * 100/150 = 2, open = 3 - 2 = 1.
    // Long: gross = (12 - 10) * 100 = 200; fees = 1 + 2 = 3; net 197.
    // Short: entry 50 @ 12; gross = (12 - 11) * 50 = 50; fees = 1 + 0.5 = 1.5; net 48.5.
    let mut fills = vec![
        buy("b1", "SPY", "100", "10", "1", "2026-01-08T15:00:00Z"),
        sell("x1", "SPY", "150", "12", "3", "2026-01-08T16:00:00Z"),
        buy("b2", "SPY", "50", "11", "0.5", "2026-01-08T17:00:00Z"),
    ];
    fills[1].strategy = Some("reversal".to_owned());
    let trades = build_trades(&fills);
    assert_eq!(trades.len(), 2);

    let long = &trades[0];
    assert_eq!(long.side, TradeSide::Long);
    assert_eq!(long.status, TradeStatus::Closed);
    assert_eq!(long.exit_quantity, d("100"));
    assert_eq!(long.fees, d("3"));
    assert_eq!(long.gross_pnl, d("200"));
    assert_eq!(long.realised_pnl, d("197"));
    assert_eq!(long.realisations[0].quantity, d("100"));
    assert_eq!(long.closed_at, Some(t("2026-01-08T16:00:00Z")));
    assert_eq!(long.fill_ids, ["b1", "x1"]);
    assert_eq!(long.strategy, None);

    let short = &trades[1];
    assert_eq!(short.id, "x1");
    assert_eq!(short.side, TradeSide::Short);
    assert_eq!(short.status, TradeStatus::Closed);
    assert_eq!(short.opened_at, t("2026-01-08T16:00:00Z"));
    assert_eq!(short.entry_quantity, d("50"));
    assert_eq!(short.entry_price, d("12"));
    assert_eq!(short.exit_price, Some(d("11")));
    assert_eq!(short.fees, d("1.5"));
    assert_eq!(short.gross_pnl, d("50"));
    assert_eq!(short.realised_pnl, d("48.5"));
    assert_eq!(short.fill_ids, ["x1", "b2"]);
    assert_eq!(short.strategy.as_deref(), Some("reversal"));

    // A fee that does not divide evenly: 1.00 over 150 -> close 100/150 = 0.666.. booked 0.67,
    // open = 1.00 - 0.67 = 0.33; the two add up to the fee exactly.
    let uneven = [
        buy("b1", "SPY", "100", "10", "0", "2026-01-08T15:00:00Z"),
        sell("x1", "SPY", "150", "12", "1.00", "2026-01-08T16:00:00Z"),
    ];
    let trades = build_trades(&uneven);
    assert_eq!(trades[0].fees, d("0.67"));
    assert_eq!(trades[1].fees, d("0.33"));
    assert_eq!(trades[0].fees + trades[1].fees, d("1.00"));
    assert_eq!(trades[1].status, TradeStatus::Open);
}

#[test]
fn symbols_interleaved_in_any_input_order() {
    // AAPL: buy 10 @ 100, sell 10 @ 101 -> +10. MSFT: sell 5 @ 400, buy 5 @ 390 -> +50.
    // AAPL again: buy 20 @ 102, still open. No fees. Input shuffled; trades come in opening order.
    let fills = [
        buy("5", "AAPL", "20", "102", "0", "2026-01-09T15:04:00Z"),
        sell("3", "AAPL", "10", "101", "0", "2026-01-09T15:02:00Z"),
        buy("4", "MSFT", "5", "390", "0", "2026-01-09T15:03:00Z"),
        buy("1", "AAPL", "10", "100", "0", "2026-01-09T15:00:00Z"),
        sell("2", "MSFT", "5", "400", "0", "2026-01-09T15:01:00Z"),
    ];
    let trades = build_trades(&fills);
    let summary: Vec<_> = trades
        .iter()
        .map(|trade| {
            (
                trade.symbol.as_str(),
                trade.side,
                trade.status,
                trade.realised_pnl,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("AAPL", TradeSide::Long, TradeStatus::Closed, d("10")),
            ("MSFT", TradeSide::Short, TradeStatus::Closed, d("50")),
            ("AAPL", TradeSide::Long, TradeStatus::Open, d("0")),
        ]
    );
    let mut reversed = fills.to_vec();
    reversed.reverse();
    assert_eq!(build_trades(&reversed), trades);
}

#[test]
fn fills_at_the_same_time_are_ordered_by_id() {
    // Same timestamp: "a" (buy 10) must come before "b" (sell 10) whatever the input order,
    // giving one closed long rather than a short opened first.
    let fills = [
        sell("b", "AAPL", "10", "101", "0", "2026-01-09T15:00:00Z"),
        buy("a", "AAPL", "10", "100", "0", "2026-01-09T15:00:00Z"),
    ];
    let trades = build_trades(&fills);
    assert_eq!(trades.len(), 1);
    assert_eq!(trades[0].side, TradeSide::Long);
    assert_eq!(trades[0].realised_pnl, d("10"));
    assert_eq!(trades[0].duration_seconds, Some(0));
}

#[test]
fn open_trade_stays_open_without_exit_price() {
    let fills = [
        buy("b1", "AAPL", "10", "100", "1", "2026-01-09T15:00:00Z"),
        buy("b2", "AAPL", "10", "110", "1", "2026-01-09T15:05:00Z"),
    ];
    let trades = build_trades(&fills);
    assert_eq!(trades.len(), 1);
    let trade = &trades[0];
    assert_eq!(trade.status, TradeStatus::Open);
    assert!(!trade.is_closed());
    assert_eq!(trade.entry_price, d("105"));
    assert_eq!(trade.open_quantity, d("20"));
    assert_eq!(trade.exit_price, None);
    assert_eq!(trade.closed_at, None);
    assert_eq!(trade.duration_seconds, None);
    assert_eq!(trade.return_percent, None);
    assert_eq!(trade.realised_pnl, Decimal::ZERO);
    assert_eq!(trade.fees, d("2"));
    assert!(trade.realisations.is_empty());
}

#[test]
fn invalid_fills_are_rejected_or_skipped() {
    let zero = buy("z", "AAPL", "0", "100", "0", "2026-01-09T15:00:00Z");
    let negative_fee = buy("n", "AAPL", "1", "100", "-1", "2026-01-09T15:00:00Z");
    assert_eq!(
        try_build_trades(std::slice::from_ref(&zero), CostBasis::Fifo),
        Err(TradingError::NonPositiveQuantity {
            fill_id: "z".to_owned(),
            quantity: Decimal::ZERO,
        })
    );
    assert!(matches!(
        try_build_trades(&[negative_fee], CostBasis::Average),
        Err(TradingError::NegativeFee { .. })
    ));
    assert!(build_trades(&[zero]).is_empty());
}

#[test]
fn broker_sides_map_to_buy_and_sell() {
    assert_eq!(Side::from_broker("buy"), Ok(Side::Buy));
    assert_eq!(Side::from_broker("sell"), Ok(Side::Sell));
    assert_eq!(Side::from_broker("sell_short"), Ok(Side::Sell));
    assert_eq!(Side::from_broker("SELL_SHORT"), Ok(Side::Sell));
    assert!(matches!(
        Side::from_broker("hold"),
        Err(TradingError::UnknownSide { .. })
    ));
    // A sell_short fill opens a short trade.
    let short = fill(
        "s",
        "AAPL",
        Side::from_broker("sell_short").unwrap(),
        "1",
        "1",
        "0",
        "2026-01-09T15:00:00Z",
    );
    assert_eq!(build_trades(&[short])[0].side, TradeSide::Short);
}

#[test]
fn output_serialises_decimals_as_strings() {
    let fills = [
        buy("b1", "AAPL", "100", "10.00", "1.00", "2026-01-05T15:00:00Z"),
        sell("s1", "AAPL", "100", "11.50", "1.00", "2026-01-05T16:00:00Z"),
    ];
    let json = serde_json::to_value(&build_trades(&fills)[0]).unwrap();
    assert_eq!(json["realised_pnl"], "148.00");
    assert_eq!(json["side"], "long");
    assert_eq!(json["status"], "closed");
    assert_eq!(json["closed_at"], "2026-01-05T16:00:00Z");
}
