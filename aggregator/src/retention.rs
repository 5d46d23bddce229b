//! Partition upkeep: creates tomorrow's partition ahead of time and drops the ones older than
//! the retention period, hourly; and deletes log lines and alert history past their retention.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{Days, Utc};
use exporter_runtime::Shutdown;
use exporter_store::Store;

/// Runs until `shutdown`. `alerts_retention_days` applies to notifications, resolved alerts and
/// the delivery log; log lines follow `retention_days` like the points.
pub async fn run(
    store: Store,
    retention_days: u32,
    alerts_retention_days: u32,
    shutdown: Shutdown,
) {
    let mut ticker = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = ticker.tick() => {}
        }
        let today = Utc::now().date_naive();
        let days: BTreeSet<_> = [Some(today), today.checked_add_days(Days::new(1))]
            .into_iter()
            .flatten()
            .collect();
        if let Err(err) = store.ensure_partitions(&days).await {
            tracing::warn!(error = %err, "could not create upcoming partitions; will retry in an hour");
        }
        let now = Utc::now();
        match store
            .prune_logs_and_alerts(
                now - chrono::Duration::days(i64::from(retention_days)),
                now - chrono::Duration::days(i64::from(alerts_retention_days)),
            )
            .await
        {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "deleted log lines and alert history past retention"),
            Err(err) => {
                tracing::warn!(error = %err, "log and alert retention failed; will retry in an hour")
            }
        }
        let Some(oldest_kept) = today.checked_sub_days(Days::new(u64::from(retention_days))) else {
            continue;
        };
        match store.drop_partitions_before(oldest_kept).await {
            Ok(dropped) if !dropped.is_empty() => {
                tracing::info!(
                    ?dropped,
                    retention_days,
                    "dropped partitions past retention"
                );
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, "retention pass failed; will retry in an hour")
            }
        }
    }
}
