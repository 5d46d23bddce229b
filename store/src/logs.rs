//! Writes of log lines and notifications, inside the aggregator's batch transaction.

use chrono::{DateTime, Utc};
use exporter_protocol::alert::Notification;
use exporter_protocol::logs::LogLine;
use uuid::Uuid;

use crate::StoreError;

/// A notification ready to store, with the key that makes a redelivery a no-op.
#[derive(Debug, Clone)]
pub struct IncomingNotification {
    pub dedupe_key: String,
    pub host: Option<String>,
    /// Its own time, or when it was received.
    pub time: DateTime<Utc>,
    pub notification: Notification,
}

/// Inserts the lines of one logs sample (called only for a sample stored for the first time).
pub(crate) async fn insert_log_lines(
    tx: &mut sqlx::PgConnection,
    message_id: Uuid,
    host: &str,
    lines: &[LogLine],
) -> Result<(), StoreError> {
    if lines.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO log_line (message_id, line_no, time, host, source, level, component, message, \
                               fields, file_offset, truncated) \
         SELECT $1, u.line_no, u.time, $2, u.source, u.level, u.component, u.message, u.fields, \
                u.file_offset, u.truncated \
         FROM UNNEST($3::int4[], $4::timestamptz[], $5::text[], $6::int2[], $7::text[], $8::text[], \
                     $9::jsonb[], $10::int8[], $11::bool[]) \
           AS u(line_no, time, source, level, component, message, fields, file_offset, truncated)",
    )
    .bind(message_id)
    .bind(host)
    .bind((0..lines.len() as i32).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.time).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.source.clone()).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.level.rank()).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.component.clone()).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.message.clone()).collect::<Vec<_>>())
    .bind(
        lines
            .iter()
            .map(|l| serde_json::Value::Object(l.fields.clone()))
            .collect::<Vec<_>>(),
    )
    .bind(
        lines
            .iter()
            .map(|l| l.offset.map(|o| o as i64))
            .collect::<Vec<_>>(),
    )
    .bind(lines.iter().map(|l| l.truncated).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Inserts notifications; one already stored (same dedupe key) is skipped.
pub(crate) async fn insert_notifications(
    tx: &mut sqlx::PgConnection,
    rows: &[IncomingNotification],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO notification (dedupe_key, time, host, severity, category, title, message, labels, resolved) \
         SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], \
                              $6::text[], $7::text[], $8::jsonb[], $9::bool[]) \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(rows.iter().map(|r| r.dedupe_key.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.time).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.host.clone()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.notification.severity.to_ascii_lowercase())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.notification.category.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.notification.title.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.notification.message.clone()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| serde_json::to_value(&r.notification.labels).unwrap_or_default())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.notification.resolved).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}
