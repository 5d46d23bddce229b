//! Portfolio history (`GET /v2/account/portfolio/history`): the equity curve.
//!
//! Alpaca answers with parallel arrays (`timestamp`, `equity`, `profit_loss`,
//! `profit_loss_pct`) of JSON numbers, not strings, and fills the period before the account
//! existed with `null`. The numbers are read through serde_json's arbitrary-precision mode, so
//! `103820.56` becomes exactly that [`Decimal`], never a nearby binary float; elements whose
//! equity is null are skipped.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One point of the equity curve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortfolioPoint {
    /// Start of the period this point describes.
    pub time: DateTime<Utc>,
    /// Equity at that time.
    pub equity: Decimal,
    /// Profit or loss since the start of the requested period.
    pub profit_loss: Option<Decimal>,
    /// Profit or loss as a fraction of `base_value`.
    pub profit_loss_pct: Option<Decimal>,
}

/// The equity curve for one period and timeframe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortfolioHistory {
    /// Points in time order, those with null equity left out.
    pub points: Vec<PortfolioPoint>,
    /// Equity the profit and loss are measured from.
    pub base_value: Option<Decimal>,
    /// Resolution of the points (`1Min`, `5Min`, `15Min`, `1H`, `1D`).
    pub timeframe: String,
}

/// The body exactly as Alpaca sends it; the client turns it into a [`PortfolioHistory`].
#[derive(Deserialize)]
pub(crate) struct RawPortfolioHistory {
    timestamp: Vec<i64>,
    equity: Vec<Option<Decimal>>,
    #[serde(default)]
    profit_loss: Vec<Option<Decimal>>,
    #[serde(default)]
    profit_loss_pct: Vec<Option<Decimal>>,
    #[serde(default)]
    base_value: Option<Decimal>,
    #[serde(default)]
    timeframe: String,
}

impl TryFrom<RawPortfolioHistory> for PortfolioHistory {
    type Error = String;

    fn try_from(raw: RawPortfolioHistory) -> Result<Self, Self::Error> {
        if raw.equity.len() != raw.timestamp.len() {
            return Err(format!(
                "`equity` has {} elements but `timestamp` has {}",
                raw.equity.len(),
                raw.timestamp.len()
            ));
        }
        let mut points = Vec::with_capacity(raw.timestamp.len());
        for (index, (&epoch_seconds, equity)) in raw.timestamp.iter().zip(&raw.equity).enumerate() {
            let Some(equity) = *equity else { continue };
            let time = DateTime::<Utc>::from_timestamp(epoch_seconds, 0).ok_or_else(|| {
                format!("timestamp[{index}] = {epoch_seconds} is not a representable time")
            })?;
            points.push(PortfolioPoint {
                time,
                equity,
                profit_loss: raw.profit_loss.get(index).copied().flatten(),
                profit_loss_pct: raw.profit_loss_pct.get(index).copied().flatten(),
            });
        }
        Ok(Self {
            points,
            base_value: raw.base_value,
            timeframe: raw.timeframe,
        })
    }
}
