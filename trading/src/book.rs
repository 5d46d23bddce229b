//! Trades kept up to date as fills arrive, instead of rebuilt from every fill.
//!
//! A busy account gets a fill every few seconds, and rebuilding all trades from all fills each
//! time costs in proportion to the account's whole history. A [`TradeBook`] keeps, per symbol,
//! its fills in `(time, id)` order, its trades, and the points where the position was flat. A
//! fill only changes its own symbol's trades, and only from the last flat point at or before it:
//! the trades closed before that point are complete and stay as they are. So a new fill (the
//! common case) rebuilds the open trade of its symbol only; a late fill rebuilds its symbol from
//! the trade it falls in; a corrected fill (a known id with new values) is taken out and put back
//! the same way.
//!
//! The result is exactly [`build_trades_with`] of the same fills (a property test checks it after
//! every fill): the trades of a symbol from a flat point on depend on the fills from that point
//! on only.

use std::collections::HashMap;

use crate::{CostBasis, Fill, Trade, build_trades_with};

/// One symbol's fills and trades.
#[derive(Debug, Default, Clone)]
struct SymbolBook {
    /// Fills in `(time, id)` order.
    fills: Vec<Fill>,
    /// Trades in opening order.
    trades: Vec<Trade>,
    /// Indices into `fills` before which the position was flat (where a trade opened that no
    /// flip opened), ascending; index 0 always when there are fills.
    flat_before: Vec<usize>,
}

impl SymbolBook {
    /// Rebuilds from the last flat point before fill index `from` (the first fill that may have
    /// changed): `flat_before` is only trusted below `from`, where `fills` did not move.
    /// Returns the trades taken out (as they were) and the index of the first trade put back.
    fn rebuild_from(&mut self, from: usize, method: CostBasis) -> (Vec<Trade>, usize) {
        let cut = self
            .flat_before
            .iter()
            .rev()
            .copied()
            .find(|&i| i < from)
            .unwrap_or(0);
        // Trades opened by the fills before the cut (which did not change) closed before it, so
        // they stay: those opened at or before the last of those fills.
        let keep = match cut.checked_sub(1).and_then(|last| self.fills.get(last)) {
            Some(last) => self
                .trades
                .partition_point(|t| (t.opened_at, &t.id) <= (last.time, &last.id)),
            None => 0,
        };
        let removed: Vec<Trade> = self.trades.drain(keep..).collect();
        self.trades
            .extend(build_trades_with(&self.fills[cut..], method));
        self.flat_before.retain(|&i| i < cut);
        let mut position = rust_decimal::Decimal::ZERO;
        for (offset, fill) in self.fills[cut..].iter().enumerate() {
            if fill.quantity <= rust_decimal::Decimal::ZERO {
                continue;
            }
            if position.is_zero() {
                self.flat_before.push(cut + offset);
            }
            position += fill.side.sign() * fill.quantity;
        }
        (removed, keep)
    }

    /// Where `fill` goes in `(time, id)` order.
    fn position_of(&self, fill: &Fill) -> usize {
        self.fills
            .partition_point(|f| (f.time, &f.id) < (fill.time, &fill.id))
    }
}

/// What one [`TradeBook::apply_tracked`] changed.
#[derive(Debug, Default)]
pub struct BookChange {
    /// The trades taken out, as they were before the fill.
    pub removed: Vec<Trade>,
    /// Per symbol rebuilt: the index in [`TradeBook::trades_of`] from which its trades are new.
    pub rebuilt: Vec<(String, usize)>,
}

/// Every symbol's trades, kept up to date fill by fill (see the [module documentation](self)).
#[derive(Debug, Clone)]
pub struct TradeBook {
    method: CostBasis,
    symbols: HashMap<String, SymbolBook>,
    /// Symbol of each fill id, to find a corrected fill.
    symbol_of: HashMap<String, String>,
}

impl TradeBook {
    /// An empty book matching lots by `method`.
    pub fn new(method: CostBasis) -> Self {
        Self {
            method,
            symbols: HashMap::new(),
            symbol_of: HashMap::new(),
        }
    }

    /// A book of `fills` (any order; a repeated id keeps the last).
    pub fn from_fills(fills: impl IntoIterator<Item = Fill>, method: CostBasis) -> Self {
        let mut latest: HashMap<String, Fill> = HashMap::new();
        for fill in fills {
            latest.insert(fill.id.clone(), fill);
        }
        let mut book = Self::new(method);
        for fill in latest.into_values() {
            book.symbol_of.insert(fill.id.clone(), fill.symbol.clone());
            book.symbols
                .entry(fill.symbol.clone())
                .or_default()
                .fills
                .push(fill);
        }
        for symbol in book.symbols.values_mut() {
            symbol
                .fills
                .sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
            symbol.rebuild_from(0, method);
        }
        book
    }

    /// How lots are matched.
    pub fn method(&self) -> CostBasis {
        self.method
    }

    /// Number of fills held.
    pub fn fill_count(&self) -> usize {
        self.symbol_of.len()
    }

    /// Adds a fill, or replaces the fill with its id (a correction); rebuilds only the symbols
    /// it touches, from the last flat point before it. Returns false when the fill is already
    /// held exactly so (nothing changed).
    pub fn apply(&mut self, fill: Fill) -> bool {
        self.apply_tracked(fill).is_some()
    }

    /// [`apply`](Self::apply), saying what changed: the trades taken out (as they were) and,
    /// per symbol rebuilt, the index from which its trades were put back. `None` when the fill
    /// was already held exactly so.
    pub fn apply_tracked(&mut self, fill: Fill) -> Option<BookChange> {
        let mut change = BookChange::default();
        let mut from_old: Option<(String, usize)> = None;
        if let Some(old_symbol) = self.symbol_of.get(&fill.id).cloned()
            && let Some(book) = self.symbols.get_mut(&old_symbol)
            && let Some(index) = book.fills.iter().position(|f| f.id == fill.id)
        {
            if book.fills[index] == fill {
                return None;
            }
            book.fills.remove(index);
            from_old = Some((old_symbol, index));
        }
        self.symbol_of.insert(fill.id.clone(), fill.symbol.clone());
        let symbol = fill.symbol.clone();
        let book = self.symbols.entry(symbol.clone()).or_default();
        let at = book.position_of(&fill);
        book.fills.insert(at, fill);
        let mut from_new = at;
        match from_old {
            Some((old_symbol, index)) if old_symbol == symbol => from_new = from_new.min(index),
            Some((old_symbol, index)) => {
                if let Some(old) = self.symbols.get_mut(&old_symbol) {
                    let (removed, first_new) = old.rebuild_from(index, self.method);
                    change.removed.extend(removed);
                    change.rebuilt.push((old_symbol, first_new));
                }
            }
            None => {}
        }
        if let Some(book) = self.symbols.get_mut(&symbol) {
            let (removed, first_new) = book.rebuild_from(from_new, self.method);
            change.removed.extend(removed);
            change.rebuilt.push((symbol, first_new));
        }
        Some(change)
    }

    /// The symbol the fill `id` is held under.
    pub fn symbol_of(&self, id: &str) -> Option<&str> {
        self.symbol_of.get(id).map(String::as_str)
    }

    /// Every symbol with fills.
    pub fn symbols(&self) -> impl Iterator<Item = &str> {
        self.symbols.keys().map(String::as_str)
    }

    /// The trades of one symbol, in opening order.
    pub fn trades_of(&self, symbol: &str) -> &[Trade] {
        self.symbols
            .get(symbol)
            .map_or(&[], |b| b.trades.as_slice())
    }

    /// Every trade, in opening order (by opening time, then opening fill id), as
    /// [`build_trades_with`] returns them.
    pub fn trades(&self) -> Vec<Trade> {
        let mut all: Vec<Trade> = self
            .symbols
            .values()
            .flat_map(|b| b.trades.iter().cloned())
            .collect();
        all.sort_by(|a, b| (a.opened_at, &a.id).cmp(&(b.opened_at, &b.id)));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample_fills;

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

    /// Fills arriving out of order, some late and some corrected afterwards: after every one,
    /// the book's trades are a full rebuild's.
    #[test]
    fn incremental_equals_full_rebuild_after_every_fill() {
        for seed in 0..12u64 {
            for method in [CostBasis::Fifo, CostBasis::Average] {
                let mut fills = sample_fills(120, seed);
                let mut rng = Lcg(seed + 1);
                // Late fills: a tenth arrive far out of order.
                for i in 0..fills.len() / 10 {
                    let j = rng.below(fills.len());
                    fills.swap(i * 10, j);
                }
                let mut book = TradeBook::new(method);
                let mut held: HashMap<String, Fill> = HashMap::new();
                let apply = |book: &mut TradeBook, fill: Fill, held: &mut HashMap<String, Fill>| {
                    held.insert(fill.id.clone(), fill.clone());
                    book.apply(fill);
                    let mut all: Vec<Fill> = held.values().cloned().collect();
                    all.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
                    let (got, want) = (book.trades(), build_trades_with(&all, method));
                    if got != want {
                        let first = got.iter().zip(&want).position(|(a, b)| a != b);
                        panic!(
                            "seed {seed} {method:?} after {} fills: {} vs {} trades, first difference at {first:?}: {:?} vs {:?}",
                            all.len(),
                            got.len(),
                            want.len(),
                            first.map(|i| (&got[i].id, &got[i].symbol, &got[i].fill_ids)),
                            first.map(|i| (&want[i].id, &want[i].symbol, &want[i].fill_ids))
                        );
                    }
                };
                for fill in fills.clone() {
                    apply(&mut book, fill, &mut held);
                }
                // Corrections: a new quantity, price or time (earlier), or another symbol.
                for k in 0..15 {
                    let mut fill = fills[rng.below(fills.len())].clone();
                    match k % 4 {
                        0 => fill.quantity += rust_decimal::Decimal::ONE,
                        1 => fill.price += rust_decimal::Decimal::new(25, 2),
                        2 => fill.time -= chrono::TimeDelta::hours(30),
                        _ => fill.symbol = "ZZZZ".into(),
                    }
                    apply(&mut book, fill, &mut held);
                }
                assert_eq!(book.fill_count(), held.len());
            }
        }
    }

    #[test]
    fn a_book_from_fills_is_the_full_rebuild_and_a_repeat_changes_nothing() {
        let fills = sample_fills(500, 9);
        let mut book = TradeBook::from_fills(fills.iter().rev().cloned(), CostBasis::Fifo);
        assert_eq!(book.trades(), build_trades_with(&fills, CostBasis::Fifo));
        assert!(!book.apply(fills[7].clone()), "a repeated fill is a no-op");
        let symbol = fills[0].symbol.clone();
        assert!(book.trades_of(&symbol).iter().all(|t| t.symbol == symbol));
    }
}
