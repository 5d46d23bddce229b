//! History of any numeric series, bucketed in SQL (`date_bin`) so an answer never holds more
//! than the caller's point budget, whatever the range; read from the coarsest roll-up whose
//! buckets fit the step ([`HistoryPlan`]), re-bucketed from its sums, counts, extremes and lasts.

use chrono::{DateTime, Duration, Utc};
use sqlx::AssertSqlSafe;

use crate::rollup::Resolution;
use crate::{Store, StoreError};

/// The range, step and table of a history read, derived from what the caller asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryPlan {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub step_seconds: i64,
    pub resolution: Resolution,
}

impl HistoryPlan {
    /// The step is the caller's (default 1 s), raised so that no series exceeds `max_points`
    /// buckets; the resolution is `forced`, else the coarsest whose bucket width does not exceed
    /// the step. From a roll-up, `from` is floored and `to` ceiled to its bucket width, and the step
    /// rounded up to a multiple of it, so every answer bucket is made of whole roll-up buckets
    /// (and equals what the raw points give over the same range).
    pub fn new(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        step_seconds: Option<i64>,
        max_points: i64,
        forced: Option<Resolution>,
    ) -> Self {
        let max_points = max_points.max(1);
        // Buckets start at `from`, so ceil(range / step) buckets cover the range.
        let smallest_step = |from: DateTime<Utc>, to: DateTime<Utc>| {
            let range_ms = (to - from).num_milliseconds().max(1);
            (range_ms + max_points * 1000 - 1) / (max_points * 1000)
        };
        let step = step_seconds
            .unwrap_or(1)
            .max(smallest_step(from, to))
            .max(1);
        let resolution = forced.unwrap_or_else(|| Resolution::for_step(step));
        let width = resolution.width_seconds();
        if resolution == Resolution::Raw {
            return Self {
                from,
                to,
                step_seconds: step,
                resolution,
            };
        }
        let (from, to) = (floor_to(from, width), ceil_to(to, width));
        let step = step.max(smallest_step(from, to));
        Self {
            from,
            to,
            step_seconds: (step + width - 1) / width * width,
            resolution,
        }
    }
}

fn floor_to(time: DateTime<Utc>, width_seconds: i64) -> DateTime<Utc> {
    let micros = time.timestamp_micros();
    let width = width_seconds * 1_000_000;
    DateTime::from_timestamp_micros(micros.div_euclid(width) * width).unwrap_or(time)
}

fn ceil_to(time: DateTime<Utc>, width_seconds: i64) -> DateTime<Utc> {
    let floor = floor_to(time, width_seconds);
    if floor == time {
        time
    } else {
        floor + Duration::seconds(width_seconds)
    }
}

/// What to read.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub name: String,
    pub host: Option<String>,
    /// Label matchers: a series matches when its labels contain all of these.
    pub labels: serde_json::Map<String, serde_json::Value>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Bucket width in seconds.
    pub step_seconds: i64,
    /// The table read; from a roll-up, `from`, `to` and the step should be multiples of its
    /// width ([`HistoryPlan`] makes them so), else the edge buckets hold whole roll-up buckets.
    pub resolution: Resolution,
}

/// One bucket of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryBucket {
    pub time: DateTime<Utc>,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub last: f64,
    pub count: i64,
}

/// One series and its buckets, oldest first.
#[derive(Debug, Clone)]
pub struct SeriesHistory {
    pub source: String,
    pub host: String,
    pub labels: serde_json::Value,
    pub buckets: Vec<HistoryBucket>,
}

#[derive(sqlx::FromRow)]
struct Series {
    series_id: i32,
    source: String,
    host: String,
    labels: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct Row {
    series_id: i32,
    bucket: DateTime<Utc>,
    avg: f64,
    min: f64,
    max: f64,
    last: f64,
    count: i64,
}

impl Store {
    /// Buckets of every series named `query.name` that matches the host and labels; a series
    /// without a point in the range is left out.
    pub async fn history(&self, query: &HistoryQuery) -> Result<Vec<SeriesHistory>, StoreError> {
        // The series first, so the bucket rows carry only numbers.
        let series = sqlx::query_as::<_, Series>(
            "SELECT series_id, source, host, labels FROM series \
             WHERE name = $1 AND ($2::text IS NULL OR host = $2) AND labels @> $3::jsonb \
             ORDER BY series_id",
        )
        .bind(&query.name)
        .bind(query.host.as_deref())
        .bind(serde_json::Value::Object(query.labels.clone()))
        .fetch_all(&self.pool)
        .await?;
        if series.is_empty() {
            return Ok(Vec::new());
        }
        // `last` is the value at the greatest time of the bucket: a plain max over
        // [epoch, value] pairs (no per-bucket sort; a tie goes to the greater value, as in the
        // roll-ups).
        let sql = match query.resolution.table() {
            None => {
                "SELECT p.series_id, date_bin(make_interval(secs => $4), p.time, $2) AS bucket, \
                    avg(p.value) AS avg, min(p.value) AS min, max(p.value) AS max, \
                    (max(ARRAY[extract(epoch FROM p.time)::float8, p.value]))[2] AS last, \
                    count(*) AS count \
             FROM point p WHERE p.series_id = ANY($1) AND p.time >= $2 AND p.time < $3 \
             GROUP BY p.series_id, bucket ORDER BY p.series_id, bucket"
                    .to_owned()
            }
            Some(table) => format!(
                "SELECT r.series_id, date_bin(make_interval(secs => $4), r.bucket_time, $2) AS bucket, \
                    sum(r.sum) / sum(r.count) AS avg, min(r.min) AS min, max(r.max) AS max, \
                    (max(ARRAY[extract(epoch FROM r.last_time)::float8, r.last_value]))[2] AS last, \
                    sum(r.count)::int8 AS count \
             FROM {table} r WHERE r.series_id = ANY($1) AND r.bucket_time >= $2 AND r.bucket_time < $3 \
             GROUP BY r.series_id, bucket ORDER BY r.series_id, bucket"
            ),
        };
        let rows = sqlx::query_as::<_, Row>(AssertSqlSafe(sql))
            .bind(series.iter().map(|s| s.series_id).collect::<Vec<_>>())
            .bind(query.from)
            .bind(query.to)
            .bind(query.step_seconds as f64)
            .fetch_all(&self.pool)
            .await?;
        let mut out: Vec<SeriesHistory> = Vec::new();
        let mut series = series.into_iter();
        let mut current = None;
        for row in rows {
            let bucket = HistoryBucket {
                time: row.bucket,
                avg: row.avg,
                min: row.min,
                max: row.max,
                last: row.last,
                count: row.count,
            };
            if current != Some(row.series_id) {
                // Rows and series are both in series_id order: skip those without buckets.
                let Some(meta) = series.find(|s| s.series_id == row.series_id) else {
                    continue;
                };
                current = Some(row.series_id);
                out.push(SeriesHistory {
                    source: meta.source,
                    host: meta.host,
                    labels: meta.labels,
                    buckets: Vec::new(),
                });
            }
            if let Some(last) = out.last_mut() {
                last.buckets.push(bucket);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("RFC 3339")
    }

    #[test]
    fn the_step_picks_the_coarsest_tier_that_fits() {
        assert_eq!(Resolution::for_step(1), Resolution::Raw);
        assert_eq!(Resolution::for_step(59), Resolution::Raw);
        assert_eq!(Resolution::for_step(60), Resolution::Minute);
        assert_eq!(Resolution::for_step(3599), Resolution::Minute);
        assert_eq!(Resolution::for_step(3600), Resolution::Hour);
        assert_eq!(Resolution::for_step(86_400), Resolution::Hour);
        for r in Resolution::ALL {
            assert_eq!(Resolution::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn a_rollup_plan_widens_to_whole_buckets_and_keeps_the_point_budget() {
        let (from, to) = (at("2026-01-01T10:17:30Z"), at("2026-01-15T08:05:00Z"));
        let plan = HistoryPlan::new(from, to, Some(3600), 1000, None);
        assert_eq!(plan.resolution, Resolution::Hour);
        assert_eq!(plan.from, at("2026-01-01T10:00:00Z"));
        assert_eq!(plan.to, at("2026-01-15T09:00:00Z"));
        assert_eq!(plan.step_seconds, 3600);

        let plan = HistoryPlan::new(from, to, Some(90), 100, None);
        assert_eq!(plan.resolution, Resolution::Hour, "raised past an hour");
        assert_eq!(plan.step_seconds % 3600, 0);
        let buckets = (plan.to - plan.from)
            .num_seconds()
            .div_euclid(plan.step_seconds);
        assert!(buckets <= 100, "{plan:?}");

        let plan = HistoryPlan::new(from, at("2026-01-01T11:00:00Z"), Some(90), 1000, None);
        assert_eq!(plan.resolution, Resolution::Minute);
        assert_eq!(plan.step_seconds, 120);
        assert_eq!(plan.from, at("2026-01-01T10:17:00Z"));

        let raw = HistoryPlan::new(from, to, Some(3600), 1000, Some(Resolution::Raw));
        assert_eq!((raw.from, raw.to, raw.step_seconds), (from, to, 3600));
    }
}
