//! Turns a stream of fills into trades (round trips) with exact realised P&L.
//!
//! Brokers report executions, but a trader thinks in trades: "I was long AAPL from 10:02 to
//! 11:40 and made $312". This module rebuilds those trades from fills, per symbol, from flat to
//! flat, and records *when* each part of the P&L was realised so that P&L can later be put on
//! the day it was made (see [`crate::daily`]).
//!
//! # Rules
//!
//! * **Ordering.** Fills are processed in `(time, id)` order whatever the input order, so the
//!   result is deterministic. Trades are returned in the order they were opened.
//! * **Trade.** One symbol's position from flat to flat, long or short. Fills in the trade's
//!   direction are scale-ins (they add to the entry); fills against it are exits (partial or
//!   final). A fill larger than the open position closes the trade and opens the opposite trade
//!   with the remainder ("flip"): the fill's quantity and fee are split pro rata by quantity,
//!   `fee_close = fee * closed_qty / fill_qty` and `fee_open = fee - fee_close` (so the two
//!   parts add up to the fee exactly). The fill's id appears in both trades' `fill_ids`.
//! * **Cost basis: FIFO lots or moving average cost** ([`CostBasis`], `trading.cost_basis`).
//!   Each opening fill (and each scale-in) is a lot of `qty` costing `qty * price`. Under FIFO
//!   an exit closes the oldest lots first, at their own cost; under average cost every lot is
//!   merged into one, so an exit of `q` out of `Q` takes `basis * q / Q` (see [`crate::lots`]).
//!   Realised gross P&L of the exit is `q * exit_price - cost_taken` for a long and
//!   `cost_taken - q * exit_price` for a short. For a closed trade both methods give the same
//!   total (the trade's cash flow, up to the cent rounding of each exit); only the split between
//!   exits differs, and only when a scale-in follows a partial exit.
//! * **Fees.** Fees are booked in cents. Each exit realises its own fee (its share, for a flip)
//!   plus the entry fees of the lots it closes (in part: `lot_fee * q / Q` in cents, all of what
//!   is left when the lot closes). So a closed trade's `realised_pnl = gross_pnl - fees` exactly.
//! * **Booking.** Each exit's net P&L is booked to the cent when it is realised, half to even
//!   ([`crate::money::cents`]); its `gross_pnl` is that plus its fees. Trade, day and statistic
//!   totals are sums of booked cents, so they reconcile exactly.
//! * **Attribution.** Every exit produces a [`Realisation`] carrying the fill's time, so P&L can
//!   be put on the day of the fill that realised it.
//!
//! Costs taken out of a lot in part are rounded to [`PRO_RATA_DECIMAL_PLACES`] decimal places
//! (exact under FIFO); each split's last piece is always "what is left", so totals stay exact.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::lots::Lots;
use crate::money::{AVERAGE_PRICE_EXTRA_DECIMAL_PLACES, cents, cents_pro_rata, ratio_number};
use crate::{CostBasis, Fill, Side, TradingError};

/// Decimal places kept for the cost taken out of a lot closed in part (average cost).
pub const PRO_RATA_DECIMAL_PLACES: u32 = 10;

/// Direction of a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeSide {
    /// Opened by a buy: profits when the price rises.
    Long,
    /// Opened by a sell: profits when the price falls.
    Short,
}

impl TradeSide {
    /// The side of a trade that a fill on `side` opens.
    pub fn opened_by(side: Side) -> Self {
        match side {
            Side::Buy => Self::Long,
            Side::Sell => Self::Short,
        }
    }

    /// The fill side that adds to a trade on this side.
    pub fn entry_fill_side(self) -> Side {
        match self {
            Self::Long => Side::Buy,
            Self::Short => Side::Sell,
        }
    }
}

/// Whether a trade is still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeStatus {
    /// The position is not flat yet.
    Open,
    /// The position went back to flat.
    Closed,
}

/// The P&L one exit fill realised, for attributing P&L to the day it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Realisation {
    /// When the exit fill executed.
    pub time: DateTime<Utc>,
    /// Id of the exit fill.
    pub fill_id: String,
    /// Quantity this exit closed (for a flip, only the closing part).
    pub quantity: Decimal,
    /// `pnl + fees`: price difference times quantity against the cost of the lots closed, as
    /// booked.
    pub gross_pnl: Decimal,
    /// Fees realised with this exit, in cents: its own fee (share) plus the entry fees of the
    /// lots it closed.
    pub fees: Decimal,
    /// Net P&L realised by this exit, booked to the cent (half to even).
    pub pnl: Decimal,
}

/// One symbol's position from flat to flat (or from flat to now, while open).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trade {
    /// Id of the fill that opened the trade (unique as long as fill ids are).
    pub id: String,
    /// Instrument symbol.
    pub symbol: String,
    /// Long or short.
    pub side: TradeSide,
    /// Open or closed.
    pub status: TradeStatus,
    /// Time of the opening fill.
    pub opened_at: DateTime<Utc>,
    /// Time of the fill that brought the position back to flat; `None` while open.
    pub closed_at: Option<DateTime<Utc>>,
    /// Total quantity opened (the opening fill plus every scale-in).
    pub entry_quantity: Decimal,
    /// Total quantity closed so far.
    pub exit_quantity: Decimal,
    /// `entry_quantity - exit_quantity`: the quantity still held (0 once closed).
    pub open_quantity: Decimal,
    /// Quantity-weighted average price of the opening fills: `sum(qty * price) / sum(qty)`,
    /// rounded to the fills' price precision plus 4 decimals.
    pub entry_price: Decimal,
    /// Quantity-weighted average price of the closing fills (same rounding); `None` before the
    /// first exit.
    pub exit_price: Option<Decimal>,
    /// All fees attributed to the trade, in cents (entry, exit, the trade's share of a flip).
    pub fees: Decimal,
    /// Realised P&L before fees: sum of the realisations' `gross_pnl`.
    pub gross_pnl: Decimal,
    /// Realised P&L after the fees realised so far: sum of the realisations' booked `pnl`.
    /// For a closed trade, `gross_pnl - fees`.
    pub realised_pnl: Decimal,
    /// Cost of the quantity still held under the cost basis method (0 once closed); shown in
    /// cents.
    #[serde(serialize_with = "crate::money::serialize_cents")]
    pub open_cost_basis: Decimal,
    /// Entry fees of the quantity still held, not yet realised (0 once closed).
    pub open_entry_fees: Decimal,
    /// Closed trades only: `realised_pnl / sum(qty * price of the opening fills) * 100`, i.e.
    /// net P&L as a percentage of the capital the entry took (`None` if that is 0), rounded to
    /// 6 decimals.
    pub return_percent: Option<f64>,
    /// Closed trades only: `closed_at - opened_at` in whole seconds.
    pub duration_seconds: Option<i64>,
    /// Strategy tag of the opening fill.
    pub strategy: Option<String>,
    /// Ids of every fill that touched the trade, in processing order.
    pub fill_ids: Vec<String>,
    /// One entry per exit fill, in time order.
    pub realisations: Vec<Realisation>,
}

impl Trade {
    /// Whether the trade is closed.
    pub fn is_closed(&self) -> bool {
        self.status == TradeStatus::Closed
    }

    /// P&L of the quantity still held if it were closed at `mark` with no further fee, in
    /// cents: `open_quantity * mark - open_cost_basis - open_entry_fees` for a long,
    /// `open_cost_basis - open_quantity * mark - open_entry_fees` for a short; 0 once closed.
    pub fn unrealised_pnl(&self, mark: Decimal) -> Decimal {
        let value = self.open_quantity * mark;
        let gross = match self.side {
            TradeSide::Long => value - self.open_cost_basis,
            TradeSide::Short => self.open_cost_basis - value,
        };
        cents(gross - self.open_entry_fees)
    }
}

/// Running state of the open trade of one symbol.
#[derive(Debug)]
struct OpenPosition {
    /// Index of the trade in the output.
    trade_index: usize,
    /// The open lots.
    lots: Lots,
}

/// Sums kept per trade until the averages are taken at the end.
#[derive(Debug, Default, Clone, Copy)]
struct Notionals {
    /// `sum(qty * price)` of the opening fills.
    entry: Decimal,
    /// `sum(qty * price)` of the closing fills.
    exit: Decimal,
    /// Largest number of decimals of the trade's fill prices.
    price_scale: u32,
}

/// Checks every fill (see [`Fill::validate`]) and then builds the trades with `method`.
///
/// Use this where a bad fill must be reported; [`build_trades`] skips fills it cannot use.
pub fn try_build_trades(fills: &[Fill], method: CostBasis) -> Result<Vec<Trade>, TradingError> {
    fills.iter().try_for_each(Fill::validate)?;
    Ok(build_trades_with(fills, method))
}

/// [`build_trades_with`] under the default cost basis, FIFO.
pub fn build_trades(fills: &[Fill]) -> Vec<Trade> {
    build_trades_with(fills, CostBasis::default())
}

/// Rebuilds the trades (flat-to-flat round trips per symbol) from fills in any order, matching
/// exits to lots by `method`.
///
/// See the [module documentation](self) for the rules (ordering, flips, lots, fee attribution,
/// booking). Fills with a quantity <= 0 are skipped, as they cannot move a position;
/// [`try_build_trades`] rejects them instead.
///
/// Cost: one sort of the fills by `(time, id)` and one pass over them.
pub fn build_trades_with(fills: &[Fill], method: CostBasis) -> Vec<Trade> {
    let mut ordered: Vec<&Fill> = fills
        .iter()
        .filter(|fill| fill.quantity > Decimal::ZERO)
        .collect();
    ordered.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));

    let mut trades: Vec<Trade> = Vec::new();
    let mut notionals: Vec<Notionals> = Vec::new();
    let mut open: HashMap<&str, OpenPosition> = HashMap::new();

    for fill in ordered {
        let fee = cents(fill.fee);
        let Some(position) = open.get_mut(fill.symbol.as_str()) else {
            let position = open_trade(
                &mut trades,
                &mut notionals,
                method,
                fill,
                fill.quantity,
                fee,
            );
            open.insert(fill.symbol.as_str(), position);
            continue;
        };
        let trade = &mut trades[position.trade_index];
        let notional = &mut notionals[position.trade_index];
        notional.price_scale = notional.price_scale.max(fill.price.scale());
        let value = fill.quantity * fill.price;

        if fill.side == trade.side.entry_fill_side() {
            // Scale-in: a new lot (FIFO) or more of the one lot (average).
            trade.entry_quantity += fill.quantity;
            trade.open_quantity += fill.quantity;
            trade.fees += fee;
            trade.fill_ids.push(fill.id.clone());
            notional.entry += value;
            position.lots.add(fill.quantity, value, fee);
            continue;
        }

        // Exit, possibly flipping into the opposite trade.
        let closed_quantity = fill.quantity.min(position.lots.quantity());
        let remainder = fill.quantity - closed_quantity;
        let exit_fee = if remainder.is_zero() {
            fee
        } else {
            cents_pro_rata(fee, closed_quantity, fill.quantity)
        };
        let is_final = closed_quantity == position.lots.quantity();
        let taken = position.lots.take(closed_quantity);
        let exit_value = closed_quantity * fill.price;
        let raw_gross = match trade.side {
            TradeSide::Long => exit_value - taken.cost,
            TradeSide::Short => taken.cost - exit_value,
        };
        let realised_fees = exit_fee + taken.fees;
        let pnl = cents(raw_gross - realised_fees);
        let gross_pnl = pnl + realised_fees;

        trade.exit_quantity += closed_quantity;
        trade.open_quantity -= closed_quantity;
        trade.fees += exit_fee;
        trade.gross_pnl += gross_pnl;
        trade.realised_pnl += pnl;
        trade.fill_ids.push(fill.id.clone());
        trade.realisations.push(Realisation {
            time: fill.time,
            fill_id: fill.id.clone(),
            quantity: closed_quantity,
            gross_pnl,
            fees: realised_fees,
            pnl,
        });
        notional.exit += exit_value;

        if is_final {
            trade.status = TradeStatus::Closed;
            trade.closed_at = Some(fill.time);
            trade.duration_seconds = Some((fill.time - trade.opened_at).num_seconds());
            if remainder.is_zero() {
                open.remove(fill.symbol.as_str());
            } else {
                let flipped = open_trade(
                    &mut trades,
                    &mut notionals,
                    method,
                    fill,
                    remainder,
                    fee - exit_fee,
                );
                open.insert(fill.symbol.as_str(), flipped);
            }
        }
    }

    for position in open.values() {
        let trade = &mut trades[position.trade_index];
        trade.open_cost_basis = position.lots.cost();
        trade.open_entry_fees = position.lots.fees();
    }
    for (trade, notional) in trades.iter_mut().zip(&notionals) {
        let places = notional.price_scale + AVERAGE_PRICE_EXTRA_DECIMAL_PLACES;
        trade.entry_price = (notional.entry / trade.entry_quantity).round_dp(places);
        if !trade.exit_quantity.is_zero() {
            trade.exit_price = Some((notional.exit / trade.exit_quantity).round_dp(places));
        }
        if trade.is_closed() && !notional.entry.is_zero() {
            trade.return_percent = Some(ratio_number(
                trade.realised_pnl / notional.entry * Decimal::ONE_HUNDRED,
            ));
        }
    }
    trades
}

/// Starts a trade with `quantity` of `fill` (all of it, or a flip's remainder) and `fee`.
fn open_trade(
    trades: &mut Vec<Trade>,
    notionals: &mut Vec<Notionals>,
    method: CostBasis,
    fill: &Fill,
    quantity: Decimal,
    fee: Decimal,
) -> OpenPosition {
    let value = quantity * fill.price;
    let trade_index = trades.len();
    trades.push(Trade {
        id: fill.id.clone(),
        symbol: fill.symbol.clone(),
        side: TradeSide::opened_by(fill.side),
        status: TradeStatus::Open,
        opened_at: fill.time,
        closed_at: None,
        entry_quantity: quantity,
        exit_quantity: Decimal::ZERO,
        open_quantity: quantity,
        entry_price: fill.price,
        exit_price: None,
        fees: fee,
        gross_pnl: Decimal::ZERO,
        realised_pnl: Decimal::ZERO,
        open_cost_basis: Decimal::ZERO,
        open_entry_fees: Decimal::ZERO,
        return_percent: None,
        duration_seconds: None,
        strategy: fill.strategy.clone(),
        fill_ids: {
            // Room for a scale-in and two exits before the first reallocation.
            let mut fill_ids = Vec::with_capacity(4);
            fill_ids.push(fill.id.clone());
            fill_ids
        },
        realisations: Vec::new(),
    });
    notionals.push(Notionals {
        entry: value,
        exit: Decimal::ZERO,
        price_scale: fill.price.scale(),
    });
    OpenPosition {
        trade_index,
        lots: Lots::open(method, quantity, value, fee),
    }
}
