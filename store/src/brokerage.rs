//! Reads of the brokerage tables: every fill (to build trades), a cheap version stamp of the
//! fills (so the API recomputes only when something changed), and the equity history.

use chrono::{DateTime, Utc};
use exporter_protocol::brokerage::{EquityPoint, FillRecord};
use rust_decimal::Decimal;

use crate::{Store, StoreError};

/// Changes whenever a fill is added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillsVersion {
    pub count: i64,
    pub last_received: Option<DateTime<Utc>>,
}

type FillRow = (
    String,
    String,
    String,
    Decimal,
    Decimal,
    Decimal,
    DateTime<Utc>,
    Option<String>,
    Option<String>,
);

/// time, equity, profit/loss, profit/loss percent.
type EquityRow = (DateTime<Utc>, Decimal, Option<Decimal>, Option<Decimal>);

impl Store {
    /// The version stamp of the fill table.
    pub async fn fills_version(&self) -> Result<FillsVersion, StoreError> {
        let (count, last_received): (i64, Option<DateTime<Utc>>) =
            sqlx::query_as("SELECT count(*), max(received_at) FROM fill")
                .fetch_one(&self.pool)
                .await?;
        Ok(FillsVersion {
            count,
            last_received,
        })
    }

    /// Every fill, oldest first.
    pub async fn fills(&self) -> Result<Vec<FillRecord>, StoreError> {
        let rows: Vec<FillRow> = sqlx::query_as(
            "SELECT fill_id, symbol, side, quantity, price, fee, time, order_id, strategy \
             FROM fill ORDER BY time, fill_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, symbol, side, quantity, price, fee, time, order_id, strategy)| FillRecord {
                    id,
                    symbol,
                    side,
                    quantity,
                    price,
                    fee,
                    time,
                    order_id,
                    strategy,
                },
            )
            .collect())
    }

    /// The daily equity history, oldest first.
    pub async fn equity_points(&self) -> Result<Vec<EquityPoint>, StoreError> {
        let rows: Vec<EquityRow> = sqlx::query_as(
            "SELECT time, equity, profit_loss, profit_loss_percent FROM equity_point ORDER BY time",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(time, equity, profit_loss, profit_loss_percent)| EquityPoint {
                    time,
                    equity,
                    profit_loss,
                    profit_loss_percent,
                },
            )
            .collect())
    }
}
