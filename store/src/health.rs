//! The few reads that health reports make: firing alert counts for `/health`, and the server
//! version for `exporter check`. Here so that no crate but the store writes SQL.

use crate::{Store, StoreError};

/// Firing alerts, by what an operator needs to know first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FiringCounts {
    pub firing: i64,
    pub firing_critical: i64,
    pub unacknowledged: i64,
}

impl Store {
    /// How many alerts are firing, how many of them are critical, how many nobody acknowledged.
    pub async fn firing_alert_counts(&self) -> Result<FiringCounts, StoreError> {
        let (firing, firing_critical, unacknowledged): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE severity = 'critical'), \
                    count(*) FILTER (WHERE acknowledged_at IS NULL) \
             FROM alert WHERE state = 'firing'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(FiringCounts {
            firing,
            firing_critical,
            unacknowledged,
        })
    }

    /// PostgreSQL's own version string (`SHOW server_version`).
    pub async fn server_version(&self) -> Result<String, StoreError> {
        Ok(sqlx::query_scalar("SHOW server_version")
            .fetch_one(&self.pool)
            .await?)
    }
}
