//! The closed trades in close order, in blocks that each keep the sums of their trades, so the
//! statistics of every closed trade are a fold over the blocks (not over the trades), and a
//! trade closing or changing re-sums only its block.
//!
//! Most figures are sums, counts and extremes, which add up block by block. Two depend on the
//! order of the trades: the longest win and loss streaks (each block keeps its run at the
//! start, at the end and its longest) and the largest drawdown of cumulative P&L. For that,
//! each block keeps its cumulative P&L `C_k` after each trade, the trades that raise it above
//! every earlier one (its records), the first lowest `C` up to each trade, and, from each record
//! on, the largest fall below the block's own running peak. Entering a block with a peak `p`
//! above its start, the trades before the first record above `p` fall from `p` (the lowest of
//! them falls furthest) and the trades from that record on fall from the block's own peaks:
//! one binary search per block, the same drawdown (first largest, same peak and trough) as the
//! trade by trade loop of [`crate::statistics`].

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// A block is split when it grows past twice this.
const BLOCK: usize = 256;

/// What the statistics need of one closed trade.
#[derive(Debug, Clone)]
pub(crate) struct Closed {
    pub(crate) closed_at: DateTime<Utc>,
    pub(crate) opened_at: DateTime<Utc>,
    pub(crate) id: String,
    pub(crate) symbol: String,
    pub(crate) pnl: Decimal,
    pub(crate) fees: Decimal,
    pub(crate) duration_seconds: i64,
}

impl Closed {
    /// Close order: by close time, ties in opening order.
    fn key(&self) -> (DateTime<Utc>, DateTime<Utc>, &str) {
        (self.closed_at, self.opened_at, &self.id)
    }
}

/// Runs of consecutive wins (or losses) in a stretch of trades.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Runs {
    len: usize,
    /// Run at the start.
    head: usize,
    /// Run at the end.
    tail: usize,
    pub(crate) longest: usize,
}

impl Runs {
    fn one(hit: bool) -> Self {
        let n = usize::from(hit);
        Self {
            len: 1,
            head: n,
            tail: n,
            longest: n,
        }
    }

    pub(crate) fn then(self, next: Self) -> Self {
        Self {
            len: self.len + next.len,
            head: if self.head == self.len {
                self.len + next.head
            } else {
                self.head
            },
            tail: if next.tail == next.len {
                next.len + self.tail
            } else {
                next.tail
            },
            longest: self.longest.max(next.longest).max(self.tail + next.head),
        }
    }
}

/// A fall inside a block: from the peak at `peak` to the trough at `trough` (positions).
#[derive(Debug, Clone, Copy)]
struct Fall {
    peak: usize,
    trough: usize,
}

/// The sums of one block.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sums {
    pub(crate) wins: usize,
    pub(crate) losses: usize,
    pub(crate) breakeven: usize,
    pub(crate) gross_profit: Decimal,
    pub(crate) gross_loss: Decimal,
    pub(crate) total_fees: Decimal,
    pub(crate) largest_win: Option<Decimal>,
    pub(crate) largest_loss: Option<Decimal>,
    pub(crate) duration_seconds_sum: i128,
    pub(crate) win_runs: Runs,
    pub(crate) loss_runs: Runs,
    /// `C_k`: cumulative P&L of the block after its trade `k`.
    cumulative: Vec<Decimal>,
    /// Positions whose `C` is above every earlier one in the block (the first always).
    records: Vec<usize>,
    /// Per position `k`: where the lowest `C` of `0..=k` first is.
    lowest_up_to: Vec<usize>,
    /// Per record: the first largest fall below the block's running peak from it on.
    fall_from: Vec<Option<Fall>>,
}

#[derive(Debug, Clone, Default)]
struct Block {
    trades: Vec<Closed>,
    sums: Sums,
}

impl Block {
    fn resum(&mut self) {
        let mut sums = Sums::default();
        let mut cumulative = Decimal::ZERO;
        for (k, trade) in self.trades.iter().enumerate() {
            let pnl = trade.pnl;
            sums.total_fees += trade.fees;
            sums.duration_seconds_sum += i128::from(trade.duration_seconds);
            let runs = (
                Runs::one(pnl > Decimal::ZERO),
                Runs::one(pnl < Decimal::ZERO),
            );
            if k == 0 {
                (sums.win_runs, sums.loss_runs) = runs;
            } else {
                sums.win_runs = sums.win_runs.then(runs.0);
                sums.loss_runs = sums.loss_runs.then(runs.1);
            }
            if pnl > Decimal::ZERO {
                sums.wins += 1;
                sums.gross_profit += pnl;
                sums.largest_win = Some(sums.largest_win.map_or(pnl, |w| w.max(pnl)));
            } else if pnl < Decimal::ZERO {
                sums.losses += 1;
                sums.gross_loss += pnl;
                sums.largest_loss = Some(sums.largest_loss.map_or(pnl, |l| l.min(pnl)));
            } else {
                sums.breakeven += 1;
            }
            cumulative += pnl;
            sums.cumulative.push(cumulative);
            if sums
                .records
                .last()
                .is_none_or(|&r| cumulative > sums.cumulative[r])
            {
                sums.records.push(k);
            }
            let lowest = match sums.lowest_up_to.last() {
                Some(&low) if sums.cumulative[low] <= cumulative => low,
                _ => k,
            };
            sums.lowest_up_to.push(lowest);
        }
        // From the last record back: the lowest point between a record and the next one.
        let n = self.trades.len();
        sums.fall_from = vec![None; sums.records.len()];
        let mut later: Option<Fall> = None;
        for (i, &record) in sums.records.iter().enumerate().rev() {
            let end = sums.records.get(i + 1).copied().unwrap_or(n);
            let mut trough: Option<usize> = None;
            for k in record + 1..end {
                if trough.is_none_or(|t| sums.cumulative[k] < sums.cumulative[t]) {
                    trough = Some(k);
                }
            }
            let here = trough
                .filter(|&t| sums.cumulative[t] < sums.cumulative[record])
                .map(|trough| Fall {
                    peak: record,
                    trough,
                });
            let fall = |f: &Fall| sums.cumulative[f.peak] - sums.cumulative[f.trough];
            later = match (here, later) {
                (Some(h), Some(l)) => Some(if fall(&h) >= fall(&l) { h } else { l }),
                (h, l) => h.or(l),
            };
            sums.fall_from[i] = later;
        }
        self.sums = sums;
    }
}

/// A peak or trough of the cumulative P&L: the trade whose close made it and the value.
#[derive(Debug, Clone)]
pub(crate) struct Point<'a> {
    pub(crate) trade: &'a Closed,
    pub(crate) cumulative: Decimal,
}

/// The largest drawdown found: its peak (`None`: the start) and trough.
#[derive(Debug, Clone)]
pub(crate) struct Worst<'a> {
    pub(crate) amount: Decimal,
    pub(crate) peak_cumulative: Decimal,
    pub(crate) peak: Option<&'a Closed>,
    pub(crate) trough: Point<'a>,
}

/// The closed trades in close order, in blocks.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClosedTrades {
    blocks: Vec<Block>,
    len: usize,
}

impl ClosedTrades {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The block a trade with `key` belongs in (the first whose last key is not below it).
    fn block_for(&self, key: (DateTime<Utc>, DateTime<Utc>, &str)) -> usize {
        let at = self
            .blocks
            .partition_point(|b| b.trades.last().is_some_and(|last| last.key() < key));
        at.min(self.blocks.len().saturating_sub(1))
    }

    /// The index of `trades` at once (a first build): sorted, cut in blocks, each summed once.
    pub(crate) fn from_trades(mut trades: Vec<Closed>) -> Self {
        trades.sort_by(|a, b| a.key().cmp(&b.key()));
        let len = trades.len();
        let mut blocks = Vec::with_capacity(len / BLOCK + 1);
        let mut rest = trades.into_iter().peekable();
        while rest.peek().is_some() {
            let mut block = Block {
                trades: rest.by_ref().take(BLOCK).collect(),
                sums: Sums::default(),
            };
            block.resum();
            blocks.push(block);
        }
        Self { blocks, len }
    }

    pub(crate) fn insert(&mut self, trade: Closed) {
        if self.blocks.is_empty() {
            self.blocks.push(Block::default());
        }
        let b = self.block_for(trade.key());
        let block = &mut self.blocks[b];
        let at = block.trades.partition_point(|t| t.key() < trade.key());
        block.trades.insert(at, trade);
        self.len += 1;
        if block.trades.len() > 2 * BLOCK {
            let tail = block.trades.split_off(BLOCK);
            block.resum();
            let mut next = Block {
                trades: tail,
                sums: Sums::default(),
            };
            next.resum();
            self.blocks.insert(b + 1, next);
        } else {
            block.resum();
        }
    }

    /// Takes out the trade with this close time, opening time and id (nothing when not held).
    pub(crate) fn remove(&mut self, closed_at: DateTime<Utc>, opened_at: DateTime<Utc>, id: &str) {
        let key = (closed_at, opened_at, id);
        if self.blocks.is_empty() {
            return;
        }
        let b = self.block_for(key);
        let block = &mut self.blocks[b];
        let at = block.trades.partition_point(|t| t.key() < key);
        if block.trades.get(at).is_some_and(|t| t.key() == key) {
            block.trades.remove(at);
            self.len -= 1;
            if block.trades.is_empty() {
                self.blocks.remove(b);
            } else {
                block.resum();
            }
        }
    }

    /// Every block's sums, in close order.
    pub(crate) fn sums(&self) -> impl Iterator<Item = &Sums> {
        self.blocks.iter().map(|b| &b.sums)
    }

    /// The closed trades newest close first (ties: latest opened first), from the `skip`th on,
    /// skipping whole blocks.
    pub(crate) fn newest_first_from(&self, skip: usize) -> impl Iterator<Item = &Closed> {
        let mut left = skip;
        let mut first = self.blocks.len();
        for (b, block) in self.blocks.iter().enumerate().rev() {
            if left < block.trades.len() {
                break;
            }
            left -= block.trades.len();
            first = b;
        }
        self.blocks[..first]
            .iter()
            .rev()
            .flat_map(|b| b.trades.iter().rev())
            .skip(left)
    }

    /// The largest fall of cumulative realised P&L below its running peak (from 0, in close
    /// order), the first largest on a tie: what [`crate::statistics`] reports.
    pub(crate) fn max_drawdown(&self) -> Option<Worst<'_>> {
        let mut cumulative = Decimal::ZERO;
        let mut peak = Decimal::ZERO;
        let mut peak_at: Option<&Closed> = None;
        let mut worst: Option<Worst<'_>> = None;
        for block in &self.blocks {
            let sums = &block.sums;
            let Some(&last) = sums.cumulative.last() else {
                continue;
            };
            let above = peak - cumulative;
            let first_record = sums
                .records
                .partition_point(|&r| sums.cumulative[r] <= above);
            let outside_end = sums
                .records
                .get(first_record)
                .copied()
                .unwrap_or(sums.cumulative.len());
            // Falls from the peak carried in, before the block makes a new one.
            let from_peak = outside_end
                .checked_sub(1)
                .map(|k| sums.lowest_up_to[k])
                .map(|low| (peak, peak_at, low))
                .filter(|&(peak, _, low)| {
                    peak - (cumulative + sums.cumulative[low]) > Decimal::ZERO
                });
            // Falls from the block's own peaks.
            let inside = sums
                .fall_from
                .get(first_record)
                .copied()
                .flatten()
                .map(|f| {
                    (
                        cumulative + sums.cumulative[f.peak],
                        Some(&block.trades[f.peak]),
                        f.trough,
                    )
                });
            let amount = |(peak, _, low): (Decimal, Option<&Closed>, usize)| {
                peak - (cumulative + sums.cumulative[low])
            };
            let candidate = match (from_peak, inside) {
                (Some(a), Some(b)) => Some(if amount(a) >= amount(b) { a } else { b }),
                (a, b) => a.or(b),
            };
            if let Some(found) = candidate {
                let fall = amount(found);
                if worst.as_ref().is_none_or(|w| fall > w.amount) {
                    let (peak_value, peak_trade, low) = found;
                    worst = Some(Worst {
                        amount: fall,
                        peak_cumulative: peak_value,
                        peak: peak_trade,
                        trough: Point {
                            trade: &block.trades[low],
                            cumulative: cumulative + sums.cumulative[low],
                        },
                    });
                }
            }
            if let Some(&record) = sums.records.last()
                && first_record < sums.records.len()
            {
                peak = cumulative + sums.cumulative[record];
                peak_at = Some(&block.trades[record]);
            }
            cumulative += last;
        }
        worst
    }
}
