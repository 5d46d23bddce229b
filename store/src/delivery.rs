//! The alert delivery log: one `alert_delivery` row per attempt to hand a notification to a
//! receiver (a webhook, Slack, ntfy, Telegram), so an operator can see what went out, what is
//! being retried and what was given up, without reading the aggregator's log.
//!
//! Rows hold the receiver's name, never its URL or token: those are secrets.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::{Store, StoreError};

/// Outcome of one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// The receiver accepted the message.
    Sent,
    /// The attempt failed in a way worth retrying (timeout, connection error, 429, 5xx); another
    /// attempt follows.
    Retrying,
    /// Given up: a permanent error (4xx) or the last attempt failed.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Retrying => "retrying",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sent" => Ok(Self::Sent),
            "retrying" => Ok(Self::Retrying),
            "failed" => Ok(Self::Failed),
            other => Err(format!(
                "unknown delivery status `{other}` (sent, retrying, failed)"
            )),
        }
    }
}

/// One attempt, as the dispatcher records it.
#[derive(Debug, Clone)]
pub struct DeliveryAttempt<'a> {
    pub time: DateTime<Utc>,
    /// The receiver's configured name.
    pub receiver: &'a str,
    /// The notification group (`{alertname="HostDown", host="gh200"}`).
    pub group_key: &'a str,
    pub alert_ids: &'a [Uuid],
    pub status: DeliveryStatus,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The HTTP status the receiver answered, if it answered.
    pub http_status: Option<u16>,
    /// What went wrong (already stripped of URLs and tokens).
    pub error: Option<&'a str>,
    pub duration_ms: u64,
}

/// One row of the delivery log.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub delivery_id: i64,
    pub time: DateTime<Utc>,
    pub receiver: String,
    pub group_key: String,
    pub alert_ids: Vec<Uuid>,
    pub status: DeliveryStatus,
    pub attempt: i32,
    pub http_status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

const DELIVERY_COLUMNS: &str = "delivery_id, time, receiver, group_key, alert_ids, status, \
    attempt, http_status, error, duration_ms";

fn record_from_row(row: &sqlx::postgres::PgRow) -> Result<DeliveryRecord, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(DeliveryRecord {
        delivery_id: row.try_get("delivery_id")?,
        time: row.try_get("time")?,
        receiver: row.try_get("receiver")?,
        group_key: row.try_get("group_key")?,
        alert_ids: row.try_get("alert_ids")?,
        status: status.parse().map_err(|err: String| {
            StoreError::Database(sqlx::Error::ColumnDecode {
                index: "status".into(),
                source: err.into(),
            })
        })?,
        attempt: row.try_get("attempt")?,
        http_status: row.try_get("http_status")?,
        error: row.try_get("error")?,
        duration_ms: row.try_get("duration_ms")?,
    })
}

impl Store {
    /// Appends one attempt to the delivery log; returns its row id.
    pub async fn record_delivery(&self, attempt: &DeliveryAttempt<'_>) -> Result<i64, StoreError> {
        let id = sqlx::query_scalar(
            "INSERT INTO alert_delivery (time, receiver, group_key, alert_ids, status, attempt, \
                                         http_status, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING delivery_id",
        )
        .bind(attempt.time)
        .bind(attempt.receiver)
        .bind(attempt.group_key)
        .bind(attempt.alert_ids)
        .bind(attempt.status.as_str())
        .bind(i32::try_from(attempt.attempt).unwrap_or(i32::MAX))
        .bind(attempt.http_status.map(i32::from))
        .bind(attempt.error)
        .bind(i32::try_from(attempt.duration_ms).unwrap_or(i32::MAX))
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    /// The newest `limit` attempts, newest first.
    pub async fn recent_deliveries(&self, limit: i64) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM alert_delivery \
             ORDER BY time DESC, delivery_id DESC LIMIT $1"
        )))
        .bind(limit.max(0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// The newest `limit` attempts that carried alert `alert_id`, newest first.
    pub async fn deliveries_for_alert(
        &self,
        alert_id: Uuid,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM alert_delivery WHERE $1 = ANY(alert_ids) \
             ORDER BY time DESC, delivery_id DESC LIMIT $2"
        )))
        .bind(alert_id)
        .bind(limit.max(0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Of `alert_ids`, those a receiver was ever notified of, with the last time (the
    /// dispatcher's state after a restart: their resolution is owed, their firing is not).
    pub async fn last_notified(
        &self,
        alert_ids: &[Uuid],
    ) -> Result<Vec<(Uuid, DateTime<Utc>)>, StoreError> {
        if alert_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT alert_id, last_notified_at FROM alert \
             WHERE alert_id = ANY($1) AND last_notified_at IS NOT NULL",
        )
        .bind(alert_ids)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("alert_id")?, row.try_get("last_notified_at")?)))
            .collect()
    }

    /// Which receivers were sent which of `alert_ids` (from the delivery log), so that after a
    /// restart a receiver whose delivery had failed still gets the alert.
    pub async fn notified_receivers(
        &self,
        alert_ids: &[Uuid],
    ) -> Result<Vec<(Uuid, String)>, StoreError> {
        if alert_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT DISTINCT u.id AS alert_id, d.receiver FROM alert_delivery d, \
                    LATERAL unnest(d.alert_ids) AS u(id) \
             WHERE d.status = 'sent' AND d.alert_ids && $1 AND u.id = ANY($1)",
        )
        .bind(alert_ids)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("alert_id")?, row.try_get("receiver")?)))
            .collect()
    }

    /// Deletes attempts older than `before` (retention); returns how many went.
    pub async fn delete_deliveries_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM alert_delivery WHERE time < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
