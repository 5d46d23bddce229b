//! Compact raw storage (migration 0010): the points of closed hours move from `point`, one row
//! per point (about 86 bytes each with its index), into `point_chunk`, one row per series and
//! UTC hour with the times and values in arrays that TOAST compresses with lz4 (about 15 bytes
//! a point). The newest hour stays row-per-point, so the batch write is a plain insert; a late
//! sample into a compacted hour goes into `point` like any other and is merged into its chunk at
//! the next pass. Every reader of raw points goes through [`raw_points`], which sees both.
//!
//! The roll-ups the same way (migrations 0011 and 0016): each closed hour of the 1-minute tier
//! moves into `rollup_1m_chunk`, one row per series and UTC day with each column in an array,
//! and each closed day of the 1-hour tier into `rollup_1h_chunk`, one row per series and UTC
//! month; readers go through [`rollup_rows`]. A late sample's upsert into a compacted part makes
//! a row again for a bucket that is also in a chunk; every reader merges the two (the history
//! re-buckets sums, counts, extremes and lasts anyway), and the next pass folds the row into
//! the chunk.

use chrono::{DateTime, Days, Utc};
use sqlx::AssertSqlSafe;

use crate::rollup::Resolution;
use crate::{Store, StoreError};

/// A subquery (`series_id`, `time`, `value`) of every raw point of the series `$1` with
/// `lower <= time < $3`: the open rows and the compacted chunks together (those starting after
/// `chunk_lower`: `lower` less [`chunk_span_seconds`], best a parameter, so the planner prunes
/// partitions itself).
pub(crate) fn raw_points(lower: &str, chunk_lower: &str) -> String {
    format!(
        "(SELECT series_id, time, value FROM point \
           WHERE series_id = ANY($1) AND time >= {lower} AND time < $3 \
         UNION ALL \
         SELECT c.series_id, u.time, u.value FROM point_chunk c \
           CROSS JOIN LATERAL unnest(c.times, c.vals) AS u(time, value) \
           WHERE c.series_id = ANY($1) AND c.chunk_start > {chunk_lower} \
             AND c.chunk_start < $3 AND u.time >= {lower} AND u.time < $3)"
    )
}

/// The columns of a roll-up row (both tiers alike).
const ROLLUP_COLUMNS: &str =
    "series_id, bucket_time, sum, count, min, max, first_time, first_value, last_time, last_value";

/// A roll-up tier's open rows and compacted chunks (migrations 0011 and 0016). While its
/// partition (a UTC day of minutes, a UTC month of hours) is current, each closed part (an hour
/// of minutes, a day of hours) becomes a chunk of its own; once the partition is over, its
/// chunks and rows are regrouped into one chunk per series and the partition rewritten, so no
/// dead versions of a growing chunk are left behind.
#[derive(Clone, Copy)]
struct RollupChunks {
    resolution: Resolution,
    rows: &'static str,
    chunks: &'static str,
    /// The part of a partition moved at once, once closed.
    closed_seconds: i64,
}

impl RollupChunks {
    const MINUTE: Self = Self {
        resolution: Resolution::Minute,
        rows: "rollup_1m",
        chunks: "rollup_1m_chunk",
        closed_seconds: 3600,
    };
    const HOUR: Self = Self {
        resolution: Resolution::Hour,
        rows: "rollup_1h",
        chunks: "rollup_1h_chunk",
        closed_seconds: 86_400,
    };

    fn of(resolution: Resolution) -> Option<Self> {
        match resolution {
            Resolution::Raw => None,
            Resolution::Minute => Some(Self::MINUTE),
            Resolution::Hour => Some(Self::HOUR),
        }
    }
}

/// How far before a time the chunk holding it may start: a chunk of `point_chunk` holds an
/// hour, of `rollup_1m_chunk` a day (an hour before migration 0016), of `rollup_1h_chunk` a
/// month (31 days at most).
pub(crate) fn chunk_span_seconds(resolution: Resolution) -> i64 {
    match resolution {
        Resolution::Raw => 3600,
        Resolution::Minute => 86_400,
        Resolution::Hour => 31 * 86_400,
    }
}

/// A subquery (the roll-up's columns) of every row of the roll-up `resolution` for the series
/// `$1` with `lower <= bucket_time < $3`: open rows and chunks together (chunks starting after
/// `chunk_lower`, as for [`raw_points`]). A bucket may appear twice (a late sample into a
/// compacted part); callers merge by bucket.
pub(crate) fn rollup_rows(resolution: Resolution, lower: &str, chunk_lower: &str) -> String {
    let Some(tier) = RollupChunks::of(resolution) else {
        return raw_points(lower, chunk_lower);
    };
    let (rows, chunks) = (tier.rows, tier.chunks);
    format!(
        "(SELECT {ROLLUP_COLUMNS} FROM {rows} \
           WHERE series_id = ANY($1) AND bucket_time >= {lower} AND bucket_time < $3 \
         UNION ALL \
         SELECT c.series_id, u.* FROM {chunks} c \
           CROSS JOIN LATERAL unnest(c.bucket_times, c.sums, c.counts, c.mins, c.maxs, \
             c.first_times, c.first_values, c.last_times, c.last_values) \
             AS u(bucket_time, sum, count, min, max, first_time, first_value, last_time, last_value) \
           WHERE c.series_id = ANY($1) AND c.chunk_start > {chunk_lower} \
             AND c.chunk_start < $3 AND u.bucket_time >= {lower} AND u.bucket_time < $3)"
    )
}

/// Moves the rows of `{source}` (rows of one partition of `{rows}`) into chunks starting at
/// `{chunk_start}` (a closed part's start, or the partition's start `$1`), one per series and
/// start; a chunk already there takes them bucket by bucket (a bucket in both is merged as the
/// upsert merges).
const ROLLUP_MERGE: &str = "INSERT INTO {chunks} AS c \
     SELECT series_id, {chunk_start}, \
       array_agg(bucket_time ORDER BY bucket_time), array_agg(sum ORDER BY bucket_time), \
       array_agg(count ORDER BY bucket_time), array_agg(min ORDER BY bucket_time), \
       array_agg(max ORDER BY bucket_time), array_agg(first_time ORDER BY bucket_time), \
       array_agg(first_value ORDER BY bucket_time), array_agg(last_time ORDER BY bucket_time), \
       array_agg(last_value ORDER BY bucket_time) \
     FROM {source} GROUP BY 1, 2 \
     ON CONFLICT (series_id, chunk_start) DO UPDATE SET (bucket_times, sums, counts, mins, maxs, \
       first_times, first_values, last_times, last_values) = ( \
       SELECT array_agg(b ORDER BY b), array_agg(s ORDER BY b), array_agg(n ORDER BY b), \
         array_agg(mn ORDER BY b), array_agg(mx ORDER BY b), array_agg(ft ORDER BY b), \
         array_agg(fv ORDER BY b), array_agg(lt ORDER BY b), array_agg(lv ORDER BY b) \
       FROM (SELECT b, {merged} \
             FROM (SELECT * FROM unnest(c.bucket_times, c.sums, c.counts, c.mins, c.maxs, \
                     c.first_times, c.first_values, c.last_times, c.last_values) \
                   UNION ALL SELECT * FROM unnest(excluded.bucket_times, excluded.sums, \
                     excluded.counts, excluded.mins, excluded.maxs, excluded.first_times, \
                     excluded.first_values, excluded.last_times, excluded.last_values)) \
               AS u(b, s, n, mn, mx, ft, fv, lt, lv) \
             GROUP BY b) AS m)";

/// One bucket's columns from the entries `u(b, s, n, mn, mx, ft, fv, lt, lv)` grouped by `b`,
/// merged as the batch write's upsert merges them.
const MERGED_BUCKET: &str = "sum(s) AS s, sum(n)::int4 AS n, min(mn) AS mn, max(mx) AS mx, \
     min(ft) AS ft, (min(ARRAY[extract(epoch FROM ft)::float8, fv]))[2] AS fv, \
     max(lt) AS lt, (max(ARRAY[extract(epoch FROM lt)::float8, lv]))[2] AS lv";

/// A partition that is over, regrouped: one chunk per series (`$1`: the partition's start) from
/// every chunk of `{chunk_part}` and every row of `{rows_part}`, a bucket in both merged.
const ROLLUP_REGROUP: &str = "CREATE TEMP TABLE regrouped ON COMMIT DROP AS \
     SELECT series_id, $1::timestamptz AS chunk_start, \
       array_agg(b ORDER BY b) AS bucket_times, array_agg(s ORDER BY b) AS sums, \
       array_agg(n ORDER BY b) AS counts, array_agg(mn ORDER BY b) AS mins, \
       array_agg(mx ORDER BY b) AS maxs, array_agg(ft ORDER BY b) AS first_times, \
       array_agg(fv ORDER BY b) AS first_values, array_agg(lt ORDER BY b) AS last_times, \
       array_agg(lv ORDER BY b) AS last_values \
     FROM (SELECT series_id, b, {merged} FROM ( \
             SELECT c.series_id, u.* FROM {chunk_part} c CROSS JOIN LATERAL unnest(c.bucket_times, \
               c.sums, c.counts, c.mins, c.maxs, c.first_times, c.first_values, c.last_times, \
               c.last_values) AS u \
             UNION ALL SELECT series_id, bucket_time, sum, count, min, max, first_time, \
               first_value, last_time, last_value FROM {rows_part}) \
           AS e(series_id, b, s, n, mn, mx, ft, fv, lt, lv) \
           GROUP BY series_id, b) AS m \
     GROUP BY series_id";

/// Groups `{source}` (`series_id`, `time`, `value`) into hour chunks and merges them into
/// `point_chunk` (a chunk already there, from an earlier pass, takes the late points in order).
const MERGE: &str = "INSERT INTO point_chunk AS c (series_id, chunk_start, times, vals) \
     SELECT series_id, date_bin('1 hour', time, timestamptz '1970-01-01 00:00:00+00'), \
            array_agg(time ORDER BY time, value), array_agg(value ORDER BY time, value) \
     FROM {source} GROUP BY 1, 2 \
     ON CONFLICT (series_id, chunk_start) DO UPDATE SET (times, vals) = ( \
       SELECT array_agg(t ORDER BY t, v), array_agg(v ORDER BY t, v) FROM ( \
         SELECT * FROM unnest(c.times, c.vals) \
         UNION ALL SELECT * FROM unnest(excluded.times, excluded.vals)) AS u(t, v))";

/// How long a compaction waits for a lock (the `TRUNCATE` of a partition waits for its readers
/// to finish, and every new reader of that partition waits behind it): past it the pass fails,
/// is logged and runs again in ten minutes, rather than stall reads behind, say, a forgotten
/// `psql` transaction.
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '5s'";

/// Moves every row of the partition `name` into its chunks with `merge` (reading `{source}`;
/// `start` bound as `$1` when given), inside `tx`: the partition locked against writes for the
/// moment (readers go on), merged and truncated, which gives its disk back at once. Returns the
/// chunk rows written.
async fn move_whole_partition(
    tx: &mut sqlx::PgConnection,
    name: &str,
    merge: &str,
    start: Option<DateTime<Utc>>,
) -> Result<u64, StoreError> {
    sqlx::query(LOCK_TIMEOUT).execute(&mut *tx).await?;
    sqlx::query(AssertSqlSafe(format!(
        "LOCK TABLE {name} IN SHARE ROW EXCLUSIVE MODE"
    )))
    .execute(&mut *tx)
    .await?;
    let merge = sqlx::query(AssertSqlSafe(merge.replace("{source}", name)));
    let merge = match start {
        Some(start) => merge.bind(start),
        None => merge,
    };
    let written = merge.execute(&mut *tx).await?.rows_affected();
    sqlx::query(AssertSqlSafe(format!("TRUNCATE {name}")))
        .execute(&mut *tx)
        .await?;
    Ok(written)
}

/// What one compaction pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    /// Chunk rows written (new, or merged with late points).
    pub chunks: u64,
    /// Daily partitions of `point` emptied (their day over and compacted).
    pub emptied_days: u64,
}

impl Store {
    /// Whether the partition `name` (from the catalogue) holds any row: an emptied day is left
    /// alone, not locked and truncated again at every pass.
    async fn has_rows(&self, name: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM {name})"
        )))
        .fetch_one(&self.pool)
        .await?)
    }

    /// Moves the closed parts of both roll-up tiers into chunks: each hour of minutes and each
    /// day of hours that ended on or before `before` becomes a chunk per series (its rows moved
    /// with `DELETE .. RETURNING`, the partition vacuumed so the next rows reuse the space); a
    /// partition whose whole period is over is regrouped into one chunk per series, its rows
    /// and chunk partitions truncated and the regrouped chunks written back, so its files hold
    /// no dead versions. Late rows into a regrouped partition merge into its chunks. One
    /// transaction per partition; readers see each bucket exactly once (or as a row beside its
    /// chunk's entry, which they merge). Returns the chunk rows written.
    pub async fn compact_rollups(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut chunks = 0;
        for tier in [RollupChunks::MINUTE, RollupChunks::HOUR] {
            chunks += self.compact_rollup(tier, before).await?;
        }
        Ok(chunks)
    }

    async fn compact_rollup(
        &self,
        tier: RollupChunks,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let closed = tier.closed_seconds;
        let cut = before.timestamp().div_euclid(closed) * closed;
        let cut = DateTime::from_timestamp(cut, 0).unwrap_or(before);
        let merge = ROLLUP_MERGE
            .replace("{chunks}", tier.chunks)
            .replace("{merged}", MERGED_BUCKET);
        let mut chunks = 0;
        for (name, day) in self.table_partitions(tier.rows, tier.resolution).await? {
            let start = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
            if start >= cut {
                continue;
            }
            let chunk_part = crate::partitions::partition_name(tier.chunks, tier.resolution, day);
            let over = crate::partitions::partition_end(tier.resolution, day)
                .and_hms_opt(0, 0, 0)
                .is_some_and(|end| end.and_utc() <= cut);
            if over && self.has_part_chunks(&chunk_part, start).await? {
                chunks += self.regroup(&name, &chunk_part, start).await?;
                continue;
            }
            if !self.has_rows(&name).await? {
                continue;
            }
            let mut tx = self.pool.begin().await?;
            let written = if over {
                // Regrouped already: late rows merge into the partition's chunks.
                let merge = merge.replace("{chunk_start}", "$1::timestamptz");
                move_whole_partition(&mut tx, &name, &merge, Some(start)).await?
            } else {
                let chunk_start = format!(
                    "date_bin(make_interval(secs => {closed}), bucket_time, \
                     timestamptz '1970-01-01 00:00:00+00')"
                );
                // The rows are locked in key order first, the order the batch write's upsert
                // locks them in: a late batch upserting two closed minutes cannot deadlock
                // with the move.
                let returning = ROLLUP_COLUMNS
                    .split(", ")
                    .map(|column| format!("p.{column}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "WITH moved AS (DELETE FROM {name} p USING ( \
                         SELECT series_id, bucket_time FROM {name} WHERE bucket_time < $2 \
                         ORDER BY series_id, bucket_time FOR UPDATE) k \
                       WHERE p.series_id = k.series_id AND p.bucket_time = k.bucket_time \
                       RETURNING {returning}) {}",
                    merge
                        .replace("{chunk_start}", &chunk_start)
                        .replace("{source}", "moved")
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(start)
                    .bind(cut)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
            };
            tx.commit().await?;
            if !over && written > 0 {
                sqlx::query(AssertSqlSafe(format!("VACUUM {name}")))
                    .execute(&self.pool)
                    .await?;
            }
            chunks += written;
        }
        Ok(chunks)
    }

    /// Whether the chunk partition `chunk_part` holds a chunk of a closed part (not yet
    /// regrouped into the partition's own chunks, which start at `start`).
    async fn has_part_chunks(
        &self,
        chunk_part: &str,
        start: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if !self.table_exists(chunk_part).await? {
            return Ok(false);
        }
        Ok(sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM {chunk_part} WHERE chunk_start <> $1)"
        )))
        .bind(start)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Regroups a partition that is over (`rows_part` and `chunk_part`, starting at `start`)
    /// into one chunk per series: computed first, then both partitions truncated (their files
    /// replaced, no dead versions left) and the chunks written back, in one transaction.
    /// Returns the chunks written.
    async fn regroup(
        &self,
        rows_part: &str,
        chunk_part: &str,
        start: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(LOCK_TIMEOUT).execute(&mut *tx).await?;
        sqlx::query(AssertSqlSafe(format!(
            "LOCK TABLE {rows_part}, {chunk_part} IN SHARE ROW EXCLUSIVE MODE"
        )))
        .execute(&mut *tx)
        .await?;
        let sql = ROLLUP_REGROUP
            .replace("{merged}", MERGED_BUCKET)
            .replace("{chunk_part}", chunk_part)
            .replace("{rows_part}", rows_part);
        sqlx::query(AssertSqlSafe(sql))
            .bind(start)
            .execute(&mut *tx)
            .await?;
        sqlx::query(AssertSqlSafe(format!("TRUNCATE {rows_part}, {chunk_part}")))
            .execute(&mut *tx)
            .await?;
        let written = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {chunk_part} (series_id, chunk_start, bucket_times, sums, counts, mins, \
               maxs, first_times, first_values, last_times, last_values) \
             SELECT series_id, chunk_start, bucket_times, sums, counts, mins, maxs, first_times, \
               first_values, last_times, last_values FROM regrouped"
        )))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(written)
    }

    /// Moves every point older than `before` (floored to its UTC hour) into chunks. A day that
    /// is over is copied and its `point` partition truncated, under a lock that holds off writes
    /// to it for the moment (readers go on); for today's partition the rows moved are deleted and
    /// the partition vacuumed, so the next inserts reuse the space. One transaction per day:
    /// readers see a point either as a row or in its chunk, never both or neither.
    pub async fn compact_raw(&self, before: DateTime<Utc>) -> Result<Compaction, StoreError> {
        let hour = before.timestamp().div_euclid(3600) * 3600;
        let before = DateTime::from_timestamp(hour, 0).unwrap_or(before);
        let mut outcome = Compaction::default();
        for (name, day) in self.table_partitions("point", Resolution::Raw).await? {
            let start = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
            if start >= before || !self.has_rows(&name).await? {
                continue;
            }
            let over = day
                .checked_add_days(Days::new(1))
                .and_then(|next| next.and_hms_opt(0, 0, 0))
                .is_some_and(|end| end.and_utc() <= before);
            let mut tx = self.pool.begin().await?;
            let chunks = if over {
                move_whole_partition(&mut tx, &name, MERGE, None).await?
            } else {
                sqlx::query(AssertSqlSafe(format!(
                    "WITH moved AS (DELETE FROM {name} WHERE time < $1 \
                       RETURNING series_id, time, value) {}",
                    MERGE.replace("{source}", "moved")
                )))
                .bind(before)
                .execute(&mut *tx)
                .await?
                .rows_affected()
            };
            tx.commit().await?;
            if over {
                outcome.emptied_days += 1;
            } else if chunks > 0 {
                sqlx::query(AssertSqlSafe(format!("VACUUM {name}")))
                    .execute(&self.pool)
                    .await?;
            }
            outcome.chunks += chunks;
        }
        Ok(outcome)
    }
}
