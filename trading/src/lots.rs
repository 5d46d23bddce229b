//! Which open quantity an exit closes: lot matching, FIFO or average cost.
//!
//! Within one flat-to-flat trade every method realises the same total, but a partial exit
//! followed by a scale-in splits that total differently between the exits (and so between
//! days). Brokers' realised-gain reports and the usual tax-lot default match lots first in,
//! first out, so that is the default ([`CostBasis::Fifo`]); the moving average cost
//! ([`CostBasis::Average`]) is the other method. An open position is a queue of [`Lot`]s: under
//! FIFO one lot per opening fill (exits take from the front); under average cost a single lot
//! that every scale-in merges into (so exits take the average).

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::cents_pro_rata;
use crate::trade::PRO_RATA_DECIMAL_PLACES;

/// How an exit's cost is matched against the open quantity (`trading.cost_basis`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostBasis {
    /// First in, first out: an exit closes the oldest open lots first, at their own prices.
    #[default]
    Fifo,
    /// Moving average cost: an exit takes the average cost of everything held; a scale-in
    /// re-averages it.
    Average,
}

impl CostBasis {
    /// The setting's spelling: `fifo` or `average`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fifo => "fifo",
            Self::Average => "average",
        }
    }
}

impl fmt::Display for CostBasis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cost basis method that is neither `fifo` nor `average`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown cost basis {0:?}: expected fifo or average")]
pub struct UnknownCostBasis(pub String);

impl FromStr for CostBasis {
    type Err = UnknownCostBasis;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "fifo" => Ok(Self::Fifo),
            "average" => Ok(Self::Average),
            _ => Err(UnknownCostBasis(text.to_owned())),
        }
    }
}

/// Quantity opened together, with its cost and the entry fees not yet realised.
#[derive(Debug, Clone, Copy)]
struct Lot {
    /// Quantity still open (> 0).
    quantity: Decimal,
    /// `qty × price` of that quantity (exact under FIFO; re-averaged under average cost).
    cost: Decimal,
    /// Entry fees of that quantity not yet realised, in cents.
    fees: Decimal,
}

/// What an exit took out of the open lots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Taken {
    /// Cost of the quantity closed.
    pub cost: Decimal,
    /// Entry fees realised with it, in cents.
    pub fees: Decimal,
}

/// The open lots of one position: the oldest inline (under average cost, the only one), the
/// younger ones (FIFO only) behind it, so a trade with one lot allocates nothing.
#[derive(Debug)]
pub(crate) struct Lots {
    method: CostBasis,
    /// The oldest open lot; its quantity is 0 once everything is closed.
    head: Lot,
    /// Younger lots, oldest first (FIFO only).
    tail: VecDeque<Lot>,
    /// Quantity still open, all lots together.
    quantity: Decimal,
}

impl Lots {
    /// A position opened with `quantity` costing `cost`, with entry fee `fees` (cents).
    pub fn open(method: CostBasis, quantity: Decimal, cost: Decimal, fees: Decimal) -> Self {
        Self {
            method,
            head: Lot {
                quantity,
                cost,
                fees,
            },
            tail: VecDeque::new(),
            quantity,
        }
    }

    /// A scale-in: a new lot under FIFO, merged into the one lot under average cost.
    pub fn add(&mut self, quantity: Decimal, cost: Decimal, fees: Decimal) {
        self.quantity += quantity;
        match self.method {
            CostBasis::Average => {
                self.head.quantity += quantity;
                self.head.cost += cost;
                self.head.fees += fees;
            }
            CostBasis::Fifo => self.tail.push_back(Lot {
                quantity,
                cost,
                fees,
            }),
        }
    }

    /// Quantity still open.
    pub fn quantity(&self) -> Decimal {
        self.quantity
    }

    /// Every open lot, oldest first.
    fn lots(&self) -> impl Iterator<Item = &Lot> {
        std::iter::once(&self.head)
            .chain(&self.tail)
            .filter(|lot| !lot.quantity.is_zero())
    }

    /// Cost of the quantity still open.
    pub fn cost(&self) -> Decimal {
        self.lots().map(|lot| lot.cost).sum()
    }

    /// Entry fees of the quantity still open, not yet realised (cents).
    pub fn fees(&self) -> Decimal {
        self.lots().map(|lot| lot.fees).sum()
    }

    /// Closes `quantity` (at most [`Self::quantity`]) from the oldest lots. A lot closed whole
    /// gives all its cost and fees; a lot closed in part gives `cost × q / Q` (to
    /// [`PRO_RATA_DECIMAL_PLACES`], exact under FIFO where the cost is `Q × price`) and
    /// `fees × q / Q` in cents, so nothing is lost when the rest is closed later.
    pub fn take(&mut self, quantity: Decimal) -> Taken {
        let mut taken = Taken {
            cost: Decimal::ZERO,
            fees: Decimal::ZERO,
        };
        let mut left = quantity;
        while left > Decimal::ZERO && !self.head.quantity.is_zero() {
            let lot = &mut self.head;
            if left >= lot.quantity {
                left -= lot.quantity;
                taken.cost += lot.cost;
                taken.fees += lot.fees;
                self.head = self.tail.pop_front().unwrap_or(Lot {
                    quantity: Decimal::ZERO,
                    cost: Decimal::ZERO,
                    fees: Decimal::ZERO,
                });
            } else {
                let cost = (lot.cost * left / lot.quantity).round_dp(PRO_RATA_DECIMAL_PLACES);
                let fees = cents_pro_rata(lot.fees, left, lot.quantity);
                lot.quantity -= left;
                lot.cost -= cost;
                lot.fees -= fees;
                taken.cost += cost;
                taken.fees += fees;
                left = Decimal::ZERO;
            }
        }
        self.quantity -= quantity - left;
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn fifo_takes_the_oldest_lots_at_their_own_cost() {
        let mut lots = Lots::open(CostBasis::Fifo, d("10"), d("100"), d("1.00"));
        lots.add(d("10"), d("140"), d("1.00"));
        let taken = lots.take(d("15"));
        // All of the first lot (100, fee 1.00) and half of the second (70, fee 0.50).
        assert_eq!(
            taken,
            Taken {
                cost: d("170"),
                fees: d("1.50")
            }
        );
        assert_eq!(
            (lots.quantity(), lots.cost(), lots.fees()),
            (d("5"), d("70"), d("0.50"))
        );
    }

    #[test]
    fn average_takes_the_average_cost() {
        let mut lots = Lots::open(CostBasis::Average, d("10"), d("100"), d("1.00"));
        lots.add(d("10"), d("140"), d("1.00"));
        let taken = lots.take(d("15"));
        assert_eq!(
            taken,
            Taken {
                cost: d("180"),
                fees: d("1.50")
            }
        );
        assert_eq!(
            (lots.quantity(), lots.cost(), lots.fees()),
            (d("5"), d("60"), d("0.50"))
        );
    }

    #[test]
    fn cost_basis_reads_its_setting_spelling() {
        assert_eq!("FIFO".parse::<CostBasis>(), Ok(CostBasis::Fifo));
        assert_eq!("average".parse::<CostBasis>(), Ok(CostBasis::Average));
        assert!("lifo".parse::<CostBasis>().is_err());
        assert_eq!(CostBasis::default().as_str(), "fifo");
    }
}
