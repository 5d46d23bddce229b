//! Daily partitions of the `point` table: created before a batch needs them, dropped once
//! older than the retention period (dropping a partition is instant; deleting rows is not).

use std::collections::BTreeSet;

use chrono::{Days, NaiveDate};
use sqlx::AssertSqlSafe;

use crate::{Store, StoreError};

fn partition_name(day: NaiveDate) -> String {
    format!("point_p{}", day.format("%Y%m%d"))
}

impl Store {
    /// Makes sure a partition exists for each day; remembers what it created.
    pub async fn ensure_partitions(&self, days: &BTreeSet<NaiveDate>) -> Result<(), StoreError> {
        for &day in days {
            if self
                .caches
                .partitions
                .lock()
                .expect("partition cache")
                .contains(&day)
            {
                continue;
            }
            let next = day.checked_add_days(Days::new(1)).unwrap_or(day);
            let ddl = format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF point \
                 FOR VALUES FROM ('{} 00:00:00+00') TO ('{} 00:00:00+00')",
                partition_name(day),
                day.format("%Y-%m-%d"),
                next.format("%Y-%m-%d"),
            );
            if let Err(err) = sqlx::query(AssertSqlSafe(ddl.clone()))
                .execute(&self.pool)
                .await
            {
                // Another aggregator may have created it between our check and our DDL.
                if !self.partition_exists(day).await? {
                    return Err(err.into());
                }
            }
            self.caches
                .partitions
                .lock()
                .expect("partition cache")
                .insert(day);
        }
        Ok(())
    }

    async fn partition_exists(&self, day: NaiveDate) -> Result<bool, StoreError> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(partition_name(day))
            .fetch_one(&self.pool)
            .await?;
        Ok(exists)
    }

    /// Drops every daily partition that ends on or before `oldest_kept_day`; returns their names.
    pub async fn drop_partitions_before(
        &self,
        oldest_kept_day: NaiveDate,
    ) -> Result<Vec<String>, StoreError> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_inherits i \
             JOIN pg_class c ON c.oid = i.inhrelid \
             JOIN pg_class p ON p.oid = i.inhparent \
             WHERE p.relname = 'point' ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        let cutoff = partition_name(oldest_kept_day);
        let mut dropped = Vec::new();
        for name in names
            .into_iter()
            .filter(|name| name.as_str() < cutoff.as_str())
        {
            let ddl = format!("DROP TABLE IF EXISTS {name}");
            sqlx::query(AssertSqlSafe(ddl)).execute(&self.pool).await?;
            dropped.push(name);
        }
        self.caches
            .partitions
            .lock()
            .expect("partition cache")
            .retain(|day| *day >= oldest_kept_day);
        // Ids older than the stream's own retention can no longer be redelivered.
        sqlx::query("DELETE FROM ingested_message WHERE ingested_at < $1::date")
            .bind(oldest_kept_day)
            .execute(&self.pool)
            .await?;
        Ok(dropped)
    }
}
