//! Performance statistics of a set of trades and of an equity curve.
//!
//! These are the figures a trader reads first (win rate, profit factor, expectancy, drawdown,
//! Sharpe). Each has several definitions in the wild, so every formula used here is written
//! down next to its field (and in `docs/trading.md`); nothing is left to guesswork.
//!
//! Trade statistics are over **closed** trades only (open trades are only counted), in close
//! order: by `closed_at`, ties kept in the order the trades were opened. A trade is a win when
//! its `realised_pnl > 0`, a loss when `< 0`, breakeven when `= 0`. Money stays
//! [`Decimal`] in cents (sums of booked cents; averages rounded half to even to the cent);
//! ratios and percentages are `f64` rounded to 6 decimals ([`crate::money::ratio`]).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

use crate::Trade;
use crate::money::{cents, ratio, ratio_number};

/// Trading days in a year, used to annualise daily Sharpe and Sortino ratios.
pub const TRADING_DAYS_PER_YEAR: f64 = 252.0;

/// Account equity at one point in time (one point per trading day, e.g. the close).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquityPoint {
    /// When the equity was measured.
    pub time: DateTime<Utc>,
    /// Account equity (cash plus positions at market), in the account currency.
    pub equity: Decimal,
}

/// A closed trade as a point of the cumulative P&L curve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TradeRef {
    /// Index of the trade in the slice given to [`statistics`].
    pub index: usize,
    /// The trade's id ([`Trade::id`]).
    pub id: String,
    /// When the trade closed.
    pub closed_at: DateTime<Utc>,
}

/// The largest peak-to-trough fall of cumulative realised P&L.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drawdown {
    /// `peak_cumulative_pnl - trough_cumulative_pnl`; > 0, in the account currency.
    pub amount: Decimal,
    /// Cumulative realised P&L at the peak (0 when the peak is the start).
    pub peak_cumulative_pnl: Decimal,
    /// Cumulative realised P&L at the trough.
    pub trough_cumulative_pnl: Decimal,
    /// The trade whose close made the peak; `None` when the peak is the start (before any trade).
    pub peak: Option<TradeRef>,
    /// The trade whose close made the trough.
    pub trough: TradeRef,
}

/// Statistics of one symbol's closed trades.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SymbolStatistics {
    /// Instrument symbol.
    pub symbol: String,
    /// Closed trades in this symbol.
    pub closed_trades: usize,
    /// Of those, trades with `realised_pnl > 0`.
    pub wins: usize,
    /// Of those, trades with `realised_pnl < 0`.
    pub losses: usize,
    /// Sum of their `realised_pnl`.
    pub net_pnl: Decimal,
    /// `wins / closed_trades` as a fraction in 0..=1 (not a percentage).
    pub win_rate: Option<f64>,
}

/// Statistics of a set of trades and of an equity curve; see each field for its formula.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statistics {
    /// Number of closed trades (`N` below).
    pub closed_trades: usize,
    /// Number of open trades (counted only; they take no part in the other figures).
    pub open_trades: usize,
    /// Closed trades with `realised_pnl > 0`.
    pub wins: usize,
    /// Closed trades with `realised_pnl < 0`.
    pub losses: usize,
    /// Closed trades with `realised_pnl = 0`.
    pub breakeven: usize,
    /// `wins / N`, a fraction in 0..=1 (not a percentage); `None` when `N = 0`.
    pub win_rate: Option<f64>,
    /// Sum of the winning trades' `realised_pnl` (>= 0).
    pub gross_profit: Decimal,
    /// Sum of the losing trades' `realised_pnl` (<= 0, kept negative).
    pub gross_loss: Decimal,
    /// Sum of every closed trade's `realised_pnl` (`gross_profit + gross_loss`).
    pub net_pnl: Decimal,
    /// `gross_profit / |gross_loss|`; `None` when there is no loss.
    pub profit_factor: Option<f64>,
    /// `gross_profit / wins` in cents; `None` when there is no win.
    pub average_win: Option<Decimal>,
    /// `gross_loss / losses` (negative) in cents; `None` when there is no loss.
    pub average_loss: Option<Decimal>,
    /// `average_win / |average_loss|` (of the unrounded averages); `None` unless there are both
    /// wins and losses.
    pub payoff_ratio: Option<f64>,
    /// `net_pnl / N` in cents: the average net P&L per closed trade; `None` when `N = 0`.
    pub expectancy: Option<Decimal>,
    /// Largest `realised_pnl` among the wins; `None` when there is no win.
    pub largest_win: Option<Decimal>,
    /// Most negative `realised_pnl` among the losses; `None` when there is no loss.
    pub largest_loss: Option<Decimal>,
    /// Mean of the closed trades' `duration_seconds`; `None` when `N = 0`.
    pub average_duration_seconds: Option<f64>,
    /// Longest run of consecutive wins in close order (a breakeven trade ends the run).
    pub longest_win_streak: usize,
    /// Longest run of consecutive losses in close order (a breakeven trade ends the run).
    pub longest_loss_streak: usize,
    /// Largest fall of cumulative realised P&L (starting from 0, in close order) from a running
    /// peak to a later point: `max over k of (max(0, C_0..C_k) - C_k)` with `C_0 = 0`,
    /// `C_k = pnl_1 + .. + pnl_k`; the first largest wins a tie. `None` when `C` never falls
    /// below its running peak.
    pub max_drawdown: Option<Drawdown>,
    /// Sum of the closed trades' `fees` (all of them deducted in `net_pnl`).
    pub total_fees: Decimal,
    /// The same figures per symbol, sorted by symbol.
    pub per_symbol: Vec<SymbolStatistics>,
    /// Number of daily returns taken from the equity points (`n` below):
    /// `r_t = E_t / E_(t-1) - 1` for consecutive points in time order, skipping any pair where
    /// `E_(t-1) <= 0`.
    pub daily_returns: usize,
    /// Annualised Sharpe ratio (risk-free rate 0): `mean(r) / stdev(r) * sqrt(252)` with the
    /// sample standard deviation `stdev(r) = sqrt(sum((r_t - mean(r))^2) / (n - 1))`; `None`
    /// when `n < 2` or `stdev(r) = 0`.
    pub sharpe_ratio: Option<f64>,
    /// Annualised Sortino ratio (target 0): `mean(r) / downside_dev * sqrt(252)` with
    /// `downside_dev = sqrt(sum(min(r_t, 0)^2) / n)` over all `n` returns; `None` when `n = 0`
    /// or `downside_dev = 0`.
    pub sortino_ratio: Option<f64>,
    /// Largest peak-to-trough fall of equity, in percent of the peak:
    /// `max over t of (P_t - E_t) / P_t * 100` with `P_t` the running maximum of `E` up to `t`
    /// (points with `P_t <= 0` are skipped). 0 when equity never falls; `None` with no points.
    pub max_equity_drawdown_percent: Option<f64>,
}

/// Running per-symbol sums.
#[derive(Debug, Default)]
struct SymbolAccumulator {
    closed_trades: usize,
    wins: usize,
    losses: usize,
    net_pnl: Decimal,
}

/// `numerator / denominator` exactly, `None` when the denominator is 0.
fn quotient(numerator: Decimal, denominator: Decimal) -> Option<Decimal> {
    (!denominator.is_zero()).then(|| numerator / denominator)
}

/// Computes [`Statistics`] from trades (closed ones in close order) and daily equity points.
///
/// Cost: one sort of the closed trades by close time and one pass over them, one sort and one
/// pass over the equity points.
pub fn statistics(trades: &[Trade], equity: &[EquityPoint]) -> Statistics {
    let mut closed: Vec<(DateTime<Utc>, usize)> = trades
        .iter()
        .enumerate()
        .filter_map(|(index, trade)| trade.closed_at.map(|at| (at, index)))
        .collect();
    // Close order is nearly opening order, which a stable sort (run-detecting) handles fastest.
    closed.sort();

    let closed_trades = closed.len();
    let open_trades = trades.len() - closed_trades;
    let (mut wins, mut losses, mut breakeven) = (0_usize, 0_usize, 0_usize);
    let (mut gross_profit, mut gross_loss, mut total_fees) =
        (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    let mut largest_win: Option<Decimal> = None;
    let mut largest_loss: Option<Decimal> = None;
    let mut duration_seconds_sum: i128 = 0;
    let (mut win_streak, mut loss_streak) = (0_usize, 0_usize);
    let (mut longest_win_streak, mut longest_loss_streak) = (0_usize, 0_usize);
    let mut cumulative = Decimal::ZERO;
    let mut peak_pnl = Decimal::ZERO;
    let mut peak_at: Option<usize> = None;
    // (amount, peak value, peak trade, trough value, trough trade)
    let mut worst: Option<(Decimal, Decimal, Option<usize>, Decimal, usize)> = None;
    let mut per_symbol: HashMap<&str, SymbolAccumulator> = HashMap::new();

    for &(_, index) in &closed {
        let trade = &trades[index];
        let pnl = trade.realised_pnl;
        total_fees += trade.fees;
        duration_seconds_sum += i128::from(trade.duration_seconds.unwrap_or(0));
        let symbol = per_symbol.entry(trade.symbol.as_str()).or_default();
        symbol.closed_trades += 1;
        symbol.net_pnl += pnl;
        if pnl > Decimal::ZERO {
            wins += 1;
            symbol.wins += 1;
            gross_profit += pnl;
            largest_win = Some(largest_win.map_or(pnl, |w| w.max(pnl)));
            win_streak += 1;
            loss_streak = 0;
            longest_win_streak = longest_win_streak.max(win_streak);
        } else if pnl < Decimal::ZERO {
            losses += 1;
            symbol.losses += 1;
            gross_loss += pnl;
            largest_loss = Some(largest_loss.map_or(pnl, |l| l.min(pnl)));
            loss_streak += 1;
            win_streak = 0;
            longest_loss_streak = longest_loss_streak.max(loss_streak);
        } else {
            breakeven += 1;
            win_streak = 0;
            loss_streak = 0;
        }

        cumulative += pnl;
        if cumulative > peak_pnl {
            peak_pnl = cumulative;
            peak_at = Some(index);
        } else {
            let fall = peak_pnl - cumulative;
            if fall > Decimal::ZERO && worst.is_none_or(|(amount, ..)| fall > amount) {
                worst = Some((fall, peak_pnl, peak_at, cumulative, index));
            }
        }
    }

    let trade_ref = |index: usize| TradeRef {
        index,
        id: trades[index].id.clone(),
        closed_at: trades[index].closed_at.unwrap_or(trades[index].opened_at),
    };
    let max_drawdown = worst.map(
        |(amount, peak, peak_index, trough, trough_index)| Drawdown {
            amount,
            peak_cumulative_pnl: peak,
            trough_cumulative_pnl: trough,
            peak: peak_index.map(trade_ref),
            trough: trade_ref(trough_index),
        },
    );

    let per_symbol: Vec<SymbolStatistics> = per_symbol
        .into_iter()
        .map(|(symbol, acc)| SymbolStatistics {
            symbol: symbol.to_owned(),
            closed_trades: acc.closed_trades,
            wins: acc.wins,
            losses: acc.losses,
            net_pnl: acc.net_pnl,
            win_rate: ratio(Decimal::from(acc.wins), Decimal::from(acc.closed_trades)),
        })
        .collect();
    finish(
        Totals {
            closed_trades,
            open_trades,
            wins,
            losses,
            breakeven,
            gross_profit,
            gross_loss,
            total_fees,
            largest_win,
            largest_loss,
            duration_seconds_sum,
            longest_win_streak,
            longest_loss_streak,
            max_drawdown,
            per_symbol,
        },
        equity,
    )
}

/// The sums and extremes of the closed trades, from which [`finish`] derives the figures.
#[derive(Debug)]
pub(crate) struct Totals {
    pub(crate) closed_trades: usize,
    pub(crate) open_trades: usize,
    pub(crate) wins: usize,
    pub(crate) losses: usize,
    pub(crate) breakeven: usize,
    pub(crate) gross_profit: Decimal,
    pub(crate) gross_loss: Decimal,
    pub(crate) total_fees: Decimal,
    pub(crate) largest_win: Option<Decimal>,
    pub(crate) largest_loss: Option<Decimal>,
    pub(crate) duration_seconds_sum: i128,
    pub(crate) longest_win_streak: usize,
    pub(crate) longest_loss_streak: usize,
    pub(crate) max_drawdown: Option<Drawdown>,
    /// Any order (sorted here).
    pub(crate) per_symbol: Vec<SymbolStatistics>,
}

/// [`Statistics`] from the totals of the closed trades and the equity points; shared by
/// [`statistics`] and [`crate::Ledger`], so both give the same figures.
pub(crate) fn finish(totals: Totals, equity: &[EquityPoint]) -> Statistics {
    let Totals {
        closed_trades,
        open_trades,
        wins,
        losses,
        breakeven,
        gross_profit,
        gross_loss,
        total_fees,
        largest_win,
        largest_loss,
        duration_seconds_sum,
        longest_win_streak,
        longest_loss_streak,
        max_drawdown,
        mut per_symbol,
    } = totals;
    per_symbol.sort_unstable_by(|a, b| a.symbol.cmp(&b.symbol));
    let net_pnl = gross_profit + gross_loss;
    let count = Decimal::from(closed_trades);
    let average_win = quotient(gross_profit, Decimal::from(wins));
    let average_loss = quotient(gross_loss, Decimal::from(losses));
    let returns = daily_returns(equity);

    Statistics {
        closed_trades,
        open_trades,
        wins,
        losses,
        breakeven,
        win_rate: ratio(Decimal::from(wins), count),
        gross_profit,
        gross_loss,
        net_pnl,
        profit_factor: ratio(gross_profit, gross_loss.abs()),
        average_win: average_win.map(cents),
        average_loss: average_loss.map(cents),
        payoff_ratio: average_win
            .zip(average_loss)
            .and_then(|(win, loss)| ratio(win, loss.abs())),
        expectancy: quotient(net_pnl, count).map(cents),
        largest_win,
        largest_loss,
        average_duration_seconds: (closed_trades > 0)
            .then(|| duration_seconds_sum as f64 / closed_trades as f64),
        longest_win_streak,
        longest_loss_streak,
        max_drawdown,
        total_fees,
        per_symbol,
        daily_returns: returns.len(),
        sharpe_ratio: sharpe_ratio(&returns),
        sortino_ratio: sortino_ratio(&returns),
        max_equity_drawdown_percent: max_equity_drawdown_percent(equity),
    }
}

/// Equity points in time order (stable for equal times).
fn in_time_order(equity: &[EquityPoint]) -> Vec<EquityPoint> {
    let mut points = equity.to_vec();
    points.sort_by_key(|point| point.time);
    points
}

/// Daily returns `r_t = E_t / E_(t-1) - 1` of consecutive equity points in time order,
/// skipping pairs where `E_(t-1) <= 0`.
pub fn daily_returns(equity: &[EquityPoint]) -> Vec<f64> {
    in_time_order(equity)
        .windows(2)
        .filter(|pair| pair[0].equity > Decimal::ZERO)
        .filter_map(|pair| (pair[1].equity / pair[0].equity - Decimal::ONE).to_f64())
        .collect()
}

/// `mean(r) / stdev(r) * sqrt(252)`, sample standard deviation (`n - 1`); `None` when there are
/// fewer than 2 returns or they do not vary.
pub fn sharpe_ratio(returns: &[f64]) -> Option<f64> {
    if returns.len() < 2 {
        return None;
    }
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let variance = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let stdev = variance.sqrt();
    (stdev > 0.0).then(|| mean / stdev * TRADING_DAYS_PER_YEAR.sqrt())
}

/// `mean(r) / sqrt(sum(min(r, 0)^2) / n) * sqrt(252)`; `None` when there is no return or no
/// negative one.
pub fn sortino_ratio(returns: &[f64]) -> Option<f64> {
    if returns.is_empty() {
        return None;
    }
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let downside = (returns.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n).sqrt();
    (downside > 0.0).then(|| mean / downside * TRADING_DAYS_PER_YEAR.sqrt())
}

/// `max over t of (P_t - E_t) / P_t * 100`, `P_t` the running peak of equity (points where it
/// is <= 0 skipped); `None` with no points.
pub fn max_equity_drawdown_percent(equity: &[EquityPoint]) -> Option<f64> {
    let points = in_time_order(equity);
    let mut peak: Option<Decimal> = None;
    let mut worst = Decimal::ZERO;
    for point in points.iter() {
        let running_peak = peak.map_or(point.equity, |p| p.max(point.equity));
        peak = Some(running_peak);
        if let Some(fall) = crate::drawdown_percent(running_peak, point.equity) {
            worst = worst.max(fall);
        }
    }
    peak.map(|_| ratio_number(worst))
}
