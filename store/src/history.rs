//! History of any numeric series, bucketed so an answer never holds more than the caller's point
//! budget, whatever the range; read from the coarsest roll-up whose buckets fit the step
//! ([`HistoryPlan`]), re-bucketed from its sums, counts, extremes and lasts (`buckets.rs`; the
//! counters' increase in SQL, `date_bin`).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sqlx::AssertSqlSafe;

use crate::partitions::Tiers;
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
    /// the step, or, when the budget alone raised the step, the next coarser one if that still
    /// gives at least `max_points / 4` buckets. From a roll-up, `from` is floored and `to` ceiled to its bucket width, and the step
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
        let asked = step_seconds.unwrap_or(1).max(1);
        let step = asked.max(smallest_step(from, to));
        let mut resolution = forced.unwrap_or_else(|| Resolution::for_step(step));
        if forced.is_none() && step > asked {
            // A step set by the point budget alone (the caller's own is finer): the next coarser
            // tier when its buckets still give at least a quarter of the budget. 14 days at the
            // default 1000 points: 336 hourly points instead of 960 from the 1-minute tier, 60
            // times fewer rows read; 24 hours stay on the 1-minute tier (24 hours < 250).
            let range_seconds = (to - from).num_seconds();
            if let Some(coarser) = Resolution::ALL
                .into_iter()
                .find(|r| r.width_seconds() > resolution.width_seconds())
                .filter(|r| range_seconds / r.width_seconds() >= max_points / 4)
            {
                resolution = coarser;
            }
        }
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

impl HistoryPlan {
    /// The plan on a coarser tier where its own no longer holds `from` on `today` (that part is
    /// past the tier's retention): the finest tier, not finer than the plan's, that holds
    /// `from`, else the one holding the most. One tier serves the whole answer, so a range
    /// across a tier boundary has no gap and no bucket read from two tiers.
    pub fn within(self, tiers: &Tiers, today: NaiveDate, max_points: i64) -> Self {
        let coarser = || {
            Resolution::ALL
                .into_iter()
                .filter(|r| r.width_seconds() >= self.resolution.width_seconds())
        };
        let pick = coarser()
            .find(|r| tiers.holds_from(*r, today) <= self.from)
            .or_else(|| coarser().min_by_key(|r| tiers.holds_from(*r, today)))
            .unwrap_or(self.resolution);
        if pick == self.resolution {
            return self;
        }
        Self::new(
            self.from,
            self.to,
            Some(self.step_seconds),
            max_points,
            Some(pick),
        )
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

/// One bucket of a counter: how much it grew, resets handled as Prometheus does.
#[derive(Debug, Clone, PartialEq)]
pub struct IncreaseBucket {
    pub time: DateTime<Utc>,
    /// The sum of the steps between consecutive samples ending in this bucket; a step down is a
    /// reset, and counts the value after it (the counter restarted from zero).
    pub increase: f64,
    /// Samples in the bucket.
    pub count: i64,
}

/// One counter series and its increase per bucket, oldest first.
#[derive(Debug, Clone)]
pub struct SeriesIncrease {
    pub source: String,
    pub host: String,
    pub labels: serde_json::Value,
    pub buckets: Vec<IncreaseBucket>,
}

#[derive(sqlx::FromRow)]
struct IncreaseRow {
    series_id: i32,
    bucket: DateTime<Utc>,
    increase: f64,
    count: i64,
}

impl Store {
    async fn matching_series(&self, query: &HistoryQuery) -> Result<Vec<Series>, StoreError> {
        Ok(sqlx::query_as::<_, Series>(
            "SELECT series_id, source, host, labels FROM series \
             WHERE name = $1 AND ($2::text IS NULL OR host = $2) AND labels @> $3::jsonb \
             ORDER BY series_id",
        )
        .bind(&query.name)
        .bind(query.host.as_deref())
        .bind(serde_json::Value::Object(query.labels.clone()))
        .fetch_all(&self.pool)
        .await?)
    }

    /// The increase per bucket of every counter series named `query.name` (for `agg=rate`:
    /// divide by the step). From the points: each step between consecutive samples belongs to
    /// the bucket of the later one (the one before `from` is looked up, so the first bucket has
    /// its step too); a step down is a reset and counts the value after it, as Prometheus'
    /// `increase` does. From a roll-up the same from its rows: the step from the previous row's
    /// last value to this row's first, and within a row `last - first`, or, when the row ends
    /// below where it began (a reset inside it), `(max - first) + last`: exact for one reset in a
    /// row whose values after it stay below those before it (a reset that climbs back above
    /// the row's first value inside one row is not seen there; the points see it).
    pub async fn counter_increase(
        &self,
        query: &HistoryQuery,
    ) -> Result<Vec<SeriesIncrease>, StoreError> {
        let series = self.matching_series(query).await?;
        if series.is_empty() {
            return Ok(Vec::new());
        }
        let sql = match query.resolution.table() {
            None => format!(
                "WITH d AS ( \
                   SELECT series_id, time, value, value - lag(value) OVER w AS delta \
                   FROM {} p \
                   WINDOW w AS (PARTITION BY series_id ORDER BY time, value)) \
                 SELECT series_id, date_bin(make_interval(secs => $4), time, $2) AS bucket, \
                   sum(CASE WHEN delta IS NULL THEN 0 WHEN delta < 0 THEN value ELSE delta END) AS increase, \
                   count(*) AS count \
                 FROM d WHERE time >= $2 GROUP BY 1, 2 ORDER BY 1, 2",
                crate::compact::raw_points("$5", "$6")
            ),
            Some(_) => format!(
                "WITH m AS ( \
                   SELECT series_id, bucket_time, \
                     (min(ARRAY[extract(epoch FROM first_time)::float8, first_value]))[2] AS first_value, \
                     (max(ARRAY[extract(epoch FROM last_time)::float8, last_value]))[2] AS last_value, \
                     max(max) AS max, sum(count)::int8 AS count \
                   FROM {} s GROUP BY 1, 2), \
                 r AS ( \
                   SELECT series_id, bucket_time, first_value, last_value, max, count, \
                     lag(last_value) OVER w AS prev_last \
                   FROM m WINDOW w AS (PARTITION BY series_id ORDER BY bucket_time)) \
                 SELECT series_id, date_bin(make_interval(secs => $4), bucket_time, $2) AS bucket, \
                   sum(CASE WHEN prev_last IS NULL THEN 0 \
                            WHEN first_value < prev_last THEN first_value \
                            ELSE first_value - prev_last END \
                     + CASE WHEN last_value >= first_value THEN last_value - first_value \
                            ELSE (max - first_value) + last_value END) AS increase, \
                   sum(count)::int8 AS count \
                 FROM r WHERE bucket_time >= $2 GROUP BY 1, 2 ORDER BY 1, 2",
                crate::compact::rollup_rows(query.resolution, "$5", "$6")
            ),
        };
        // How far back the sample (or row) before `from` is looked for.
        let lookback_seconds = query
            .step_seconds
            .max(query.resolution.width_seconds() * 2)
            .max(300);
        // The lower bounds as parameters (not `$2 - interval ..`, a stable expression), so the
        // planner prunes the partitions out of range itself.
        let lower = query.from - Duration::seconds(lookback_seconds);
        let chunk_lower =
            lower - Duration::seconds(crate::compact::chunk_span_seconds(query.resolution));
        let rows = sqlx::query_as::<_, IncreaseRow>(AssertSqlSafe(sql))
            .bind(series.iter().map(|s| s.series_id).collect::<Vec<_>>())
            .bind(query.from)
            .bind(query.to)
            .bind(query.step_seconds as f64)
            .bind(lower)
            .bind(chunk_lower)
            .fetch_all(&self.pool)
            .await?;
        let mut out: Vec<SeriesIncrease> = Vec::new();
        let mut series = series.into_iter();
        let mut current = None;
        for row in rows {
            if current != Some(row.series_id) {
                let Some(meta) = series.find(|s| s.series_id == row.series_id) else {
                    continue;
                };
                current = Some(row.series_id);
                out.push(SeriesIncrease {
                    source: meta.source,
                    host: meta.host,
                    labels: meta.labels,
                    buckets: Vec::new(),
                });
            }
            if let Some(last) = out.last_mut() {
                last.buckets.push(IncreaseBucket {
                    time: row.bucket,
                    increase: row.increase,
                    count: row.count,
                });
            }
        }
        Ok(out)
    }

    /// Buckets of every series named `query.name` that matches the host and labels; a series
    /// without a point in the range is left out.
    pub async fn history(&self, query: &HistoryQuery) -> Result<Vec<SeriesHistory>, StoreError> {
        // The series first, so the bucket rows carry only numbers.
        let series = self.matching_series(query).await?;
        if series.is_empty() {
            return Ok(Vec::new());
        }
        // Re-bucketed here from the arrays of the chunks in range (see `buckets.rs`).
        let ids: Vec<i32> = series.iter().map(|s| s.series_id).collect();
        let rows = crate::buckets::read(
            &self.pool,
            query.resolution,
            &ids,
            query.from,
            query.to,
            query.step_seconds,
        )
        .await?;
        let mut series = series.into_iter();
        let mut out = Vec::with_capacity(rows.len());
        for (series_id, buckets) in rows {
            // Rows and series are both in series_id order: skip those without buckets.
            let Some(meta) = series.find(|s| s.series_id == series_id) else {
                continue;
            };
            out.push(SeriesHistory {
                source: meta.source,
                host: meta.host,
                labels: meta.labels,
                buckets,
            });
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

        // No step asked: the budget's step (1210 s) would be the minute tier; the hourly one
        // still gives 336 >= 1000 / 4 points. A day stays on the minute tier (24 < 250).
        let fortnight = HistoryPlan::new(from, from + Duration::days(14), None, 1000, None);
        assert_eq!(
            (fortnight.resolution, fortnight.step_seconds),
            (Resolution::Hour, 3600)
        );
        let day = HistoryPlan::new(from, from + Duration::days(1), None, 1000, None);
        assert_eq!(
            (day.resolution, day.step_seconds),
            (Resolution::Minute, 120)
        );
        let hours = HistoryPlan::new(from, from + Duration::hours(6), Some(5), 1000, None);
        assert_eq!(
            (hours.resolution, hours.step_seconds),
            (Resolution::Minute, 60)
        );
        let hour = HistoryPlan::new(from, from + Duration::hours(1), None, 1000, None);
        assert_eq!((hour.resolution, hour.step_seconds), (Resolution::Raw, 4));

        let raw = HistoryPlan::new(from, to, Some(3600), 1000, Some(Resolution::Raw));
        assert_eq!((raw.from, raw.to, raw.step_seconds), (from, to, 3600));
    }

    #[test]
    fn a_range_past_a_tiers_retention_is_served_by_the_next_tier_that_holds_it() {
        let tiers = Tiers::default();
        let today = "2026-01-15".parse().unwrap();
        let recent = HistoryPlan::new(
            at("2026-01-14T10:00:00Z"),
            at("2026-01-14T11:00:00Z"),
            Some(10),
            10_000,
            None,
        );
        assert_eq!(recent.within(&tiers, today, 10_000), recent);
        // Raw holds from the 8th: a range from the 7th is read whole from the minute tier.
        let old = HistoryPlan::new(
            at("2026-01-07T23:30:10Z"),
            at("2026-01-08T00:30:00Z"),
            Some(10),
            10_000,
            None,
        );
        assert_eq!(old.resolution, Resolution::Raw);
        let moved = old.within(&tiers, today, 10_000);
        assert_eq!(moved.resolution, Resolution::Minute);
        assert_eq!(
            (moved.from, moved.step_seconds),
            (at("2026-01-07T23:30:00Z"), 60)
        );
        // Past every tier: the one holding the most.
        let ancient = HistoryPlan::new(
            at("2020-01-01T00:00:00Z"),
            at("2020-01-02T00:00:00Z"),
            Some(60),
            10_000,
            None,
        );
        assert_eq!(
            ancient.within(&tiers, today, 10_000).resolution,
            Resolution::Hour
        );
    }
}
