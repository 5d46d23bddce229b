//! Roll-ups of the raw points at 1 minute and 1 hour (`rollup_1m`, `rollup_1h`), so a history
//! over days or months reads a few rows per series instead of every point.
//!
//! The aggregator's batch write calls [`upsert`] in the same transaction as the points it
//! inserts, with exactly those points (only points of newly ingested message ids), so a
//! redelivered or replayed batch changes nothing, and a late or backfilled sample lands in its
//! buckets like any other. The batch is grouped here into minute buckets, and those into hour
//! buckets; then one set-based upsert per table (`INSERT .. SELECT FROM UNNEST .. ON CONFLICT DO
//! UPDATE`), never a statement per row.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

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

/// One bucket of one series, as stored.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    sum: f64,
    count: i32,
    min: f64,
    max: f64,
    first: (DateTime<Utc>, f64),
    last: (DateTime<Utc>, f64),
}

impl Bucket {
    fn of(time: DateTime<Utc>, value: f64) -> Self {
        Self {
            sum: value,
            count: 1,
            min: value,
            max: value,
            first: (time, value),
            last: (time, value),
        }
    }

    /// The same merge as the upsert's `ON CONFLICT` clause (values are finite: they came as
    /// JSON numbers).
    fn merge(&mut self, other: &Self) {
        self.sum += other.sum;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if other.first < self.first {
            self.first = other.first;
        }
        if other.last > self.last {
            self.last = other.last;
        }
    }
}

/// A multiply-rotate hasher (FxHash's) for the (series, bucket) keys of one batch: they come
/// from the aggregator itself, so SipHash's resistance to chosen keys buys nothing, and hashing
/// a batch's 38,500 points with it cost more than the grouping.
#[derive(Default)]
struct KeyHasher(u64);

impl KeyHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.add(u64::from(*byte));
        }
    }

    fn write_i32(&mut self, n: i32) {
        self.add(u64::from(n as u32));
    }

    fn write_i64(&mut self, n: i64) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type BuildKeyHasher = BuildHasherDefault<KeyHasher>;

/// Buckets keyed by (series, bucket start in microseconds since the epoch), sorted: the upsert
/// then touches the primary key in order, and two writers lock rows in the same order. `rows`
/// are (series, time in microseconds, bucket).
fn group(
    rows: impl Iterator<Item = (i32, i64, Bucket)>,
    width_seconds: i64,
    capacity: usize,
) -> Vec<((i32, i64), Bucket)> {
    let width = width_seconds * 1_000_000;
    let mut buckets: HashMap<(i32, i64), Bucket, BuildKeyHasher> =
        HashMap::with_capacity_and_hasher(capacity, BuildKeyHasher::default());
    for (series_id, micros, bucket) in rows {
        let start = micros.div_euclid(width) * width;
        buckets
            .entry((series_id, start))
            .and_modify(|b| b.merge(&bucket))
            .or_insert(bucket);
    }
    let mut sorted: Vec<_> = buckets.into_iter().collect();
    sorted.sort_unstable_by_key(|(key, _)| *key);
    sorted
}

/// The upsert of one table (`{table}`): one row per bucket of the batch, merged into the stored
/// row.
const UPSERT: &str = "INSERT INTO {table} AS r (series_id, bucket_time, sum, count, min, max, \
       first_time, first_value, last_time, last_value) \
     SELECT * FROM UNNEST($1::int4[], $2::timestamptz[], $3::float8[], $4::int4[], $5::float8[], \
       $6::float8[], $7::timestamptz[], $8::float8[], $9::timestamptz[], $10::float8[]) \
     ON CONFLICT (series_id, bucket_time) DO UPDATE SET \
       sum = r.sum + excluded.sum, count = r.count + excluded.count, \
       min = least(r.min, excluded.min), max = greatest(r.max, excluded.max), \
       first_value = CASE WHEN (excluded.first_time, excluded.first_value) < (r.first_time, r.first_value) \
         THEN excluded.first_value ELSE r.first_value END, \
       first_time = least(r.first_time, excluded.first_time), \
       last_value = CASE WHEN (excluded.last_time, excluded.last_value) > (r.last_time, r.last_value) \
         THEN excluded.last_value ELSE r.last_value END, \
       last_time = greatest(r.last_time, excluded.last_time)";

/// Adds the points (parallel arrays) to their minute and hour buckets: grouped here (a batch of
/// thousands of points is a few hundred minute rows and a few dozen hour rows), then one
/// set-based upsert per table. `last` keeps the value with the greatest time, `first` the one
/// with the least; two values at the same time tie-break on the value (greatest last, least
/// first), so the result does not depend on arrival order and equals the migration's backfill
/// and the raw history's `last`.
pub(crate) async fn upsert(
    tx: &mut sqlx::PgConnection,
    times: &[DateTime<Utc>],
    series_ids: &[i32],
    values: &[f64],
    takes: impl Fn(Resolution, DateTime<Utc>) -> bool,
) -> Result<(), StoreError> {
    if times.is_empty() {
        return Ok(());
    }
    // Straight from the parallel arrays (no bucket per point kept): a batch of 500 GH200
    // samples is 38,500 points but a few hundred minute rows.
    let minutes = group(
        series_ids
            .iter()
            .zip(times)
            .zip(values)
            .map(|((&id, &time), &value)| (id, time.timestamp_micros(), Bucket::of(time, value))),
        60,
        times.len().min(4096),
    );
    let hours = group(
        minutes.iter().map(|((id, start), b)| (*id, *start, *b)),
        3600,
        minutes.len(),
    );
    // Only the buckets whose tier still keeps their partition (see `partitions.rs`).
    let keep = |resolution: Resolution, buckets: Vec<((i32, i64), Bucket)>| {
        buckets
            .into_iter()
            .filter(|((_, start), _)| {
                takes(
                    resolution,
                    DateTime::from_timestamp_micros(*start).unwrap_or_default(),
                )
            })
            .collect::<Vec<_>>()
    };
    let hours = keep(Resolution::Hour, hours);
    let minutes = keep(Resolution::Minute, minutes);
    for (table, buckets) in [("rollup_1m", &minutes), ("rollup_1h", &hours)] {
        if buckets.is_empty() {
            continue;
        }
        let column =
            |f: fn(&((i32, i64), Bucket)) -> f64| buckets.iter().map(f).collect::<Vec<_>>();
        let time = |micros: i64| DateTime::from_timestamp_micros(micros).unwrap_or_default();
        sqlx::query(AssertSqlSafe(UPSERT.replace("{table}", table)))
            .bind(buckets.iter().map(|((id, _), _)| *id).collect::<Vec<_>>())
            .bind(
                buckets
                    .iter()
                    .map(|((_, start), _)| time(*start))
                    .collect::<Vec<_>>(),
            )
            .bind(column(|(_, b)| b.sum))
            .bind(buckets.iter().map(|(_, b)| b.count).collect::<Vec<_>>())
            .bind(column(|(_, b)| b.min))
            .bind(column(|(_, b)| b.max))
            .bind(buckets.iter().map(|(_, b)| b.first.0).collect::<Vec<_>>())
            .bind(column(|(_, b)| b.first.1))
            .bind(buckets.iter().map(|(_, b)| b.last.0).collect::<Vec<_>>())
            .bind(column(|(_, b)| b.last.1))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
