//! Roll-ups of the raw points at 1 minute and 1 hour (`rollup_1m`, `rollup_1h`), so a history
//! over days or months reads a few rows per series instead of every point.
//!
//! The aggregator's batch write calls [`upsert`] in the same transaction as the points it
//! inserts, with exactly those points (only points of newly ingested message ids), so a
//! redelivered or replayed batch changes nothing, and a late or backfilled sample lands in its
//! buckets like any other. One statement for both resolutions: the batch is grouped into minute
//! buckets once, and the hour buckets are grouped from those.

use chrono::{DateTime, Utc};

use crate::StoreError;

/// Which table serves a history query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// The points themselves.
    Raw,
    /// `rollup_1m`.
    Minute,
    /// `rollup_1h`.
    Hour,
}

impl Resolution {
    /// Every resolution, finest first.
    pub const ALL: [Self; 3] = [Self::Raw, Self::Minute, Self::Hour];

    /// Bucket width of the table in seconds (1 for raw points: any step fits).
    pub fn width_seconds(self) -> i64 {
        match self {
            Self::Raw => 1,
            Self::Minute => 60,
            Self::Hour => 3600,
        }
    }

    /// The coarsest resolution whose buckets are no wider than `step_seconds`.
    pub fn for_step(step_seconds: i64) -> Self {
        Self::ALL
            .into_iter()
            .rev()
            .find(|r| r.width_seconds() <= step_seconds)
            .unwrap_or(Self::Raw)
    }

    /// The name the API answers with: `raw`, `1m`, `1h`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Minute => "1m",
            Self::Hour => "1h",
        }
    }

    /// The inverse of [`Self::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// The roll-up table, `None` for raw points.
    pub(crate) fn table(self) -> Option<&'static str> {
        match self {
            Self::Raw => None,
            Self::Minute => Some("rollup_1m"),
            Self::Hour => Some("rollup_1h"),
        }
    }
}

/// Adds the points (parallel arrays) to their minute and hour buckets. `last` keeps the value
/// with the greatest time, `first` the one with the least; two values at the same time tie-break
/// on the value (greatest last, least first), so the result does not depend on arrival order and
/// equals the migration's backfill and the raw history's `last`.
pub(crate) async fn upsert(
    tx: &mut sqlx::PgConnection,
    times: &[DateTime<Utc>],
    series_ids: &[i32],
    values: &[f64],
) -> Result<(), StoreError> {
    if times.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH p AS ( \
           SELECT * FROM UNNEST($1::timestamptz[], $2::int4[], $3::float8[]) AS u(time, series_id, value) \
         ), m AS ( \
           SELECT series_id, date_bin('1 minute', time, timestamptz '1970-01-01 00:00:00+00') AS bucket_time, \
                  sum(value) AS sum, count(*)::int4 AS count, min(value) AS min, max(value) AS max, \
                  min(time) AS first_time, (min(ARRAY[extract(epoch FROM time)::float8, value]))[2] AS first_value, \
                  max(time) AS last_time, (max(ARRAY[extract(epoch FROM time)::float8, value]))[2] AS last_value \
           FROM p GROUP BY 1, 2 \
         ), minute AS ( \
           INSERT INTO rollup_1m AS r SELECT * FROM m \
           ON CONFLICT (series_id, bucket_time) DO UPDATE SET \
             sum = r.sum + excluded.sum, count = r.count + excluded.count, \
             min = least(r.min, excluded.min), max = greatest(r.max, excluded.max), \
             first_value = CASE WHEN (excluded.first_time, excluded.first_value) < (r.first_time, r.first_value) THEN excluded.first_value ELSE r.first_value END, \
             first_time = least(r.first_time, excluded.first_time), \
             last_value = CASE WHEN (excluded.last_time, excluded.last_value) > (r.last_time, r.last_value) THEN excluded.last_value ELSE r.last_value END, \
             last_time = greatest(r.last_time, excluded.last_time) \
         ) \
         INSERT INTO rollup_1h AS r \
         SELECT series_id, date_bin('1 hour', bucket_time, timestamptz '1970-01-01 00:00:00+00'), \
                sum(sum), sum(count)::int4, min(min), max(max), \
                min(first_time), (min(ARRAY[extract(epoch FROM first_time)::float8, first_value]))[2], \
                max(last_time), (max(ARRAY[extract(epoch FROM last_time)::float8, last_value]))[2] \
         FROM m GROUP BY 1, 2 \
         ON CONFLICT (series_id, bucket_time) DO UPDATE SET \
           sum = r.sum + excluded.sum, count = r.count + excluded.count, \
           min = least(r.min, excluded.min), max = greatest(r.max, excluded.max), \
           first_value = CASE WHEN (excluded.first_time, excluded.first_value) < (r.first_time, r.first_value) THEN excluded.first_value ELSE r.first_value END, \
           first_time = least(r.first_time, excluded.first_time), \
           last_value = CASE WHEN (excluded.last_time, excluded.last_value) > (r.last_time, r.last_value) THEN excluded.last_value ELSE r.last_value END, \
           last_time = greatest(r.last_time, excluded.last_time)",
    )
    .bind(times)
    .bind(series_ids)
    .bind(values)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
