//! The few reads that health reports make: firing alert counts and ingest lag for `/health`,
//! and the server version for `exporter check`. Here so that no crate but the store writes SQL.

use chrono::{DateTime, Utc};

use crate::{Store, StoreError};

/// How far behind ingest was at the aggregator's last self-metrics sample (its lag gauges,
/// `aggregator/src/lag.rs`). `None` fields: that aggregator did not report the figure.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct IngestLag {
    pub host: String,
    /// When the aggregator read the figures.
    pub sample_time: DateTime<Utc>,
    /// Messages the consumer has not delivered yet.
    pub pending_messages: Option<f64>,
    /// Messages delivered and not acknowledged yet.
    pub ack_pending_messages: Option<f64>,
    /// Age of the oldest message not committed yet.
    pub oldest_age_seconds: Option<f64>,
    pub stream_messages: Option<f64>,
    pub stream_bytes: Option<f64>,
}

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

    /// The lag figures of the aggregator that reported last (every aggregator reads the same
    /// stream and consumer); `None` before any aggregator stored its self-metrics.
    pub async fn ingest_lag(&self) -> Result<Option<IngestLag>, StoreError> {
        Ok(sqlx::query_as::<_, IngestLag>(
            "WITH latest AS ( \
                 SELECT host, sample_time, body->'gauges' AS gauges FROM latest_sample \
                 WHERE source = 'exporter' AND process = 'aggregator' \
                 ORDER BY sample_time DESC LIMIT 1) \
             SELECT host, sample_time, \
                    (SELECT (g->>'value')::float8 FROM jsonb_array_elements(gauges) g \
                     WHERE g->>'name' = 'consumer_pending_messages' LIMIT 1) AS pending_messages, \
                    (SELECT (g->>'value')::float8 FROM jsonb_array_elements(gauges) g \
                     WHERE g->>'name' = 'consumer_ack_pending_messages' LIMIT 1) AS ack_pending_messages, \
                    (SELECT (g->>'value')::float8 FROM jsonb_array_elements(gauges) g \
                     WHERE g->>'name' = 'ingest_lag_seconds' LIMIT 1) AS oldest_age_seconds, \
                    (SELECT (g->>'value')::float8 FROM jsonb_array_elements(gauges) g \
                     WHERE g->>'name' = 'stream_messages' LIMIT 1) AS stream_messages, \
                    (SELECT (g->>'value')::float8 FROM jsonb_array_elements(gauges) g \
                     WHERE g->>'name' = 'stream_bytes' LIMIT 1) AS stream_bytes \
             FROM latest",
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    /// PostgreSQL's own version string (`SHOW server_version`).
    pub async fn server_version(&self) -> Result<String, StoreError> {
        Ok(sqlx::query_scalar("SHOW server_version")
            .fetch_one(&self.pool)
            .await?)
    }
}
