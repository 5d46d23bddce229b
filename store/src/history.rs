//! History of any numeric series, bucketed in SQL (`date_bin`) so an answer never holds more
//! than the caller's point budget, whatever the range.

use chrono::{DateTime, Utc};

use crate::{Store, StoreError};

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
struct Row {
    series_id: i32,
    source: String,
    host: String,
    labels: serde_json::Value,
    bucket: DateTime<Utc>,
    avg: f64,
    min: f64,
    max: f64,
    last: f64,
    count: i64,
}

impl Store {
    /// Buckets of every series named `query.name` that matches the host and labels.
    pub async fn history(&self, query: &HistoryQuery) -> Result<Vec<SeriesHistory>, StoreError> {
        let rows = sqlx::query_as::<_, Row>(
            "SELECT s.series_id, s.source, s.host, s.labels, \
                    date_bin(make_interval(secs => $5), p.time, $3) AS bucket, \
                    avg(p.value) AS avg, min(p.value) AS min, max(p.value) AS max, \
                    (array_agg(p.value ORDER BY p.time DESC))[1] AS last, count(*) AS count \
             FROM series s JOIN point p ON p.series_id = s.series_id \
             WHERE s.name = $1 AND ($2::text IS NULL OR s.host = $2) AND s.labels @> $6::jsonb \
               AND p.time >= $3 AND p.time < $4 \
             GROUP BY s.series_id, bucket ORDER BY s.series_id, bucket",
        )
        .bind(&query.name)
        .bind(query.host.as_deref())
        .bind(query.from)
        .bind(query.to)
        .bind(query.step_seconds as f64)
        .bind(serde_json::Value::Object(query.labels.clone()))
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<(i32, SeriesHistory)> = Vec::new();
        for row in rows {
            let bucket = HistoryBucket {
                time: row.bucket,
                avg: row.avg,
                min: row.min,
                max: row.max,
                last: row.last,
                count: row.count,
            };
            match out.last_mut() {
                Some((id, series)) if *id == row.series_id => series.buckets.push(bucket),
                _ => out.push((
                    row.series_id,
                    SeriesHistory {
                        source: row.source,
                        host: row.host,
                        labels: row.labels,
                        buckets: vec![bucket],
                    },
                )),
            }
        }
        Ok(out.into_iter().map(|(_, series)| series).collect())
    }
}
