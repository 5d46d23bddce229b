//! The alert engine's side of the store: alert rows and their transitions (written by the
//! aggregator), notifications to turn into alerts, active silences, and the row mappings the
//! API's queries share.
//!
//! The API writes only acknowledgements and silences (user intent); everything else here is
//! written by the aggregator.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use exporter_protocol::alert::{Alert, AlertEventKind, Matcher, Notification, Silence};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Row};
use uuid::Uuid;

use crate::{Store, StoreError};

/// Columns [`alert_from_row`] reads, for `SELECT {ALERT_COLUMNS} FROM alert`.
pub const ALERT_COLUMNS: &str = "alert_id, fingerprint, rule, severity, category, state, labels, \
    annotations, value, started_at, fired_at, resolved_at, acknowledged_at, acknowledged_by, \
    last_active_at";

/// Columns [`silence_from_row`] reads.
pub const SILENCE_COLUMNS: &str =
    "silence_id, matchers, starts_at, ends_at, created_by, comment, created_at, expired_at";

/// Reads an alert row selected with [`ALERT_COLUMNS`].
pub fn alert_from_row(row: &PgRow) -> Result<Alert, StoreError> {
    let text = |name: &str| -> Result<String, StoreError> { Ok(row.try_get::<String, _>(name)?) };
    let parse_err = |column: &str, err: String| {
        StoreError::Database(sqlx::Error::ColumnDecode {
            index: column.to_owned(),
            source: err.into(),
        })
    };
    let labels: serde_json::Value = row.try_get("labels")?;
    let annotations: serde_json::Value = row.try_get("annotations")?;
    Ok(Alert {
        id: row.try_get("alert_id")?,
        fingerprint: text("fingerprint")?,
        rule: text("rule")?,
        severity: text("severity")?
            .parse()
            .map_err(|e| parse_err("severity", e))?,
        category: text("category")?,
        state: text("state")?.parse().map_err(|e| parse_err("state", e))?,
        labels: serde_json::from_value::<BTreeMap<String, String>>(labels)
            .map_err(|e| parse_err("labels", e.to_string()))?,
        annotations: serde_json::from_value::<BTreeMap<String, String>>(annotations)
            .map_err(|e| parse_err("annotations", e.to_string()))?,
        value: row.try_get("value")?,
        started_at: row.try_get("started_at")?,
        fired_at: row.try_get("fired_at")?,
        resolved_at: row.try_get("resolved_at")?,
        acknowledged_at: row.try_get("acknowledged_at")?,
        acknowledged_by: row.try_get("acknowledged_by")?,
        last_active_at: row.try_get("last_active_at")?,
    })
}

/// Reads a silence row selected with [`SILENCE_COLUMNS`].
pub fn silence_from_row(row: &PgRow) -> Result<Silence, StoreError> {
    let matchers: serde_json::Value = row.try_get("matchers")?;
    Ok(Silence {
        id: row.try_get("silence_id")?,
        matchers: serde_json::from_value::<Vec<Matcher>>(matchers).map_err(|e| {
            StoreError::Database(sqlx::Error::ColumnDecode {
                index: "matchers".into(),
                source: e.into(),
            })
        })?,
        starts_at: row.try_get("starts_at")?,
        ends_at: row.try_get("ends_at")?,
        created_by: row.try_get("created_by")?,
        comment: row.try_get("comment")?,
        created_at: row.try_get("created_at")?,
        expired_at: row.try_get("expired_at")?,
    })
}

/// A stored notification, with its row id (the engine's cursor).
#[derive(Debug, Clone)]
pub struct StoredNotification {
    pub notification_id: i64,
    pub host: Option<String>,
    pub time: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub notification: Notification,
}

impl Store {
    /// Writes alert state changes in one transaction: each alert's row (insert or update; the
    /// acknowledgement columns are the API's and never overwritten here) and one transition row
    /// per event.
    pub async fn record_alert_events(
        &self,
        events: &[(AlertEventKind, DateTime<Utc>, &Alert)],
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (kind, time, alert) in events {
            if !alert.state.is_final() {
                // Another open row of the same fingerprint (the engine started without the
                // stored state, e.g. PostgreSQL blipped at its start) is superseded: resolve it
                // so the one-open-alert-per-fingerprint index never wedges these writes.
                sqlx::query(
                    "UPDATE alert SET state = 'resolved', resolved_at = $3, updated_at = now() \
                     WHERE fingerprint = $1 AND alert_id <> $2 AND state IN ('pending', 'firing')",
                )
                .bind(&alert.fingerprint)
                .bind(alert.id)
                .bind(time)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "INSERT INTO alert (alert_id, fingerprint, rule, severity, category, state, labels, \
                                    annotations, value, started_at, fired_at, resolved_at, last_active_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (alert_id) DO UPDATE SET state = excluded.state, \
                   severity = excluded.severity, annotations = excluded.annotations, \
                   value = excluded.value, fired_at = excluded.fired_at, \
                   resolved_at = excluded.resolved_at, last_active_at = excluded.last_active_at, \
                   updated_at = now()",
            )
            .bind(alert.id)
            .bind(&alert.fingerprint)
            .bind(&alert.rule)
            .bind(alert.severity.as_str())
            .bind(&alert.category)
            .bind(alert.state.as_str())
            .bind(serde_json::to_value(&alert.labels).unwrap_or_default())
            .bind(serde_json::to_value(&alert.annotations).unwrap_or_default())
            .bind(alert.value.filter(|v| v.is_finite()))
            .bind(alert.started_at)
            .bind(alert.fired_at)
            .bind(alert.resolved_at)
            .bind(alert.last_active_at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO alert_transition (alert_id, time, kind, value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (alert_id, kind) DO NOTHING",
            )
            .bind(alert.id)
            .bind(time)
            .bind(kind.as_str())
            .bind(alert.value.filter(|v| v.is_finite()))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Updates the value and last-active time of open alerts without a transition.
    pub async fn touch_alerts(&self, alerts: &[&Alert]) -> Result<(), StoreError> {
        if alerts.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE alert SET value = u.value, last_active_at = u.last_active_at, updated_at = now() \
             FROM UNNEST($1::uuid[], $2::float8[], $3::timestamptz[]) AS u(id, value, last_active_at) \
             WHERE alert.alert_id = u.id",
        )
        .bind(alerts.iter().map(|a| a.id).collect::<Vec<_>>())
        .bind(
            alerts
                .iter()
                .map(|a| a.value.filter(|v| v.is_finite()))
                .collect::<Vec<_>>(),
        )
        .bind(alerts.iter().map(|a| a.last_active_at).collect::<Vec<_>>())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Pending and firing alerts (the engine's state after a restart), with acknowledgements.
    pub async fn open_alerts(&self) -> Result<Vec<Alert>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alert WHERE state IN ('pending', 'firing')"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alert_from_row).collect()
    }

    /// How many silences are not expired and not yet ended at `now` (including future ones).
    pub async fn current_silence_count(&self, now: DateTime<Utc>) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM silence WHERE expired_at IS NULL AND ends_at > $1",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Silences not expired and not yet ended at `now` (including future ones).
    pub async fn current_silences(&self, now: DateTime<Utc>) -> Result<Vec<Silence>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {SILENCE_COLUMNS} FROM silence WHERE expired_at IS NULL AND ends_at > $1"
        )))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(silence_from_row).collect()
    }

    /// Notifications stored after row `after`, oldest first, at most `limit`.
    ///
    /// Rows at or below `cursor` (already read once) come back only if received in the last two
    /// minutes: the window in which a batch of another aggregator may commit a lower id late.
    pub async fn notifications_after(
        &self,
        after: i64,
        cursor: i64,
        limit: i64,
    ) -> Result<Vec<StoredNotification>, StoreError> {
        let rows = sqlx::query(
            "SELECT notification_id, host, time, received_at, severity, category, title, message, labels, resolved \
             FROM notification WHERE notification_id > $1 \
               AND (notification_id > $2 OR received_at > now() - interval '2 minutes') \
             ORDER BY notification_id LIMIT $3",
        )
        .bind(after)
        .bind(cursor)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let labels: serde_json::Value = row.try_get("labels")?;
                let time: DateTime<Utc> = row.try_get("time")?;
                Ok(StoredNotification {
                    notification_id: row.try_get("notification_id")?,
                    host: row.try_get("host")?,
                    time,
                    received_at: row.try_get("received_at")?,
                    notification: Notification {
                        time: Some(time),
                        severity: row.try_get("severity")?,
                        category: row.try_get("category")?,
                        title: row.try_get("title")?,
                        message: row.try_get("message")?,
                        labels: serde_json::from_value(labels).unwrap_or_default(),
                        resolved: row.try_get("resolved")?,
                    },
                })
            })
            .collect()
    }

    /// The highest notification row id (where a fresh engine starts).
    pub async fn last_notification_id(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(max(notification_id), 0) FROM notification")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Reads a value of the engine's small key/value state.
    pub async fn engine_state(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM alert_engine_state WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Writes a value of the engine's small key/value state.
    pub async fn set_engine_state(
        &self,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO alert_engine_state (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// When each (source, host) last sent a stored sample: what absence detection knows of
    /// sources the live subscription has not heard from yet.
    pub async fn last_seen_sources(
        &self,
    ) -> Result<Vec<(String, String, DateTime<Utc>)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT source, host, received_at FROM latest_sample")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// The highest equity ever recorded (the peak the drawdown series starts from after a
    /// restart); `None` without any equity point.
    pub async fn max_equity(&self) -> Result<Option<f64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT max(equity)::float8 FROM equity_point")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Marks alerts as notified now (the dispatcher calls this after a successful delivery).
    pub async fn mark_notified(
        &self,
        alert_ids: &[Uuid],
        time: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE alert SET last_notified_at = $2 WHERE alert_id = ANY($1)")
            .bind(alert_ids)
            .bind(time)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Retention of the non-partitioned tables: log lines received before `logs_before`;
    /// notifications, final alerts (with their transitions) and delivery attempts before
    /// `alerts_before`. Deletes in chunks so a large backlog never holds one long lock.
    pub async fn prune_logs_and_alerts(
        &self,
        logs_before: DateTime<Utc>,
        alerts_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        const CHUNK: i64 = 50_000;
        let mut deleted = 0;
        loop {
            let done = sqlx::query(
                "DELETE FROM log_line WHERE log_id IN \
                 (SELECT log_id FROM log_line WHERE received_at < $1 LIMIT $2)",
            )
            .bind(logs_before)
            .bind(CHUNK)
            .execute(&self.pool)
            .await?
            .rows_affected();
            deleted += done;
            if done < CHUNK as u64 {
                break;
            }
        }
        for sql in [
            "DELETE FROM notification WHERE received_at < $1",
            "DELETE FROM alert WHERE state IN ('resolved', 'inactive') AND updated_at < $1",
            "DELETE FROM alert_delivery WHERE time < $1",
        ] {
            deleted += sqlx::query(sql)
                .bind(alerts_before)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(deleted)
    }
}
