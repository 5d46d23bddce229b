//! Instant reads: the latest whole sample per (source, host), never a scan of history.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Store, StoreError};

/// The newest stored sample of one source on one host.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LatestSample {
    pub source: String,
    pub host: String,
    pub message_id: Uuid,
    pub sample_time: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub body: serde_json::Value,
}

impl Store {
    /// Latest samples, optionally of one source and/or one host, ordered by source then host.
    pub async fn latest(
        &self,
        source: Option<&str>,
        host: Option<&str>,
    ) -> Result<Vec<LatestSample>, StoreError> {
        let rows = sqlx::query_as::<_, LatestSample>(
            "SELECT source, host, message_id, sample_time, received_at, body FROM latest_sample \
             WHERE ($1::text IS NULL OR source = $1) AND ($2::text IS NULL OR host = $2) \
             ORDER BY source, host, process",
        )
        .bind(source)
        .bind(host)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// The message id of every latest sample: cheap to poll, to see which ones changed.
    pub async fn latest_message_ids(&self) -> Result<Vec<Uuid>, StoreError> {
        Ok(
            sqlx::query_scalar::<_, Uuid>("SELECT message_id FROM latest_sample")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The latest samples whose message id is one of `ids` (those still latest), ordered by
    /// source then host.
    pub async fn latest_of(&self, ids: &[Uuid]) -> Result<Vec<LatestSample>, StoreError> {
        let rows = sqlx::query_as::<_, LatestSample>(
            "SELECT source, host, message_id, sample_time, received_at, body FROM latest_sample \
             WHERE message_id = ANY($1) ORDER BY source, host, process",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}

/// How fresh one source on one host is, without its body (for `/health`, which is open to all).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Freshness {
    pub source: String,
    pub host: String,
    pub sample_time: DateTime<Utc>,
    /// The hardware collector's NVML status object, when the source has one.
    pub nvml: Option<serde_json::Value>,
    /// Number of GPUs in the sample (0 when none).
    pub gpu_count: i32,
}

impl Store {
    /// Freshness of every (source, host).
    pub async fn freshness(&self) -> Result<Vec<Freshness>, StoreError> {
        let rows = sqlx::query_as::<_, Freshness>(
            "SELECT source, host, sample_time, body->'nvml' AS nvml, \
                    COALESCE(jsonb_array_length(CASE WHEN jsonb_typeof(body->'gpus') = 'array' \
                                                     THEN body->'gpus' END), 0) AS gpu_count \
             FROM latest_sample ORDER BY source, host, process",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}
