//! Which trade carries the fees that name an order, kept as the trades change: the first trade
//! (in opening order) holding one of the order's fills, as [`crate::charge_order_fees`] decides
//! it in a full build. Only the orders named by a fee are followed.

use std::collections::BTreeSet;

use exporter_protocol::brokerage::FillRecord;

use super::{Ledger, TradeKey};
use crate::{CashKind, Trade};

impl Ledger {
    /// Records the order of a fill.
    pub(super) fn note_order(&mut self, record: &FillRecord) {
        let Some(order) = &record.order_id else {
            return;
        };
        self.order_of_fill.insert(record.id.clone(), order.clone());
        let fills = self.fills_of_order.entry(order.clone()).or_default();
        match fills.iter_mut().find(|(id, _)| *id == record.id) {
            Some(fill) => fill.1 = record.time,
            None => fills.push((record.id.clone(), record.time)),
        }
    }

    /// The orders named by fees among the orders of `trade`'s fills, into `orders`.
    pub(super) fn orders_of(&self, trade: &Trade, orders: &mut BTreeSet<String>) {
        if self.fee_orders.is_empty() {
            return;
        }
        for id in &trade.fill_ids {
            if let Some(order) = self.order_of_fill.get(id)
                && self.fee_orders.contains_key(order)
            {
                orders.insert(order.clone());
            }
        }
    }

    pub(super) fn index_fee_orders(&mut self) {
        self.fee_orders.clear();
        for (index, flow) in self.flows.iter().enumerate() {
            if flow.kind == CashKind::Fee
                && let Some(order) = &flow.order_id
            {
                self.fee_orders
                    .entry(order.clone())
                    .or_default()
                    .flows
                    .push(index);
            }
        }
    }

    /// The first trade (in opening order) holding a fill of `order`: the one its fees go to.
    pub(super) fn owner_of(&self, order: &str) -> Option<TradeKey> {
        let fills = self.fills_of_order.get(order)?;
        fills
            .iter()
            .filter_map(|(id, time)| {
                let symbol = self.book.symbol_of(id)?;
                let trades = self.book.trades_of(symbol);
                // A fill is in the last trade opened before it (unless that one closed first),
                // or in the one it opened.
                let at = trades.partition_point(|t| (t.opened_at, t.id.as_str()) < (*time, id));
                let before = at
                    .checked_sub(1)
                    .map(|i| &trades[i])
                    .filter(|t| t.fill_ids.iter().any(|f| f == id));
                before
                    .or_else(|| {
                        trades
                            .get(at)
                            .filter(|t| t.fill_ids.iter().any(|f| f == id))
                    })
                    .map(TradeKey::of)
            })
            .min()
    }

    /// Finds the trade `order`'s fees go to and records it; returns the trades charged with them
    /// before and now.
    pub(super) fn assign(&mut self, order: &str) -> [Option<TradeKey>; 2] {
        let owner = self.owner_of(order);
        let Some(fee) = self.fee_orders.get_mut(order) else {
            return [None, None];
        };
        let old = std::mem::replace(&mut fee.owner, owner.clone());
        if owner.is_none() {
            for &index in &fee.flows {
                self.flows[index].trade_id = None;
            }
        }
        if let Some(old) = &old
            && let Some(list) = self.owned.get_mut(old)
        {
            list.retain(|o| o != order);
            if list.is_empty() {
                self.owned.remove(old);
            }
        }
        if let Some(new) = &owner {
            self.owned
                .entry(new.clone())
                .or_default()
                .push(order.to_owned());
        }
        [old, owner]
    }
}
