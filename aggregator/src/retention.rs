//! Partition upkeep and retention, hourly: creates today's and tomorrow's partitions of every
//! tier ahead of time, drops each tier's partitions past its own age
//! (`aggregator.retention`), and deletes log lines and ingested ids past
//! `aggregator.log_retention_days` and alert history past `alerts.retention_days`; and every ten
//! minutes compacts the raw points and the 1-minute roll-up of closed hours and the 1-hour
//! roll-up of closed days into chunks (`Store::compact_raw`, `Store::compact_rollups`).

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{Days, Utc};
use exporter_runtime::Shutdown;
use exporter_store::{Store, Tiers};

/// How long each kind of record is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Points, per tier.
    pub tiers: Tiers,
    /// Log lines and the ids of ingested messages.
    pub log_days: u32,
    /// Notifications, resolved alerts and the delivery log.
    pub alerts_days: u32,
}

impl Retention {
    pub fn from_settings(settings: &exporter_settings::Settings) -> Self {
        Self {
            tiers: Tiers::from(&settings.aggregator.retention),
            log_days: settings.aggregator.log_retention_days,
            alerts_days: settings.alerts.retention_days,
        }
    }
}

/// Runs until `shutdown`.
pub async fn run(store: Store, retention: Retention, shutdown: Shutdown) {
    let mut ticker = tokio::time::interval(Duration::from_secs(3600));
    let mut compaction = tokio::time::interval(Duration::from_secs(600));
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = ticker.tick() => pass(&store, &retention).await,
            _ = compaction.tick() => compact(&store).await,
        }
    }
}

/// Compacts the hours closed five minutes ago or more (samples a few seconds late still land
/// in their row first; a later one is merged at the next pass).
async fn compact(store: &Store) {
    let before = Utc::now() - chrono::Duration::minutes(5);
    match store.compact_rollups(before).await {
        Ok(0) => {}
        Ok(chunks) => tracing::debug!(chunks, "compacted closed parts of the roll-ups"),
        Err(err) => tracing::warn!(
            error = %err,
            "compacting the roll-ups failed; will retry in ten minutes. If it repeats with a lock \
             timeout, a long transaction holds the partition: find it in pg_stat_activity"
        ),
    }
    match store.compact_raw(before).await {
        Ok(done) if done.chunks > 0 => tracing::debug!(
            chunks = done.chunks,
            emptied_days = done.emptied_days,
            "compacted closed hours of raw points"
        ),
        Ok(_) => {}
        Err(err) => {
            tracing::warn!(
                error = %err,
                "compacting raw points failed; will retry in ten minutes. If it repeats with a \
                 lock timeout, a long transaction holds the partition: find it in pg_stat_activity"
            )
        }
    }
}

/// One pass; each failure is logged and retried at the next.
async fn pass(store: &Store, retention: &Retention) {
    let today = Utc::now().date_naive();
    let days: BTreeSet<_> = [Some(today), today.checked_add_days(Days::new(1))]
        .into_iter()
        .flatten()
        .collect();
    if let Err(err) = store.ensure_partitions(&days).await {
        tracing::warn!(error = %err, "could not create upcoming partitions; will retry in an hour");
    }
    let now = Utc::now();
    let log_before = now - chrono::Duration::days(i64::from(retention.log_days));
    match store
        .prune_logs_and_alerts(
            log_before,
            now - chrono::Duration::days(i64::from(retention.alerts_days)),
        )
        .await
    {
        Ok(0) => {}
        Ok(rows) => tracing::info!(rows, "deleted log lines and alert history past retention"),
        Err(err) => {
            tracing::warn!(error = %err, "log and alert retention failed; will retry in an hour")
        }
    }
    match store.prune_ingested_ids(log_before).await {
        Ok(0) => {}
        Ok(rows) => tracing::info!(rows, "deleted ingested message ids past retention"),
        Err(err) => {
            tracing::warn!(error = %err, "ingested id retention failed; will retry in an hour")
        }
    }
    match store.drop_expired_partitions(&retention.tiers, today).await {
        Ok(dropped) if !dropped.is_empty() => {
            tracing::info!(
                ?dropped,
                raw_days = retention.tiers.raw_days,
                minute_days = retention.tiers.minute_days,
                hour_days = retention.tiers.hour_days,
                "dropped partitions past their tier's retention"
            );
        }
        Ok(_) => {}
        Err(err) => {
            tracing::warn!(error = %err, "retention pass failed; will retry in an hour")
        }
    }
}
