//! An account's trades, daily P&L, statistics and cash flows kept up to date fill by fill, so
//! a reader (the API's `/trades/*`, the alert engine) answers without going over the whole
//! history each time the account changes.
//!
//! A [`Ledger`] holds the account's [`TradeBook`] (fills and trades per symbol, rebuilt only from
//! the last flat point before a changed fill), the fees that name an order charged to that
//! order's trade (as [`crate::charge_order_fees`] does), and three indices over the trades as
//! charged: the closed trades in close order with block sums ([`closed`]), the P&L of every
//! trading day ([`days`]) and per-symbol totals. Each fill takes the trades it changed out of the
//! indices (as they were) and puts their new versions in; a fee order whose trades changed is
//! charged again. What it answers is what the full rebuild ([`crate::account_from_records`],
//! then [`crate::statistics`], [`crate::daily_pnl_with_cash`]) answers from the same fills and
//! activities, to the byte (a property test checks it after every fill).

mod closed;
mod days;
mod fees;

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use exporter_protocol::brokerage::{CashActivity, FillRecord};
use rust_decimal::Decimal;

use crate::cash::{charge_fee, rebase_return};
use crate::money::ratio;
use crate::stats::{Totals, finish};
use crate::{
    CashFlow, CostBasis, DailyPnl, Drawdown, EquityPoint, Fill, Statistics, SymbolStatistics,
    Trade, TradeBook, TradeRef, cash_flows,
};
use closed::{Closed, ClosedTrades, Runs};
use days::{DayBook, ExactSum};

/// A trade's place in opening order (opening time, then id), with its symbol to find it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct TradeKey {
    opened_at: DateTime<Utc>,
    id: String,
    symbol: String,
}

impl TradeKey {
    fn of(trade: &Trade) -> Self {
        Self {
            opened_at: trade.opened_at,
            id: trade.id.clone(),
            symbol: trade.symbol.clone(),
        }
    }
}

/// An order named by fees: the fee flows (indices into the flows, ascending) and the trade they
/// are charged to.
#[derive(Debug, Clone, Default)]
struct FeeOrder {
    flows: Vec<usize>,
    owner: Option<TradeKey>,
}

/// Per-symbol totals of the closed trades.
#[derive(Debug, Clone, Default)]
struct SymbolTotals {
    closed_trades: usize,
    wins: usize,
    losses: usize,
    net_pnl: ExactSum,
}

/// The indices over the trades as charged.
#[derive(Debug, Clone)]
struct Indices {
    closed: ClosedTrades,
    /// During a first build: the closed trades, indexed at once at the end.
    pending: Option<Vec<Closed>>,
    days: DayBook,
    per_symbol: HashMap<String, SymbolTotals>,
}

impl Indices {
    /// Puts `trade` in (`add`) or takes it out of every index.
    fn account(&mut self, trade: &Trade, add: bool) {
        self.days.account(trade, add);
        let Some(closed_at) = trade.closed_at else {
            return;
        };
        let pnl = trade.realised_pnl;
        let symbol = self.per_symbol.entry(trade.symbol.clone()).or_default();
        let (win, loss) = (
            usize::from(pnl > Decimal::ZERO),
            usize::from(pnl < Decimal::ZERO),
        );
        if add {
            symbol.closed_trades += 1;
            symbol.wins += win;
            symbol.losses += loss;
            symbol.net_pnl.add(pnl);
            let closed = Closed {
                closed_at,
                opened_at: trade.opened_at,
                id: trade.id.clone(),
                symbol: trade.symbol.clone(),
                pnl,
                fees: trade.fees,
                duration_seconds: trade.duration_seconds.unwrap_or(0),
            };
            match &mut self.pending {
                Some(pending) => pending.push(closed),
                None => self.closed.insert(closed),
            }
        } else {
            symbol.closed_trades = symbol.closed_trades.saturating_sub(1);
            symbol.wins = symbol.wins.saturating_sub(win);
            symbol.losses = symbol.losses.saturating_sub(loss);
            symbol.net_pnl.remove(pnl);
            if symbol.closed_trades == 0 {
                self.per_symbol.remove(&trade.symbol);
            }
            self.closed.remove(closed_at, trade.opened_at, &trade.id);
        }
    }
}

/// The trade of the book at `key`, as the book built it (no fee charged).
fn raw<'a>(book: &'a TradeBook, key: &TradeKey) -> Option<&'a Trade> {
    let trades = book.trades_of(&key.symbol);
    let at = trades.partition_point(|t| (t.opened_at, t.id.as_str()) < (key.opened_at, &*key.id));
    trades
        .get(at)
        .filter(|t| t.opened_at == key.opened_at && t.id == key.id)
}

/// An account's trades and the numbers derived from them, kept up to date fill by fill (see
/// the [module documentation](self)).
#[derive(Debug, Clone)]
pub struct Ledger {
    tz: Tz,
    book: TradeBook,
    /// The order of each fill that names one.
    order_of_fill: HashMap<String, String>,
    /// The fills (id, time) of each order.
    fills_of_order: HashMap<String, Vec<(String, DateTime<Utc>)>>,
    /// The cash flows, by date then id.
    flows: Vec<CashFlow>,
    fee_orders: HashMap<String, FeeOrder>,
    /// The orders whose fees each trade carries.
    owned: HashMap<TradeKey, Vec<String>>,
    /// The trades carrying fees, as charged (the others are the book's own).
    charged: HashMap<TradeKey, Trade>,
    indices: Indices,
}

impl Ledger {
    /// An empty ledger: lots matched by `method`, days counted in `tz`.
    pub fn new(method: CostBasis, tz: Tz) -> Self {
        Self {
            tz,
            book: TradeBook::new(method),
            order_of_fill: HashMap::new(),
            fills_of_order: HashMap::new(),
            flows: Vec::new(),
            fee_orders: HashMap::new(),
            owned: HashMap::new(),
            charged: HashMap::new(),
            indices: Indices {
                closed: ClosedTrades::default(),
                pending: None,
                days: DayBook::new(tz),
                per_symbol: HashMap::new(),
            },
        }
    }

    /// The ledger of the stored fills and activities, built at once (what
    /// [`crate::account_from_records`] gives, kept for updates).
    pub fn from_records(
        records: Vec<FillRecord>,
        activities: &[CashActivity],
        method: CostBasis,
        tz: Tz,
    ) -> Self {
        let mut ledger = Self::new(method, tz);
        for record in &records {
            ledger.note_order(record);
        }
        ledger.book = TradeBook::from_fills(records.into_iter().map(Fill::from), method);
        ledger.flows = cash_flows(activities);
        ledger.index_fee_orders();
        let orders: Vec<String> = ledger.fee_orders.keys().cloned().collect();
        for order in orders {
            ledger.assign(&order);
        }
        ledger.indices.pending = Some(Vec::new());
        let symbols: Vec<String> = ledger.book.symbols().map(str::to_owned).collect();
        for symbol in symbols {
            for index in 0..ledger.book.trades_of(&symbol).len() {
                let key = TradeKey::of(&ledger.book.trades_of(&symbol)[index]);
                ledger.put(&key);
            }
        }
        let closed = ledger.indices.pending.take().unwrap_or_default();
        ledger.indices.closed = ClosedTrades::from_trades(closed);
        ledger
    }

    /// How lots are matched.
    pub fn method(&self) -> CostBasis {
        self.book.method()
    }

    /// The time zone days are counted in.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Number of fills held.
    pub fn fill_count(&self) -> usize {
        self.book.fill_count()
    }

    /// Adds a stored fill, or replaces the one with its id (a correction): its symbol's trades
    /// are rebuilt from the last flat point before it, and only those move in the indices.
    pub fn apply(&mut self, record: FillRecord) {
        let order = record.order_id.clone();
        self.note_order(&record);
        let Some(change) = self.book.apply_tracked(Fill::from(record)) else {
            return;
        };
        let mut orders: BTreeSet<String> = order
            .into_iter()
            .filter(|o| self.fee_orders.contains_key(o))
            .collect();
        for trade in change.removed {
            self.orders_of(&trade, &mut orders);
            let key = TradeKey::of(&trade);
            let version = self.charged.remove(&key).unwrap_or(trade);
            self.indices.account(&version, false);
        }
        let mut added = BTreeSet::new();
        for (symbol, from) in &change.rebuilt {
            for trade in self.book.trades_of(symbol).get(*from..).unwrap_or_default() {
                added.insert(TradeKey::of(trade));
                self.orders_of(trade, &mut orders);
            }
        }
        self.settle(orders, added);
    }

    /// Replaces the account's non-trade activities (read again when they changed): fees are
    /// charged again where they name an order.
    pub fn set_activities(&mut self, activities: &[CashActivity]) {
        let owners: BTreeSet<TradeKey> = self
            .fee_orders
            .values()
            .filter_map(|f| f.owner.clone())
            .collect();
        for key in &owners {
            if let Some(version) = self
                .charged
                .remove(key)
                .or_else(|| raw(&self.book, key).cloned())
            {
                self.indices.account(&version, false);
            }
        }
        self.owned.clear();
        self.flows = cash_flows(activities);
        self.index_fee_orders();
        let orders = self.fee_orders.keys().cloned().collect();
        self.settle(orders, owners);
    }

    /// After trades changed (`fresh`: in the book, not in the indices): assigns the fee orders
    /// touched again and puts in again every trade whose charges may have moved.
    fn settle(&mut self, orders: BTreeSet<String>, fresh: BTreeSet<TradeKey>) {
        let mut again: BTreeSet<TradeKey> = BTreeSet::new();
        for order in &orders {
            again.extend(self.assign(order).into_iter().flatten());
        }
        for key in &again {
            if fresh.contains(key) {
                continue;
            }
            if let Some(version) = self
                .charged
                .remove(key)
                .or_else(|| raw(&self.book, key).cloned())
            {
                self.indices.account(&version, false);
            }
        }
        for key in fresh.union(&again) {
            self.put(key);
        }
    }

    /// Puts the trade at `key` in the indices, with the fees it carries charged.
    fn put(&mut self, key: &TradeKey) {
        let Some(trade) = raw(&self.book, key) else {
            return;
        };
        let Some(orders) = self.owned.get(key) else {
            self.indices.account(trade, true);
            return;
        };
        let mut charged = trade.clone();
        let mut flows: Vec<(usize, Option<DateTime<Utc>>)> = Vec::new();
        for order in orders {
            let last_fill = self
                .fills_of_order
                .get(order)
                .and_then(|fills| fills.iter().map(|(_, time)| *time).max());
            if let Some(fee) = self.fee_orders.get(order) {
                flows.extend(fee.flows.iter().map(|&index| (index, last_fill)));
            }
        }
        flows.sort_by_key(|(index, _)| *index);
        for (index, last_fill) in &flows {
            charge_fee(&mut charged, &mut self.flows[*index], *last_fill, self.tz);
        }
        if !flows.is_empty() {
            rebase_return(&mut charged);
        }
        self.indices.account(&charged, true);
        self.charged.insert(key.clone(), charged);
    }

    /// The trade at `key` as charged.
    fn version(&self, key: &TradeKey) -> Option<&Trade> {
        self.charged.get(key).or_else(|| raw(&self.book, key))
    }

    fn closed_trade(&self, closed: &Closed) -> Option<&Trade> {
        let trades = self.book.trades_of(&closed.symbol);
        let at = trades
            .partition_point(|t| (t.opened_at, t.id.as_str()) < (closed.opened_at, &*closed.id));
        let trade = trades.get(at)?;
        if trade.id != closed.id {
            return None;
        }
        Some(self.charged.get(&TradeKey::of(trade)).unwrap_or(trade))
    }

    /// Every trade as charged, in opening order (what [`crate::account_from_records`] gives).
    pub fn trades(&self) -> Vec<&Trade> {
        let mut all: Vec<&Trade> = self
            .book
            .symbols()
            .flat_map(|symbol| self.book.trades_of(symbol))
            .map(|trade| self.charged.get(&TradeKey::of(trade)).unwrap_or(trade))
            .collect();
        all.sort_by(|a, b| (a.opened_at, &a.id).cmp(&(b.opened_at, &b.id)));
        all
    }

    /// Number of trades, open and closed.
    pub fn trade_count(&self) -> usize {
        self.book
            .symbols()
            .map(|symbol| self.book.trades_of(symbol).len())
            .sum()
    }

    /// Number of closed trades.
    pub fn closed_count(&self) -> usize {
        self.indices.closed.len()
    }

    /// The open trades (at most one per symbol), in opening order.
    pub fn open_trades(&self) -> Vec<&Trade> {
        let mut open: Vec<&Trade> = self
            .book
            .symbols()
            .filter_map(|symbol| self.book.trades_of(symbol).last())
            .filter(|trade| !trade.is_closed())
            .filter_map(|trade| self.version(&TradeKey::of(trade)))
            .collect();
        open.sort_by(|a, b| (a.opened_at, &a.id).cmp(&(b.opened_at, &b.id)));
        open
    }

    /// The closed trades newest first (by close time, then id, both descending: the order of
    /// `/trades/history`), from the `skip`th on; skipping costs a step per block, not per trade.
    pub fn closed_newest_first(&self, skip: usize) -> impl Iterator<Item = &Trade> + '_ {
        let closed = &self.indices.closed;
        // Trades closed at the same time are ordered by id, so start at the first of them.
        let at = |i: usize| closed.newest_first_from(i).next().map(|c| c.closed_at);
        let mut start = skip.min(closed.len());
        if let Some(time) = at(start) {
            while start > 0 && at(start - 1) == Some(time) {
                start -= 1;
            }
        }
        let mut entries = closed.newest_first_from(start).peekable();
        let mut group: Vec<&Closed> = Vec::new();
        std::iter::from_fn(move || {
            if group.is_empty() {
                let first = entries.next()?;
                group.push(first);
                while let Some(next) = entries.next_if(|e| e.closed_at == first.closed_at) {
                    group.push(next);
                }
                group.sort_by(|a, b| a.id.cmp(&b.id));
            }
            group.pop()
        })
        .skip(skip - start)
        .filter_map(|closed| self.closed_trade(closed))
    }

    /// The statistics of every trade and of `equity`: [`crate::statistics`] of
    /// [`trades`](Self::trades), from the block sums.
    pub fn statistics(&self, equity: &[EquityPoint]) -> Statistics {
        let closed = &self.indices.closed;
        let mut totals = Totals {
            closed_trades: closed.len(),
            open_trades: self.trade_count() - closed.len(),
            wins: 0,
            losses: 0,
            breakeven: 0,
            gross_profit: Decimal::ZERO,
            gross_loss: Decimal::ZERO,
            total_fees: Decimal::ZERO,
            largest_win: None,
            largest_loss: None,
            duration_seconds_sum: 0,
            longest_win_streak: 0,
            longest_loss_streak: 0,
            max_drawdown: None,
            per_symbol: Vec::new(),
        };
        let mut runs: Option<(Runs, Runs)> = None;
        for sums in closed.sums() {
            totals.wins += sums.wins;
            totals.losses += sums.losses;
            totals.breakeven += sums.breakeven;
            totals.gross_profit += sums.gross_profit;
            totals.gross_loss += sums.gross_loss;
            totals.total_fees += sums.total_fees;
            totals.duration_seconds_sum += sums.duration_seconds_sum;
            totals.largest_win = match (totals.largest_win, sums.largest_win) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            totals.largest_loss = match (totals.largest_loss, sums.largest_loss) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            runs = Some(match runs {
                Some((wins, losses)) => (wins.then(sums.win_runs), losses.then(sums.loss_runs)),
                None => (sums.win_runs, sums.loss_runs),
            });
        }
        if let Some((wins, losses)) = runs {
            totals.longest_win_streak = wins.longest;
            totals.longest_loss_streak = losses.longest;
        }
        let trade_ref = |closed: &Closed| TradeRef {
            index: self.opening_rank(closed.opened_at, &closed.id),
            id: closed.id.clone(),
            closed_at: closed.closed_at,
        };
        totals.max_drawdown = closed.max_drawdown().map(|worst| Drawdown {
            amount: worst.amount,
            peak_cumulative_pnl: worst.peak_cumulative,
            trough_cumulative_pnl: worst.trough.cumulative,
            peak: worst.peak.map(trade_ref),
            trough: trade_ref(worst.trough.trade),
        });
        totals.per_symbol = self
            .indices
            .per_symbol
            .iter()
            .map(|(symbol, acc)| SymbolStatistics {
                symbol: symbol.clone(),
                closed_trades: acc.closed_trades,
                wins: acc.wins,
                losses: acc.losses,
                net_pnl: acc.net_pnl.get(),
                win_rate: ratio(Decimal::from(acc.wins), Decimal::from(acc.closed_trades)),
            })
            .collect();
        finish(totals, equity)
    }

    /// How many trades open before `(opened_at, id)`: the trade's index in
    /// [`trades`](Self::trades).
    fn opening_rank(&self, opened_at: DateTime<Utc>, id: &str) -> usize {
        self.book
            .symbols()
            .map(|symbol| {
                self.book
                    .trades_of(symbol)
                    .partition_point(|t| (t.opened_at, t.id.as_str()) < (opened_at, id))
            })
            .sum()
    }

    /// [`crate::daily_pnl_with_cash`] of the trades and cash flows, days from `from` to `to`.
    pub fn daily_pnl(&self, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Vec<DailyPnl> {
        let first = from.map_or(0, |f| self.flows.partition_point(|flow| flow.date < f));
        let end = to.map_or(self.flows.len(), |t| {
            self.flows.partition_point(|flow| flow.date <= t)
        });
        let flows = self.flows.get(first..end).unwrap_or_default();
        crate::daily::rows_with_cash(self.indices.days.rows(from, to), flows, from, to)
    }

    /// [`crate::daily_pnl`] of the trades (no cash flows), days from `from` to `to`.
    pub fn trade_days(&self, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Vec<DailyPnl> {
        self.indices.days.rows(from, to)
    }

    /// Realised P&L of the trading day `day` ([`crate::realised_pnl_on`]).
    pub fn realised_pnl_on(&self, day: NaiveDate) -> Decimal {
        self.indices
            .days
            .rows(Some(day), Some(day))
            .first()
            .map(|row| row.realised_pnl)
            .unwrap_or_default()
    }

    /// The cash flows, by date then id, with the trade each fee was charged to.
    pub fn cash_flows(&self) -> &[CashFlow] {
        &self.flows
    }
}

#[cfg(test)]
mod tests;
