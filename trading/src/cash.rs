//! Cash that moved for another reason than a fill: fees, dividends and interest, deposits and
//! withdrawals (the broker's non-trade activities), and how each enters the P&L.
//!
//! Without them net P&L is overstated by the broker's fees and an equity change cannot be
//! explained. The rules:
//!
//! * **Kind** ([`cash_kind`], from the broker's `activity_type`): `FEE`, `CFEE`, `PTC` and
//!   `DIVFEE` are **fees**; `DIV*` and `INT*` (withholding `DIVNRA`, `DIVTW`, `INTNRA`,
//!   `INTTW` included, as negative income) are **income**; `CSD` is a **deposit**, `CSW` a
//!   **withdrawal**, and the transfers `TRANS`, `JNLC`, `JNL`, `ACATC` a deposit when they
//!   bring cash in and a withdrawal when they take it out; anything else is **other** (listed,
//!   in no total). An activity whose status is `canceled` moves nothing and is left out.
//! * **Booking**: each amount is booked to the cent (half to even), signed as the broker gives
//!   it (positive into the account).
//! * **Fees naming an order** (Alpaca's `order_id`, or an order id in the description) are
//!   charged to the trade that order's fills belong to ([`charge_order_fees`]): the trade's
//!   `fees` grow and its `realised_pnl` falls by the fee, through a [`Realisation`] of
//!   quantity 0 on the fee's day (at the time of the order's last fill when that fill is on
//!   the fee's day, else at 16:00 exchange time), so the day's, the trade's and the
//!   statistics' numbers all carry it. Other fees are **account fees** of their day.
//! * **Deposits and withdrawals are not performance**: a day's `net_deposits` is reported
//!   beside its P&L and taken out of its equity change:
//!   `equity_change − net_deposits = realised P&L − account fees + income + change in open
//!   positions' value`.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use exporter_protocol::brokerage::{CashActivity, FillRecord};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::money::{cents, ratio_number};
use crate::{Realisation, Trade, trading_day};

/// What a non-trade activity counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CashKind {
    /// Charged by the broker or a regulator (`FEE`, `CFEE`, `PTC`, `DIVFEE`).
    Fee,
    /// Dividends and interest, net of withholding (`DIV*`, `INT*`).
    Income,
    /// Cash brought in (`CSD`, or an incoming transfer).
    Deposit,
    /// Cash taken out (`CSW`, or an outgoing transfer).
    Withdrawal,
    /// Anything else (listed, counted in no total).
    Other,
}

/// The kind of an activity of type `activity_type` moving `net_amount` (see the module rules).
pub fn cash_kind(activity_type: &str, net_amount: Decimal) -> CashKind {
    let code = activity_type.trim().to_ascii_uppercase();
    let transfer = || {
        if net_amount < Decimal::ZERO {
            CashKind::Withdrawal
        } else {
            CashKind::Deposit
        }
    };
    match code.as_str() {
        "FEE" | "CFEE" | "PTC" | "DIVFEE" => CashKind::Fee,
        "CSD" => CashKind::Deposit,
        "CSW" => CashKind::Withdrawal,
        "TRANS" | "JNLC" | "JNL" | "ACATC" => transfer(),
        _ if code.starts_with("DIV") || code.starts_with("INT") => CashKind::Income,
        _ => CashKind::Other,
    }
}

/// One non-trade activity as booked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CashFlow {
    /// The broker's activity id.
    pub id: String,
    /// What it counts as.
    pub kind: CashKind,
    /// The broker's code (`FEE`, `DIV`, `CSD`, ...).
    pub activity_type: String,
    /// The day it applies to.
    pub date: NaiveDate,
    /// Cash moved, in cents, signed: positive into the account (a fee is negative).
    pub amount: Decimal,
    /// The symbol, for dividends and per-asset fees.
    pub symbol: Option<String>,
    /// The order a fee names.
    pub order_id: Option<String>,
    /// The broker's description.
    pub description: Option<String>,
    /// The trade a fee was charged to (by [`charge_order_fees`]); `None` for an account fee.
    pub trade_id: Option<String>,
}

/// The activities as cash flows, by date then id; `canceled` ones left out.
pub fn cash_flows(activities: &[CashActivity]) -> Vec<CashFlow> {
    let mut flows: Vec<CashFlow> = activities
        .iter()
        .filter(|a| {
            !a.status.as_deref().is_some_and(|s| {
                s.eq_ignore_ascii_case("canceled") || s.eq_ignore_ascii_case("cancelled")
            })
        })
        .map(|a| CashFlow {
            id: a.id.clone(),
            kind: cash_kind(&a.activity_type, a.net_amount),
            activity_type: a.activity_type.clone(),
            date: a.date,
            amount: cents(a.net_amount),
            symbol: a.symbol.clone(),
            order_id: a.order_id.clone(),
            description: a.description.clone(),
            trade_id: None,
        })
        .collect();
    flows.sort_by(|a, b| (a.date, &a.id).cmp(&(b.date, &b.id)));
    flows
}

/// When a fee booked on `date` and charged to a trade is realised: at the order's last fill
/// when that fill is on `date`, else at 16:00 on `date` in `tz` (the regular close).
fn fee_time(date: NaiveDate, last_fill: Option<DateTime<Utc>>, tz: Tz) -> DateTime<Utc> {
    if let Some(time) = last_fill
        && trading_day(time, tz) == date
    {
        return time;
    }
    let close = NaiveTime::from_hms_opt(16, 0, 0).unwrap_or_default();
    date.and_time(close)
        .and_local_timezone(tz)
        .earliest()
        .map_or_else(|| date.and_time(close).and_utc(), |t| t.with_timezone(&Utc))
}

/// Charges every fee of `flows` that names an order of `fills` to the trade that order's
/// fills belong to (the first trade, for a flip), and records that trade's id in the flow.
///
/// The trade's `fees` grow by the fee and its `realised_pnl` falls by it, through a
/// [`Realisation`] (id: the activity's, quantity 0, `pnl = −fee`) kept in time order; a closed
/// trade's `return_percent` is taken again over its entry notional (`entry_price ×
/// entry_quantity`). A fee naming an order the fills do not know stays an account fee.
pub fn charge_order_fees(
    trades: &mut [Trade],
    fills: &[FillRecord],
    flows: &mut [CashFlow],
    tz: Tz,
) {
    let mut order_of_fill: HashMap<&str, &str> = HashMap::new();
    let mut last_fill_of_order: HashMap<&str, DateTime<Utc>> = HashMap::new();
    for fill in fills {
        if let Some(order) = fill.order_id.as_deref() {
            order_of_fill.insert(fill.id.as_str(), order);
            let last = last_fill_of_order.entry(order).or_insert(fill.time);
            *last = (*last).max(fill.time);
        }
    }
    let mut trade_of_order: HashMap<&str, usize> = HashMap::new();
    for (index, trade) in trades.iter().enumerate() {
        for fill_id in &trade.fill_ids {
            if let Some(order) = order_of_fill.get(fill_id.as_str()) {
                trade_of_order.entry(order).or_insert(index);
            }
        }
    }
    let mut charged = vec![false; trades.len()];
    for flow in flows.iter_mut().filter(|f| f.kind == CashKind::Fee) {
        let Some(order) = flow.order_id.as_deref() else {
            continue;
        };
        let Some(&index) = trade_of_order.get(order) else {
            continue;
        };
        let last_fill = last_fill_of_order.get(order).copied();
        charge_fee(&mut trades[index], flow, last_fill, tz);
        charged[index] = true;
    }
    for (trade, _) in trades.iter_mut().zip(charged).filter(|(_, c)| *c) {
        rebase_return(trade);
    }
}

/// Charges one fee `flow` (naming an order whose last fill was at `last_fill`) to `trade`, as
/// [`charge_order_fees`] does, and records the trade's id in the flow.
pub(crate) fn charge_fee(
    trade: &mut Trade,
    flow: &mut CashFlow,
    last_fill: Option<DateTime<Utc>>,
    tz: Tz,
) {
    let fee = -flow.amount;
    trade.fees += fee;
    trade.realised_pnl -= fee;
    let realisation = Realisation {
        time: fee_time(flow.date, last_fill, tz),
        fill_id: flow.id.clone(),
        quantity: Decimal::ZERO,
        gross_pnl: Decimal::ZERO,
        fees: fee,
        pnl: -fee,
    };
    let at = trade
        .realisations
        .partition_point(|r| r.time <= realisation.time);
    trade.realisations.insert(at, realisation);
    flow.trade_id = Some(trade.id.clone());
}

/// A closed trade's `return_percent` taken again over its entry notional, once fees were
/// charged to it.
pub(crate) fn rebase_return(trade: &mut Trade) {
    let entry = trade.entry_price * trade.entry_quantity;
    if trade.is_closed() && !entry.is_zero() {
        trade.return_percent = Some(ratio_number(
            trade.realised_pnl / entry * Decimal::ONE_HUNDRED,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fill, build_trades};

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn activity(
        id: &str,
        kind: &str,
        date: &str,
        amount: &str,
        order: Option<&str>,
    ) -> CashActivity {
        CashActivity {
            id: id.into(),
            activity_type: kind.into(),
            activity_sub_type: None,
            date: date.parse().unwrap(),
            net_amount: d(amount),
            symbol: None,
            order_id: order.map(Into::into),
            description: None,
            status: Some("executed".into()),
        }
    }

    #[test]
    fn kinds_follow_the_activity_type_and_the_sign_of_transfers() {
        assert_eq!(cash_kind("FEE", d("-0.02")), CashKind::Fee);
        assert_eq!(cash_kind("DIVNRA", d("-0.30")), CashKind::Income);
        assert_eq!(cash_kind("INT", d("1.10")), CashKind::Income);
        assert_eq!(cash_kind("CSD", d("100")), CashKind::Deposit);
        assert_eq!(cash_kind("CSW", d("-100")), CashKind::Withdrawal);
        assert_eq!(cash_kind("JNLC", d("-5")), CashKind::Withdrawal);
        assert_eq!(cash_kind("JNLC", d("5")), CashKind::Deposit);
        assert_eq!(cash_kind("SPLIT", d("0")), CashKind::Other);
    }

    #[test]
    fn a_fee_naming_an_order_is_charged_to_its_trade_on_its_day() {
        let record = |id: &str, side: &str, price: &str, time: &str| FillRecord {
            id: id.into(),
            symbol: "AAPL".into(),
            side: side.into(),
            quantity: d("10"),
            price: d(price),
            fee: Decimal::ZERO,
            time: time.parse().unwrap(),
            order_id: Some(format!("order-{id}")),
            strategy: None,
        };
        let records = vec![
            record("b", "buy", "100", "2026-03-02T15:00:00Z"),
            record("s", "sell", "101", "2026-03-02T16:00:00Z"),
        ];
        let fills: Vec<Fill> = records.iter().cloned().map(Fill::from).collect();
        let mut trades = build_trades(&fills);
        assert_eq!(trades[0].realised_pnl, d("10"));
        let mut flows = cash_flows(&[
            activity("fee-1", "FEE", "2026-03-02", "-0.026", Some("order-s")),
            activity("fee-2", "FEE", "2026-03-02", "-0.01", None),
            activity("dep", "CSD", "2026-03-01", "500", None),
            activity("gone", "CSD", "2026-03-01", "500", None),
        ]);
        flows.retain(|f| f.id != "gone");
        charge_order_fees(&mut trades, &records, &mut flows, crate::DEFAULT_TIMEZONE);
        // -0.026 books as -0.03 (half to even of the third decimal).
        assert_eq!(trades[0].fees, d("0.03"));
        assert_eq!(trades[0].realised_pnl, d("9.97"));
        assert_eq!(trades[0].return_percent, Some(0.997));
        let last = trades[0].realisations.last().unwrap();
        assert_eq!((last.fill_id.as_str(), last.pnl), ("fee-1", d("-0.03")));
        assert_eq!(last.time, records[1].time);
        let charged: Vec<Option<&str>> = flows.iter().map(|f| f.trade_id.as_deref()).collect();
        assert_eq!(charged, [None, Some("b"), None]);
    }

    #[test]
    fn canceled_activities_move_nothing() {
        let mut gone = activity("x", "CSD", "2026-03-01", "500", None);
        gone.status = Some("canceled".into());
        assert!(cash_flows(&[gone]).is_empty());
    }
}
