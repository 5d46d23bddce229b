//! The history's re-bucketing, done here rather than in SQL: PostgreSQL only hands over the
//! arrays of the chunks in range (and the open rows of each series folded into arrays of the
//! same shape), and the answer buckets are summed here in one pass. Grouping a day of 72
//! series' minutes (100,000 rows) in SQL cost a hash aggregate spilling to disk, a sort and an
//! array built per row for `last`; here it is a few milliseconds.
//!
//! The result is the one the SQL gave: a bucket starts at `from + k × step`; `avg` is the sum
//! of the bucket's sums over its counts, summed in time order (segments sorted by their first
//! time, each sorted within); `last` the value at the greatest time, a tie going to the greater
//! value, as in the roll-ups.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use crate::StoreError;
use crate::history::HistoryBucket;
use crate::pg_array::{Micros, PgArray};
use crate::rollup::Resolution;

/// Time-ordered rows of one series from one chunk (or the series' open rows), a column per
/// field. A raw segment has only `times` and `sums` (each point's value): count 1, and its
/// value is its min, max and last.
/// The arrays are read from their binary form by `pg_array` (sqlx's generic array decode was a
/// third of a 24-hour read).
#[derive(sqlx::FromRow)]
struct Segment {
    series_id: i32,
    times: PgArray<Micros>,
    sums: PgArray<f64>,
    counts: Option<PgArray<i32>>,
    mins: Option<PgArray<f64>>,
    maxs: Option<PgArray<f64>>,
    last_times: Option<PgArray<Micros>>,
    last_values: Option<PgArray<f64>>,
}

/// The segments of the series `$1` with a row in `$2 <= time < $3`, ordered by series: the
/// chunks (one holds a UTC hour of points, a day of minutes or a month of hours, so the one
/// holding `$2` starts after `$4`, `$2` less that span: `chunk_span_seconds`) and the open rows
/// folded into one segment per series.
fn segments_sql(resolution: Resolution) -> String {
    // One sort (the index's order), then plain aggregates: an `ORDER BY` inside each
    // `array_agg` sorted the rows once per column.
    let open = |table: &str, time: &str, columns: &str| {
        format!(
            "SELECT series_id, min({time}) AS k, {columns} FROM ( \
               SELECT * FROM {table} WHERE series_id = ANY($1) AND {time} >= $2 AND {time} < $3 \
               ORDER BY series_id, {time}) o GROUP BY series_id"
        )
    };
    // `$4` is `$2` less the chunk span, computed by the caller: as a parameter (not
    // `$2 - interval ..`, a stable expression) the planner prunes the partitions out of range
    // itself; with 90 days of partitions, planning the expression's plan took ~4 ms a statement.
    let chunks = |table: &str, columns: &str| {
        format!(
            "SELECT series_id, chunk_start AS k, {columns} FROM {table} \
             WHERE series_id = ANY($1) AND chunk_start > $4 AND chunk_start < $3"
        )
    };
    let agg = |c: &str| format!("array_agg({c})");
    let rollup_open = format!(
        "{} AS times, {} AS sums, {} AS counts, {} AS mins, {} AS maxs, {} AS last_times, \
         {} AS last_values",
        agg("bucket_time"),
        agg("sum"),
        agg("count"),
        agg("min"),
        agg("max"),
        agg("last_time"),
        agg("last_value")
    );
    let body = match resolution {
        Resolution::Raw => format!(
            "{} UNION ALL {}",
            chunks(
                "point_chunk",
                "times, vals AS sums, NULL::int4[] AS counts, NULL::float8[] AS mins, \
                 NULL::float8[] AS maxs, NULL::timestamptz[] AS last_times, \
                 NULL::float8[] AS last_values"
            ),
            open(
                "point",
                "time",
                "array_agg(time) AS times, array_agg(value) AS sums, NULL::int4[] AS counts, \
                 NULL::float8[] AS mins, NULL::float8[] AS maxs, \
                 NULL::timestamptz[] AS last_times, NULL::float8[] AS last_values"
            )
        ),
        Resolution::Minute | Resolution::Hour => {
            let (rows, chunk_table, slots) = match resolution {
                Resolution::Minute => ("rollup_1m", "rollup_1m_chunk", 24 * 60),
                _ => ("rollup_1h", "rollup_1h_chunk", 31 * 24),
            };
            let width = resolution.width_seconds();
            // Only the elements that can be in range are sent (a day's chunk read for the last
            // few hours of it: PostgreSQL's cost is per element sent). A chunk's buckets are
            // distinct, sorted and aligned to the width, at most `slots` of them from its
            // start, so the i-th (of n) lies in slot i-1 or later and in slot
            // slots-1-(n-i) or earlier: those past `hi` start at or after `$3`, those before
            // `lo` before `$2`. The bounds are loose for a sparse chunk, never too tight; both
            // are clamped to the array before the cast (a `to` in year 9999 is minutes past
            // `int4`).
            let sliced = format!(
                "SELECT series_id, chunk_start AS k, bucket_times[lo:hi] AS times, \
                   sums[lo:hi] AS sums, counts[lo:hi] AS counts, mins[lo:hi] AS mins, \
                   maxs[lo:hi] AS maxs, last_times[lo:hi] AS last_times, \
                   last_values[lo:hi] AS last_values \
                 FROM (SELECT *, least(greatest(1, cardinality(bucket_times) - {slots} + 1 \
                         + floor(extract(epoch FROM $2 - chunk_start) / {width})), \
                         cardinality(bucket_times) + 1)::int AS lo, \
                       least(greatest(0, ceil(extract(epoch FROM $3 - chunk_start) / {width})), \
                         cardinality(bucket_times))::int AS hi \
                       FROM {chunk_table} WHERE series_id = ANY($1) \
                         AND chunk_start > $4 AND chunk_start < $3) c"
            );
            format!(
                "{sliced} UNION ALL {}",
                open(rows, "bucket_time", &rollup_open)
            )
        }
    };
    format!(
        "SELECT series_id, times, sums, counts, mins, maxs, last_times, last_values \
         FROM ({body}) s ORDER BY series_id, k"
    )
}

/// The most buckets per series summed in a vector; more go in a map.
const DENSE_MAX_BUCKETS: usize = 1 << 20;

/// One answer bucket being summed.
#[derive(Clone, Copy)]
struct Acc {
    sum: f64,
    count: i64,
    min: f64,
    max: f64,
    last_time: i64,
    last: f64,
}

impl Acc {
    const EMPTY: Self = Self {
        sum: 0.0,
        count: 0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        last_time: i64::MIN,
        last: f64::NEG_INFINITY,
    };

    fn add(&mut self, sum: f64, count: i64, min: f64, max: f64, last_time: i64, last: f64) {
        self.sum += sum;
        self.count += count;
        self.min = self.min.min(min);
        self.max = self.max.max(max);
        if (last_time, last) > (self.last_time, self.last) {
            self.last_time = last_time;
            self.last = last;
        }
    }
}

/// The buckets of `[from, to)` at `step_seconds` of one series' segments.
fn bucket(
    segments: &mut [Segment],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step_seconds: i64,
) -> Vec<HistoryBucket> {
    let (from_us, to_us) = (from.timestamp_micros(), to.timestamp_micros());
    let step_us = step_seconds.max(1) * 1_000_000;
    let buckets = usize::try_from((to_us - from_us + step_us - 1).div_euclid(step_us)).unwrap_or(0);
    // Dense up to a million buckets (a plan never has more than `max_points`); past that (a
    // caller's own query over a year at 1 s) only the buckets with data.
    let dense = buckets <= DENSE_MAX_BUCKETS;
    let mut accs = vec![Acc::EMPTY; if dense { buckets } else { 0 }];
    let mut sparse: BTreeMap<usize, Acc> = BTreeMap::new();
    // Summed in time order whatever order the segments came in (a late row of a compacted hour).
    segments.sort_by_key(|s| s.times.0.first().copied());
    for s in segments.iter() {
        for (i, time) in s.times.0.iter().enumerate() {
            let t = time.0;
            if t < from_us || t >= to_us {
                continue;
            }
            let k = ((t - from_us) / step_us) as usize;
            let acc = if dense {
                let Some(acc) = accs.get_mut(k) else {
                    continue;
                };
                acc
            } else {
                sparse.entry(k).or_insert(Acc::EMPTY)
            };
            let Some(&value) = s.sums.0.get(i) else {
                continue;
            };
            let pick = |column: &Option<PgArray<f64>>| {
                column
                    .as_ref()
                    .and_then(|c| c.0.get(i).copied())
                    .unwrap_or(value)
            };
            let count = s
                .counts
                .as_ref()
                .and_then(|c| c.0.get(i).copied())
                .map_or(1, i64::from);
            let last_time = s
                .last_times
                .as_ref()
                .and_then(|c| c.0.get(i))
                .map_or(t, |m| m.0);
            acc.add(
                value,
                count,
                pick(&s.mins),
                pick(&s.maxs),
                last_time,
                pick(&s.last_values),
            );
        }
    }
    accs.into_iter()
        .enumerate()
        .chain(sparse)
        .filter(|(_, a)| a.count > 0)
        .filter_map(|(k, a)| {
            Some(HistoryBucket {
                time: DateTime::from_timestamp_micros(from_us + k as i64 * step_us)?,
                avg: a.sum / a.count as f64,
                min: a.min,
                max: a.max,
                last: a.last,
                count: a.count,
            })
        })
        .collect()
}

/// The fewest series read by one statement. A read of more is split into one statement per
/// core (at most [`MAX_STATEMENTS`]), run at once on the pool: PostgreSQL detoasts and sends
/// each statement's arrays on its own backend, and each part is decoded and bucketed on its own
/// task, so 24 hours of 72 series use every core on both sides (a GH200's Grace has 72; the
/// exporter and PostgreSQL share the box). Small reads stay one statement.
const MIN_SERIES_PER_STATEMENT: usize = 8;
const MAX_STATEMENTS: usize = 8;

/// Series per statement for a read of `series` series on a pool of `pool_size` connections:
/// one statement per core, at most [`MAX_STATEMENTS`] and half the pool, so a few large reads at
/// once leave connections to every other query.
fn series_per_statement(series: usize, pool_size: u32) -> usize {
    // Looked up once: on Linux it reads the cgroup's CPU quota files.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let half_pool = usize::try_from(pool_size / 2).unwrap_or(1).max(1);
    let statements = cores.clamp(1, MAX_STATEMENTS).min(half_pool);
    series.div_ceil(statements).max(MIN_SERIES_PER_STATEMENT)
}

/// The buckets of each of `series_ids` (in their order) that has any in `[from, to)`.
pub(crate) async fn read(
    pool: &sqlx::PgPool,
    resolution: Resolution,
    series_ids: &[i32],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step_seconds: i64,
) -> Result<Vec<(i32, Vec<HistoryBucket>)>, StoreError> {
    let per_statement =
        series_per_statement(series_ids.len(), pool.options().get_max_connections());
    if series_ids.len() <= per_statement {
        return read_part(pool, resolution, series_ids, from, to, step_seconds).await;
    }
    // A `JoinSet` aborts its tasks when dropped: a request that goes away stops its reads.
    let mut parts = tokio::task::JoinSet::new();
    for (index, ids) in series_ids.chunks(per_statement).enumerate() {
        let (pool, ids) = (pool.clone(), ids.to_vec());
        parts.spawn(async move {
            let part = read_part(&pool, resolution, &ids, from, to, step_seconds).await;
            (index, part)
        });
    }
    let mut done = Vec::new();
    while let Some(joined) = parts.join_next().await {
        let (index, part) = joined.map_err(|err| StoreError::Task(err.to_string()))?;
        done.push((index, part?));
    }
    // The parts cover consecutive slices of the ids: in their order, the series' order.
    done.sort_by_key(|(index, _)| *index);
    Ok(done.into_iter().flat_map(|(_, part)| part).collect())
}

/// [`read`] of one statement's series.
async fn read_part(
    pool: &sqlx::PgPool,
    resolution: Resolution,
    series_ids: &[i32],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step_seconds: i64,
) -> Result<Vec<(i32, Vec<HistoryBucket>)>, StoreError> {
    let span = chrono::Duration::seconds(crate::compact::chunk_span_seconds(resolution));
    let mut segments = sqlx::query_as::<_, Segment>(AssertSqlSafe(segments_sql(resolution)))
        .bind(series_ids)
        .bind(from)
        .bind(to)
        .bind(from - span)
        .fetch_all(pool)
        .await?;
    let mut out = Vec::new();
    let mut rest = segments.as_mut_slice();
    while let Some(first) = rest.first() {
        let id = first.series_id;
        let end = rest
            .iter()
            .position(|s| s.series_id != id)
            .unwrap_or(rest.len());
        let (these, tail) = rest.split_at_mut(end);
        let buckets = bucket(these, from, to, step_seconds);
        if !buckets.is_empty() {
            out.push((id, buckets));
        }
        rest = tail;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("in range")
    }

    fn micros(times: &[DateTime<Utc>]) -> PgArray<Micros> {
        PgArray(times.iter().map(|t| Micros(t.timestamp_micros())).collect())
    }

    fn raw(times: &[i64], values: &[f64]) -> Segment {
        Segment {
            series_id: 1,
            times: micros(&times.iter().map(|&t| at(t)).collect::<Vec<_>>()),
            sums: PgArray(values.to_vec()),
            counts: None,
            mins: None,
            maxs: None,
            last_times: None,
            last_values: None,
        }
    }

    #[test]
    fn raw_points_bucket_from_the_range_start_whatever_the_segment_order() {
        // A late point's row (second segment) inside the range of the first chunk.
        let mut segments = [
            raw(&[50, 59, 75], &[5.0, 1.0, 7.0]),
            raw(&[10, 59, 200], &[3.0, 2.0, 9.0]),
        ];
        segments.swap(0, 1);
        let got = bucket(&mut segments, at(10), at(130), 60);
        assert_eq!(got.len(), 2, "{got:?}");
        let (first, second) = (&got[0], &got[1]);
        assert_eq!(first.time, at(10));
        assert_eq!((first.count, first.min, first.max), (4, 1.0, 5.0));
        assert_eq!(first.avg, (3.0 + 5.0 + 1.0 + 2.0) / 4.0);
        assert_eq!(
            first.last, 2.0,
            "a tie at the greatest time goes to the greater value"
        );
        assert_eq!(second.time, at(70));
        assert_eq!((second.count, second.last), (1, 7.0));
    }

    #[test]
    fn rollup_rows_rebucket_their_sums_counts_extremes_and_lasts() {
        let mut segments = [Segment {
            series_id: 1,
            times: micros(&[at(0), at(60), at(120)]),
            sums: PgArray(vec![10.0, 20.0, 30.0]),
            counts: Some(PgArray(vec![2, 4, 6])),
            mins: Some(PgArray(vec![1.0, 2.0, 3.0])),
            maxs: Some(PgArray(vec![9.0, 8.0, 7.0])),
            last_times: Some(micros(&[at(59), at(100), at(179)])),
            last_values: Some(PgArray(vec![4.0, 5.0, 6.0])),
        }];
        let got = bucket(&mut segments, at(0), at(180), 120);
        assert_eq!(got.len(), 2);
        assert_eq!(
            (
                got[0].avg,
                got[0].count,
                got[0].min,
                got[0].max,
                got[0].last
            ),
            (5.0, 6, 1.0, 9.0, 5.0)
        );
        assert_eq!((got[1].time, got[1].avg, got[1].last), (at(120), 5.0, 6.0));
        // Past the dense limit the same answer comes from the map.
        let got_sparse = bucket(&mut segments, at(0), at(2_000_000), 1);
        let times: Vec<_> = got_sparse.iter().map(|b| (b.time, b.count)).collect();
        assert_eq!(times, [(at(0), 2), (at(60), 4), (at(120), 6)]);
    }
}
