//! Trading benchmark: how long the trade pipeline takes on 1,000,000 generated fills, next to
//! the simplest possible pass over the same fills (summing `price * quantity`) measured in the
//! same run and printed as a ratio (these machines are shared and noisy: the ratios mean more
//! than the absolute times).
//!
//! Trades are built under both cost basis methods (FIFO lots and the moving average cost), and
//! kept up to date incrementally by a `TradeBook` (one new fill, one late fill) and by the
//! `Ledger` the API keeps (its build, memory per fill, a new fill, and the statistics, daily
//! P&L and first history page read from it).
//!
//! Run: `cargo bench -p exporter-trading --bench trading` (env `BENCH_FILLS`, default
//! 1000000; `BENCH_RUNS`, default 3, the best run of each step is printed).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use exporter_trading::{
    CostBasis, DEFAULT_TIMEZONE, EquityPoint, Fill, Ledger, TradeBook, build_trades,
    build_trades_with, daily_pnl, month_calendar, sample_fills, statistics, year_calendar,
};

/// Resident memory of this process, from /proc (0 where there is none).
fn resident_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| text.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}
use rust_decimal::Decimal;

/// Best wall time of `runs` calls of `step`, and the last result.
fn best_of<T>(runs: usize, mut step: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut result = None;
    for _ in 0..runs {
        let start = Instant::now();
        let value = black_box(step());
        best = best.min(start.elapsed());
        result = Some(value);
    }
    (best, result.unwrap())
}

/// Environment variable as a number, or the default.
fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let count = env_or("BENCH_FILLS", 1_000_000);
    let runs = env_or("BENCH_RUNS", 3).max(1);

    let start = Instant::now();
    let fills: Vec<Fill> = sample_fills(count, 2026);
    let generate = start.elapsed();

    let (baseline, notional) = best_of(runs, || {
        black_box(&fills)
            .iter()
            .map(|fill| fill.price * fill.quantity)
            .sum::<Decimal>()
    });
    let (build, trades) = best_of(runs, || build_trades(black_box(&fills)));
    let (build_average, _) = best_of(runs, || {
        build_trades_with(black_box(&fills), CostBasis::Average)
    });
    let (daily_time, daily) = best_of(runs, || {
        daily_pnl(black_box(&trades), DEFAULT_TIMEZONE, None, None)
    });
    // One equity point per trading day: 10,000,000 plus the cumulative realised P&L.
    let equity: Vec<EquityPoint> = daily
        .iter()
        .scan(Decimal::from(10_000_000), |equity, day| {
            *equity += day.realised_pnl;
            Some(EquityPoint {
                time: day.date.and_hms_opt(21, 0, 0).unwrap().and_utc(),
                equity: *equity,
            })
        })
        .collect();
    let (stats_time, stats) = best_of(runs, || statistics(black_box(&trades), &equity));
    let first_year = daily
        .first()
        .map_or(2025, |day| chrono::Datelike::year(&day.date));
    let (year_time, year) = best_of(runs, || year_calendar(black_box(&daily), first_year));
    let (month_time, month) = best_of(runs, || {
        month_calendar(black_box(&daily), first_year, 3).unwrap()
    });

    // Incremental: a book of every fill, then one new fill at the end (the usual case) and one
    // late fill a day back, each a fresh id per run; and listing every trade from the book.
    let mut book = TradeBook::from_fills(fills.iter().cloned(), CostBasis::Fifo);
    let last = fills.last().unwrap().clone();
    let mut serial = 0usize;
    let (append_time, _) = best_of(runs, || {
        serial += 1;
        book.apply(Fill {
            id: format!("bench-new-{serial}"),
            time: last.time + chrono::TimeDelta::seconds(serial as i64),
            ..last.clone()
        })
    });
    let (late_time, _) = best_of(runs, || {
        serial += 1;
        book.apply(Fill {
            id: format!("bench-late-{serial}"),
            time: last.time - chrono::TimeDelta::days(1),
            ..last.clone()
        })
    });
    let (list_time, listed) = best_of(runs, || book.trades().len());
    black_box(listed);
    drop(book);

    // The ledger (what the API and the alert engine keep): its build, memory, a new fill and
    // the answers read from its sums.
    let records: Vec<exporter_protocol::brokerage::FillRecord> = fills
        .iter()
        .map(|f| exporter_protocol::brokerage::FillRecord {
            id: f.id.clone(),
            symbol: f.symbol.clone(),
            side: if f.side == exporter_trading::Side::Buy {
                "buy"
            } else {
                "sell"
            }
            .into(),
            quantity: f.quantity,
            price: f.price,
            fee: f.fee,
            time: f.time,
            order_id: Some(format!("order-{}", f.id)),
            strategy: f.strategy.clone(),
        })
        .collect();
    let resident_before = resident_bytes();
    let start = Instant::now();
    let mut ledger = Ledger::from_records(records, &[], CostBasis::Fifo, DEFAULT_TIMEZONE);
    let ledger_build = start.elapsed();
    let ledger_bytes = resident_bytes().saturating_sub(resident_before);
    let (ledger_new, _) = best_of(runs, || {
        serial += 1;
        ledger.apply(exporter_protocol::brokerage::FillRecord {
            id: format!("bench-ledger-{serial}"),
            symbol: last.symbol.clone(),
            side: if serial.is_multiple_of(2) {
                "buy"
            } else {
                "sell"
            }
            .into(),
            quantity: last.quantity,
            price: last.price,
            fee: last.fee,
            time: last.time + chrono::TimeDelta::seconds(serial as i64),
            order_id: None,
            strategy: None,
        })
    });
    let (ledger_stats, _) = best_of(runs, || ledger.statistics(&equity));
    let (ledger_daily, _) = best_of(runs, || ledger.daily_pnl(None, None).len());
    let (ledger_page, _) = best_of(runs, || ledger.closed_newest_first(0).take(100).count());

    println!(
        "{count} fills over {} symbols, generated in {generate:.2?}; best of {runs} runs",
        stats.per_symbol.len()
    );
    println!(
        "-> {} trades ({} closed, {} open), {} trading days, {} daily returns",
        trades.len(),
        stats.closed_trades,
        stats.open_trades,
        daily.len(),
        stats.daily_returns
    );
    println!(
        "   net P&L {}, fees {}, notional {notional}, win rate {:?}, Sharpe {:?}",
        stats.net_pnl, stats.total_fees, stats.win_rate, stats.sharpe_ratio,
    );
    println!(
        "   {first_year}: {} months with P&L, March total {}",
        year.iter().filter(|month| month.trading_days > 0).count(),
        month.month_total
    );
    let ratio = |time: Duration| time.as_secs_f64() / baseline.as_secs_f64();
    println!("{:<34} {:>12} {:>10}", "step", "time", "x baseline");
    for (name, time) in [
        ("baseline: sum of price*quantity", baseline),
        ("build_trades (FIFO, the default)", build),
        ("build_trades (average cost)", build_average),
        ("daily_pnl (America/New_York)", daily_time),
        ("statistics (trades + equity)", stats_time),
        ("year_calendar", year_time),
        ("month_calendar", month_time),
        ("TradeBook: one new fill", append_time),
        ("TradeBook: one late fill (1 day)", late_time),
        ("TradeBook: list every trade", list_time),
        ("Ledger: build from every fill", ledger_build),
        ("Ledger: one new fill", ledger_new),
        ("Ledger: statistics", ledger_stats),
        ("Ledger: daily P&L (every day)", ledger_daily),
        ("Ledger: history, first 100", ledger_page),
    ] {
        println!("{name:<34} {:>12.2?} {:>10.2}", time, ratio(time));
    }
    println!(
        "Ledger memory: {:.0} bytes per fill (resident growth over {count} fills)",
        ledger_bytes as f64 / count as f64
    );
}
