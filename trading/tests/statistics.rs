//! Statistics on a hand-computed set of trades and equity points, and a property check that
//! the P&L adds up the same by trade and by day on generated fills.

#![allow(clippy::unwrap_used)]

mod common;

use chrono::TimeDelta;
use common::{buy, d, fill, sell, t};
use exporter_trading::{
    CostBasis, DEFAULT_TIMEZONE, EquityPoint, Fill, Side, TradeSide, build_trades,
    build_trades_with, cents, daily_pnl, sample_fills, statistics, year_calendar,
};
use rust_decimal::Decimal;

/// Eight closed one-share trades with net P&L, in close order:
/// #1 X +100, #2 Y +50, #3 X -30, #4 Y 0, #5 X -20, #6 Y -60, #7 X +200, #8 Y -10.
/// Trade k opens at base + 1000k s and closes 60k s later; no fees.
fn known_fills() -> Vec<Fill> {
    let pnls = [100, 50, -30, 0, -20, -60, 200, -10];
    let base = t("2026-01-05T15:00:00Z");
    let mut fills = Vec::new();
    for (k, pnl) in (1_i64..).zip(pnls) {
        let symbol = if k % 2 == 1 { "X" } else { "Y" };
        let opened = base + TimeDelta::seconds(1000 * k);
        let closed = opened + TimeDelta::seconds(60 * k);
        for (id, side, price, time) in [
            (format!("o{k}"), Side::Buy, Decimal::from(1000), opened),
            (
                format!("c{k}"),
                Side::Sell,
                Decimal::from(1000 + pnl),
                closed,
            ),
        ] {
            fills.push(Fill {
                id,
                symbol: symbol.to_owned(),
                side,
                quantity: Decimal::ONE,
                price,
                fee: Decimal::ZERO,
                time,
                strategy: None,
            });
        }
    }
    fills
}

#[test]
fn statistics_on_a_known_set() {
    let mut fills = known_fills();
    // Plus one open trade, which is only counted.
    fills.push(buy("open", "Z", "5", "10", "1", "2026-01-06T15:00:00Z"));
    let trades = build_trades(&fills);
    let stats = statistics(&trades, &[]);

    assert_eq!(stats.closed_trades, 8);
    assert_eq!(stats.open_trades, 1);
    // Wins 100, 50, 200; losses -30, -20, -60, -10; breakeven 0.
    assert_eq!((stats.wins, stats.losses, stats.breakeven), (3, 4, 1));
    assert_eq!(stats.win_rate, Some(0.375)); // 3 / 8
    assert_eq!(stats.gross_profit, d("350")); // 100 + 50 + 200
    assert_eq!(stats.gross_loss, d("-120")); // -30 - 20 - 60 - 10
    assert_eq!(stats.net_pnl, d("230"));
    assert_eq!(stats.profit_factor, Some(2.916667)); // 350 / 120 = 2.91666.., 6 decimals
    assert_eq!(stats.average_win, Some(d("116.67"))); // 350 / 3 = 116.666.., to the cent
    assert_eq!(stats.average_loss, Some(d("-30"))); // -120 / 4
    assert_eq!(stats.payoff_ratio, Some(3.888889)); // (350 / 3) / 30 = 3.888..
    assert_eq!(stats.expectancy, Some(d("28.75"))); // 230 / 8
    assert_eq!(stats.largest_win, Some(d("200")));
    assert_eq!(stats.largest_loss, Some(d("-60")));
    // Durations 60k s for k = 1..8: 60 * 36 / 8 = 270.
    assert_eq!(stats.average_duration_seconds, Some(270.0));
    // W W L B L L W L: wins run to 2; the breakeven breaks L | L L, so losses run to 2, not 3.
    assert_eq!(stats.longest_win_streak, 2);
    assert_eq!(stats.longest_loss_streak, 2);
    assert_eq!(stats.total_fees, Decimal::ZERO);

    // Cumulative: 100, 150, 120, 120, 100, 40, 240, 230. Peak 150 after #2, trough 40 after #6.
    let drawdown = stats.max_drawdown.unwrap();
    assert_eq!(drawdown.amount, d("110"));
    assert_eq!(drawdown.peak_cumulative_pnl, d("150"));
    assert_eq!(drawdown.trough_cumulative_pnl, d("40"));
    let peak = drawdown.peak.unwrap();
    assert_eq!((peak.index, peak.id.as_str()), (1, "o2"));
    assert_eq!(drawdown.trough.index, 5);
    assert_eq!(drawdown.trough.id, "o6");
    assert_eq!(drawdown.trough.closed_at, t("2026-01-05T16:46:00Z")); // base + 6000 + 360 s

    // Per symbol: X +100 -30 -20 +200 = 250 (2 of 4 won); Y +50 0 -60 -10 = -20 (1 of 4).
    assert_eq!(stats.per_symbol.len(), 2);
    let x = &stats.per_symbol[0];
    assert_eq!(
        (x.symbol.as_str(), x.closed_trades, x.wins, x.losses),
        ("X", 4, 2, 2)
    );
    assert_eq!(x.net_pnl, d("250"));
    assert_eq!(x.win_rate, Some(0.5));
    let y = &stats.per_symbol[1];
    assert_eq!(
        (y.symbol.as_str(), y.closed_trades, y.wins, y.losses),
        ("Y", 4, 1, 2)
    );
    assert_eq!(y.net_pnl, d("-20"));
    assert_eq!(y.win_rate, Some(0.25));

    // No equity points: no equity figures.
    assert_eq!(stats.daily_returns, 0);
    assert_eq!(stats.sharpe_ratio, None);
    assert_eq!(stats.sortino_ratio, None);
    assert_eq!(stats.max_equity_drawdown_percent, None);
}

#[test]
fn drawdown_from_the_start_has_no_peak_trade() {
    // -10 then +5: the peak is the starting 0, the trough -10 after the first trade.
    let fills = [
        buy("a", "X", "1", "100", "0", "2026-01-05T15:00:00Z"),
        sell("b", "X", "1", "90", "0", "2026-01-05T15:01:00Z"),
        buy("c", "X", "1", "100", "0", "2026-01-05T15:02:00Z"),
        sell("e", "X", "1", "105", "0", "2026-01-05T15:03:00Z"),
    ];
    let stats = statistics(&build_trades(&fills), &[]);
    let drawdown = stats.max_drawdown.unwrap();
    assert_eq!(drawdown.amount, d("10"));
    assert_eq!(drawdown.peak, None);
    assert_eq!(drawdown.peak_cumulative_pnl, Decimal::ZERO);
    assert_eq!(drawdown.trough.id, "a");
    assert_eq!(stats.profit_factor, Some(0.5)); // 5 / 10
}

#[test]
fn empty_and_all_winning_sets() {
    let empty = statistics(&[], &[]);
    assert_eq!(empty.closed_trades, 0);
    assert_eq!(empty.win_rate, None);
    assert_eq!(empty.expectancy, None);
    assert_eq!(empty.average_duration_seconds, None);
    assert_eq!(empty.max_drawdown, None);

    // One winner: no loss, so no profit factor or payoff ratio, and no drawdown.
    let fills = [
        buy("a", "X", "1", "100", "0", "2026-01-05T15:00:00Z"),
        sell("b", "X", "1", "110", "0", "2026-01-05T15:01:00Z"),
    ];
    let stats = statistics(&build_trades(&fills), &[]);
    assert_eq!(stats.win_rate, Some(1.0));
    assert_eq!(stats.profit_factor, None);
    assert_eq!(stats.payoff_ratio, None);
    assert_eq!(stats.average_loss, None);
    assert_eq!(stats.max_drawdown, None);
}

#[test]
fn sharpe_sortino_and_equity_drawdown_by_hand() {
    // Equity 100, 110, 99, 108.9, 108.9 (given out of order: sorted by time first).
    // r = 0.1, -0.1, 0.1, 0 (110/100 - 1, 99/110 - 1, 108.9/99 - 1, 108.9/108.9 - 1).
    // mean = 0.1 / 4 = 0.025.
    // Deviations 0.075, -0.125, 0.075, -0.025; squares sum to 0.005625 + 0.015625 + 0.005625
    // + 0.000625 = 0.0275; sample variance 0.0275 / 3; stdev = 0.0957427107756338.
    // Sharpe = 0.025 / 0.0957427107756338 * sqrt(252) = 4.145095678246545.
    // Downside dev = sqrt((-0.1)^2 / 4) = sqrt(0.0025) = 0.05;
    // Sortino = 0.025 / 0.05 * sqrt(252) = 0.5 * 15.874507866387544 = 7.937253933193772.
    // Equity drawdown: peak 110, trough 99 -> (110 - 99) / 110 * 100 = 10 %.
    let equity: Vec<EquityPoint> = [
        ("2026-01-07T21:00:00Z", "99"),
        ("2026-01-05T21:00:00Z", "100"),
        ("2026-01-06T21:00:00Z", "110"),
        ("2026-01-08T21:00:00Z", "108.9"),
        ("2026-01-09T21:00:00Z", "108.9"),
    ]
    .into_iter()
    .map(|(time, equity)| EquityPoint {
        time: t(time),
        equity: d(equity),
    })
    .collect();
    let stats = statistics(&[], &equity);
    assert_eq!(stats.daily_returns, 4);
    let sharpe = stats.sharpe_ratio.unwrap();
    let sortino = stats.sortino_ratio.unwrap();
    assert!(
        (sharpe - 4.145_095_678_246_545).abs() < 1e-9,
        "sharpe {sharpe}"
    );
    assert!(
        (sortino - 7.937_253_933_193_772).abs() < 1e-9,
        "sortino {sortino}"
    );
    assert_eq!(stats.max_equity_drawdown_percent, Some(10.0));

    // Flat equity: returns all 0, so neither ratio is defined; drawdown 0.
    let flat: Vec<EquityPoint> = equity
        .iter()
        .map(|point| EquityPoint {
            equity: d("100"),
            ..*point
        })
        .collect();
    let stats = statistics(&[], &flat);
    assert_eq!(stats.sharpe_ratio, None);
    assert_eq!(stats.sortino_ratio, None);
    assert_eq!(stats.max_equity_drawdown_percent, Some(0.0));
    // One point: no return at all.
    let stats = statistics(&[], &equity[..1]);
    assert_eq!(stats.daily_returns, 0);
    assert_eq!(stats.sharpe_ratio, None);
}

/// Random-ish fills from a plain LCG: fractional quantities, odd prices and fees, equal
/// timestamps, input not in time order.
fn lcg_fills(count: usize, seed: u64) -> Vec<Fill> {
    let mut state = seed;
    let mut next = move |bound: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % bound
    };
    let base = t("2026-01-02T14:30:00Z");
    let mut fills: Vec<Fill> = (0..count)
        .map(|index| Fill {
            id: format!("r{index:06}"),
            symbol: ["A", "B", "C"][next(3) as usize].to_owned(),
            side: if next(2) == 0 { Side::Buy } else { Side::Sell },
            quantity: Decimal::new(1 + next(5000) as i64, 1),
            price: Decimal::new(1000 + next(90_000) as i64, 3),
            fee: Decimal::new(next(300) as i64, 2),
            // Up to ~2 days between fills, with repeats, so days and equal times both occur.
            time: base + TimeDelta::seconds(7 * 3600 * (index as i64 / 3) + next(3) as i64),
            strategy: None,
        })
        .collect();
    fills.reverse();
    fills
}

/// Appends one fill per symbol that brings it back to flat, so every trade closes.
fn flatten(fills: &mut Vec<Fill>) {
    let mut positions: std::collections::BTreeMap<String, Decimal> = Default::default();
    for fill in fills.iter() {
        *positions.entry(fill.symbol.clone()).or_default() += fill.side.sign() * fill.quantity;
    }
    let end = t("2030-01-01T15:00:00Z");
    for (symbol, position) in positions {
        if !position.is_zero() {
            let side = if position > Decimal::ZERO {
                Side::Sell
            } else {
                Side::Buy
            };
            let quantity = position.abs().to_string();
            fills.push(fill(
                &format!("flat-{symbol}"),
                &symbol,
                side,
                &quantity,
                "42.5",
                "0.33",
                "2030-01-01T15:00:00Z",
            ));
        }
    }
    assert!(fills.iter().all(|fill| fill.time <= end));
}

/// Half a cent: the most one booking (one realisation, or one open position's mark) can move
/// a total away from the exact cash flow.
fn half_cent() -> Decimal {
    d("0.005")
}

/// Cash flow of the fills with fees as booked (in cents): sells - buys - fees.
fn cash_flow(fills: &[Fill]) -> Decimal {
    fills
        .iter()
        .map(|fill| -fill.side.sign() * fill.notional() - cents(fill.fee))
        .sum()
}

#[test]
fn daily_totals_and_open_pnl_reconcile_to_the_trades_on_generated_fills() {
    let mut cases: Vec<(Vec<Fill>, bool)> = Vec::new();
    for seed in [1_u64, 7, 2026] {
        // Odd prices and fractional quantities: exits are rounded to the cent.
        cases.push((lcg_fills(3000, seed), false));
        // Cent prices and whole shares: FIFO exits are whole cents, nothing to round.
        cases.push((sample_fills(5000, seed), true));
    }
    for (case, (mut fills, cent_prices)) in cases.into_iter().enumerate() {
        // The mark of each symbol: its last fill price.
        let mut marks: std::collections::HashMap<String, Decimal> = Default::default();
        let mut ordered = fills.clone();
        ordered.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
        for fill in &ordered {
            marks.insert(fill.symbol.clone(), fill.price);
        }
        let exact_total = cash_flow(&fills)
            + fills
                .iter()
                .map(|fill| fill.side.sign() * fill.quantity * marks[&fill.symbol])
                .sum::<Decimal>();
        let mut totals = Vec::new();
        for method in [CostBasis::Fifo, CostBasis::Average] {
            let trades = build_trades_with(&fills, method);
            let by_trade: Decimal = trades.iter().map(|trade| trade.realised_pnl).sum();
            for tz in [DEFAULT_TIMEZONE, chrono_tz::UTC, chrono_tz::Asia::Tokyo] {
                let by_day: Decimal = daily_pnl(&trades, tz, None, None)
                    .iter()
                    .map(|day| day.realised_pnl)
                    .sum();
                assert_eq!(by_day, by_trade, "case {case} {method} {tz}");
            }
            // Every fee is attributed to exactly one trade (a flip's two shares add up).
            let fill_fees: Decimal = fills.iter().map(|fill| cents(fill.fee)).sum();
            let trade_fees: Decimal = trades.iter().map(|trade| trade.fees).sum();
            assert_eq!(trade_fees, fill_fees, "case {case} {method}");
            // Every booked amount is whole cents.
            for trade in &trades {
                for realisation in &trade.realisations {
                    assert_eq!(realisation.pnl, cents(realisation.pnl), "case {case}");
                    assert_eq!(realisation.fees, cents(realisation.fees), "case {case}");
                }
            }
            // Realised by day + open P&L at the marks = the cash flow + open positions at the
            // marks, within half a cent per booking; to the cent exactly for FIFO on cent prices.
            let open: Vec<_> = trades.iter().filter(|trade| !trade.is_closed()).collect();
            let unrealised: Decimal = open
                .iter()
                .map(|trade| trade.unrealised_pnl(marks[&trade.symbol]))
                .sum();
            let bookings: usize = trades
                .iter()
                .map(|trade| trade.realisations.len())
                .sum::<usize>()
                + open.len();
            let total = by_trade + unrealised;
            let slack = half_cent() * Decimal::from(bookings);
            assert!(
                (total - exact_total).abs() <= slack,
                "case {case} {method}: {total} vs {exact_total}"
            );
            if cent_prices && method == CostBasis::Fifo {
                let unrounded: Decimal = open
                    .iter()
                    .map(|trade| {
                        let value = trade.open_quantity * marks[&trade.symbol];
                        let gross = match trade.side {
                            TradeSide::Long => value - trade.open_cost_basis,
                            TradeSide::Short => trade.open_cost_basis - value,
                        };
                        gross - trade.open_entry_fees
                    })
                    .sum();
                assert_eq!(by_trade + unrounded, exact_total, "case {case}");
            }
            totals.push(total);
            // Open quantity left per symbol is the net position.
            for trade in &open {
                let net: Decimal = fills
                    .iter()
                    .filter(|fill| fill.symbol == trade.symbol)
                    .map(|fill| fill.side.sign() * fill.quantity)
                    .sum();
                let signed = match trade.side {
                    TradeSide::Long => trade.open_quantity,
                    TradeSide::Short => -trade.open_quantity,
                };
                assert_eq!(signed, net, "case {case} {}", trade.symbol);
            }
        }
        // Both methods value the account the same, up to their roundings.
        let slack = half_cent() * Decimal::from(2 * fills.len());
        assert!((totals[0] - totals[1]).abs() <= slack, "case {case}");

        // All closed: realised P&L is the cash flow, sells - buys - fees.
        flatten(&mut fills);
        let cash = cash_flow(&fills);
        for method in [CostBasis::Fifo, CostBasis::Average] {
            let trades = build_trades_with(&fills, method);
            assert!(trades.iter().all(|trade| trade.is_closed()));
            let by_trade: Decimal = trades.iter().map(|trade| trade.realised_pnl).sum();
            let realisations: usize = trades.iter().map(|trade| trade.realisations.len()).sum();
            let slack = half_cent() * Decimal::from(realisations);
            assert!((by_trade - cash).abs() <= slack, "case {case} {method}");
            if cent_prices && method == CostBasis::Fifo {
                assert_eq!(by_trade, cash, "case {case}");
            }
            for trade in &trades {
                assert_eq!(trade.realised_pnl, trade.gross_pnl - trade.fees);
                assert_eq!(trade.exit_quantity, trade.entry_quantity);
            }
            // Days, months, years and statistics are sums of the same booked cents: exact.
            let daily = daily_pnl(&trades, DEFAULT_TIMEZONE, None, None);
            let by_day: Decimal = daily.iter().map(|day| day.realised_pnl).sum();
            assert_eq!(by_day, by_trade, "case {case} {method}");
            let closed_by_day: u32 = daily.iter().map(|day| day.trades_closed).sum();
            assert_eq!(closed_by_day as usize, trades.len());
            let stats = statistics(&trades, &[]);
            assert_eq!(stats.net_pnl, by_trade);
            let by_month: Decimal = (2025..=2030)
                .flat_map(|year| year_calendar(&daily, year))
                .map(|month| month.pnl)
                .sum();
            assert_eq!(by_month, by_trade, "case {case} {method}");
        }
    }
}

#[test]
fn sample_fills_are_deterministic_and_varied() {
    let fills = sample_fills(20_000, 42);
    assert_eq!(fills, sample_fills(20_000, 42));
    assert_ne!(fills, sample_fills(20_000, 43));
    assert!(fills.iter().all(|fill| fill.validate().is_ok()));
    assert!(fills.windows(2).all(|pair| pair[0].time < pair[1].time));
    let trades = build_trades(&fills);
    let longs = trades
        .iter()
        .filter(|trade| trade.side == TradeSide::Long)
        .count();
    let shorts = trades
        .iter()
        .filter(|trade| trade.side == TradeSide::Short)
        .count();
    let scaled = trades
        .iter()
        .filter(|trade| trade.fill_ids.len() > 2)
        .count();
    let symbols: std::collections::BTreeSet<&str> =
        trades.iter().map(|trade| trade.symbol.as_str()).collect();
    assert!(
        longs > 1000 && shorts > 1000,
        "longs {longs} shorts {shorts}"
    );
    assert!(scaled > 1000, "scaled {scaled}");
    assert_eq!(symbols.len(), 6);
    // Some fills flip a position: the fill that closes one trade opens the next.
    let closing_fills: std::collections::HashSet<&str> = trades
        .iter()
        .filter_map(|trade| trade.realisations.last())
        .map(|realisation| realisation.fill_id.as_str())
        .collect();
    let flips = trades
        .iter()
        .filter(|trade| closing_fills.contains(trade.id.as_str()))
        .count();
    assert!(flips > 100, "flips {flips}");
}
