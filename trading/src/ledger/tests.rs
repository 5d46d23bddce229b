use std::collections::HashMap;

use chrono::TimeDelta;
use exporter_protocol::brokerage::{CashActivity, FillRecord};

use super::*;
use crate::{account_from_records, daily_pnl, daily_pnl_with_cash, sample_fills, statistics};

/// A small LCG for shuffles and picks (deterministic).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

fn record(fill: &Fill, order: Option<String>) -> FillRecord {
    FillRecord {
        id: fill.id.clone(),
        symbol: fill.symbol.clone(),
        side: match fill.side {
            crate::Side::Buy => "buy".into(),
            crate::Side::Sell => "sell".into(),
        },
        quantity: fill.quantity,
        price: fill.price,
        fee: fill.fee,
        time: fill.time,
        order_id: order,
        strategy: fill.strategy.clone(),
    }
}

fn activity(
    id: String,
    kind: &str,
    date: NaiveDate,
    amount: &str,
    order: Option<String>,
) -> CashActivity {
    CashActivity {
        id,
        activity_type: kind.into(),
        activity_sub_type: None,
        date,
        net_amount: amount.parse().unwrap(),
        symbol: None,
        order_id: order,
        description: None,
        status: Some("executed".into()),
    }
}

/// Compares everything the ledger answers with the full rebuild of the same records.
fn check(
    ledger: &Ledger,
    held: &HashMap<String, FillRecord>,
    activities: &[CashActivity],
    context: &str,
) {
    let tz = crate::DEFAULT_TIMEZONE;
    let mut records: Vec<FillRecord> = held.values().cloned().collect();
    records.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    let method = ledger.book.method();
    let (trades, flows) = account_from_records(records, activities, method, tz);
    let got: Vec<Trade> = ledger.trades().into_iter().cloned().collect();
    if got != trades {
        let first = got.iter().zip(&trades).position(|(a, b)| a != b);
        panic!(
            "{context}: trades differ ({} vs {}), first at {first:?}: {:#?} vs {:#?}",
            got.len(),
            trades.len(),
            first.map(|i| &got[i]),
            first.map(|i| &trades[i])
        );
    }
    assert_eq!(ledger.cash_flows(), flows.as_slice(), "{context}: flows");
    let equity = [
        EquityPoint {
            time: "2025-01-02T21:00:00Z".parse().unwrap(),
            equity: "100000".parse().unwrap(),
        },
        EquityPoint {
            time: "2025-01-03T21:00:00Z".parse().unwrap(),
            equity: "99000.5".parse().unwrap(),
        },
    ];
    let json = |v: &dyn erased::Json| v.json();
    assert_eq!(
        json(&ledger.statistics(&equity)),
        json(&statistics(&trades, &equity)),
        "{context}: statistics"
    );
    assert_eq!(
        json(&ledger.daily_pnl(None, None)),
        json(&daily_pnl_with_cash(&trades, &flows, tz, None, None)),
        "{context}: daily P&L"
    );
    let (from, to) = (
        NaiveDate::from_ymd_opt(2025, 1, 6),
        NaiveDate::from_ymd_opt(2025, 1, 9),
    );
    assert_eq!(
        json(&ledger.daily_pnl(from, to)),
        json(&daily_pnl_with_cash(&trades, &flows, tz, from, to)),
        "{context}: daily P&L in a range"
    );
    assert_eq!(
        json(&ledger.trade_days(from, None)),
        json(&daily_pnl(&trades, tz, from, None)),
        "{context}: trade days"
    );
    if let Some(day) = from {
        assert_eq!(
            ledger.realised_pnl_on(day).to_string(),
            crate::realised_pnl_on(&trades, tz, day).to_string()
        );
    }
    let mut closed: Vec<&Trade> = trades.iter().filter(|t| t.is_closed()).collect();
    closed.sort_by(|a, b| b.closed_at.cmp(&a.closed_at).then_with(|| b.id.cmp(&a.id)));
    for skip in [0, 1, 3, 7, closed.len().saturating_sub(2)] {
        let got: Vec<&str> = ledger
            .closed_newest_first(skip)
            .take(5)
            .map(|t| t.id.as_str())
            .collect();
        let want: Vec<&str> = closed
            .iter()
            .skip(skip)
            .take(5)
            .map(|t| t.id.as_str())
            .collect();
        assert_eq!(got, want, "{context}: history from {skip}");
    }
    let open: Vec<&Trade> = trades.iter().filter(|t| !t.is_closed()).collect();
    assert_eq!(ledger.open_trades(), open, "{context}: open trades");
}

/// `serde_json::to_string` of anything serialisable, behind one object-safe trait.
mod erased {
    pub trait Json {
        fn json(&self) -> String;
    }

    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap()
        }
    }
}

/// Fills arriving out of order (late ones), corrections, fees naming orders, account fees and
/// deposits: after every fill, what the ledger answers is the full rebuild's, to the byte.
#[test]
fn the_ledger_answers_what_a_full_rebuild_answers_after_every_fill() {
    for seed in 0..6u64 {
        for method in [CostBasis::Fifo, CostBasis::Average] {
            let mut rng = Lcg(seed * 7 + 3);
            let mut fills = sample_fills(160, seed);
            // Some fills at the same time as the one before (ties across symbols).
            for i in 1..fills.len() {
                if rng.below(9) == 0 {
                    fills[i].time = fills[i - 1].time;
                }
            }
            let records: Vec<FillRecord> = fills
                .iter()
                .enumerate()
                .map(|(i, f)| record(f, (i % 5 != 0).then(|| format!("order-{}", i / 2))))
                .collect();
            let day = |i: usize| {
                crate::trading_day(fills[i.min(fills.len() - 1)].time, crate::DEFAULT_TIMEZONE)
            };
            let mut activities = Vec::new();
            for k in 0..12 {
                let at = rng.below(fills.len());
                activities.push(activity(
                    format!("fee-{k}"),
                    "FEE",
                    day(at),
                    ["-0.026", "-0.01", "-1", "-0.5"][k % 4],
                    Some(format!("order-{}", at / 2)),
                ));
            }
            activities.push(activity(
                "lost".into(),
                "FEE",
                day(3),
                "-0.07",
                Some("nobody".into()),
            ));
            activities.push(activity("acct".into(), "FEE", day(9), "-0.02", None));
            activities.push(activity("dep".into(), "CSD", day(20), "1000", None));
            activities.push(activity("div".into(), "DIV", day(40), "3.21", None));
            let (first_half, second_half) = activities.split_at(6);

            let mut order: Vec<usize> = (0..records.len()).collect();
            for i in 0..order.len() / 8 {
                let j = rng.below(order.len());
                order.swap(i * 8, j);
            }
            let mut ledger = Ledger::from_records(
                order[..20].iter().map(|&i| records[i].clone()).collect(),
                first_half,
                method,
                crate::DEFAULT_TIMEZONE,
            );
            let mut held: HashMap<String, FillRecord> = order[..20]
                .iter()
                .map(|&i| (records[i].id.clone(), records[i].clone()))
                .collect();
            let mut current: Vec<CashActivity> = first_half.to_vec();
            check(
                &ledger,
                &held,
                &current,
                &format!("seed {seed} {method:?} built"),
            );
            for (n, &i) in order[20..].iter().enumerate() {
                ledger.apply(records[i].clone());
                held.insert(records[i].id.clone(), records[i].clone());
                if n == 60 {
                    current = activities.clone();
                    ledger.set_activities(&current);
                }
                if n == 100 {
                    current = second_half.to_vec();
                    ledger.set_activities(&current);
                }
                check(
                    &ledger,
                    &held,
                    &current,
                    &format!("seed {seed} {method:?} fill {n}"),
                );
            }
            // Corrections: a higher fee, another strategy, an earlier time, another symbol.
            for k in 0..12 {
                let mut fixed = records[rng.below(records.len())].clone();
                match k % 4 {
                    0 => fixed.fee += rust_decimal::Decimal::new(13, 3),
                    1 => fixed.strategy = Some("fixed".into()),
                    2 => fixed.time -= TimeDelta::hours(30),
                    _ => fixed.symbol = "ZZZZ".into(),
                }
                ledger.apply(fixed.clone());
                held.insert(fixed.id.clone(), fixed);
                check(
                    &ledger,
                    &held,
                    &current,
                    &format!("seed {seed} {method:?} correction {k}"),
                );
            }
            assert_eq!(ledger.fill_count(), held.len());
            assert!(
                ledger.cash_flows().iter().any(|f| f.trade_id.is_some()),
                "some fee is charged to a trade"
            );
        }
    }
}

/// The same with enough closed trades for several blocks of the close-order index.
#[test]
fn statistics_over_many_blocks_match_the_full_rebuild() {
    let fills = sample_fills(12_000, 5);
    let records: Vec<FillRecord> = fills.iter().map(|f| record(f, None)).collect();
    let (early, late) = records.split_at(11_000);
    let mut ledger = Ledger::from_records(
        early.to_vec(),
        &[],
        CostBasis::Fifo,
        crate::DEFAULT_TIMEZONE,
    );
    let mut held: HashMap<String, FillRecord> =
        early.iter().map(|r| (r.id.clone(), r.clone())).collect();
    for (n, fill) in late.iter().enumerate() {
        // Every tenth arrives two days late.
        let mut fill = fill.clone();
        if n % 10 == 0 {
            fill.time -= TimeDelta::days(2);
        }
        ledger.apply(fill.clone());
        held.insert(fill.id.clone(), fill);
        if n % 97 == 0 {
            check(&ledger, &held, &[], &format!("many blocks, fill {n}"));
        }
    }
    check(&ledger, &held, &[], "many blocks, end");
    assert!(ledger.indices.closed.sums().count() > 4, "several blocks");
    assert!(ledger.statistics(&[]).max_drawdown.is_some());
}
