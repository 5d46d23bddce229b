//! The time-series benchmark of issue #12: 14 days of 73 series at 5 s (72 per-core CPU series
//! and `cpu.usage_percent`, as a GH200's Grace CPU sends them) and a year of 1-hour data for 300
//! series, written through the store's batch write (the aggregator's ingest path: points, both
//! roll-ups, tiers' retention), compacted as the aggregator's pass does; then, each beside a
//! plain SQL read of the same rows from the tier that served the answer, as ratios measured in
//! the same run (these machines are shared and noisy: only the ratios mean something):
//! - `GET /metrics/history` of the 72 series over 14 days (default step, and `step=1h`),
//! - of one series over a year,
//! - of the 72 series over 24 hours (one day well inside the compacted range, and the last 24 h
//!   with the open hour), each also through the store's own read in this process,
//! - bytes per point on disk (raw tier, and the whole database's growth),
//! - the batch write's rate next to a plain `COPY` of the same rows,
//! - the compaction passes on the aggregator's schedule (time a pass),
//! - freshness p50/p99 (sample time -> visible in `/metrics/system`, real collector at 1 s).
//!
//! Needs the release binaries (`cargo build --release --bins`) and the same services as the
//! tests. Run: `cargo bench -p exporter-tests --bench history_year`; a quick run (about a
//! minute): `BENCH_DAYS=1 BENCH_YEAR_DAYS=30 BENCH_SECONDS=10 cargo bench -p exporter-tests
//! --bench history_year`. Env: `BENCH_DAYS` (14), `BENCH_YEAR_DAYS` (365), `BENCH_SECONDS`
//! (freshness, 20), `BENCH_ROUNDS` (timed reads per figure, median, 7).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "common/freshness.rs"]
mod freshness;

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, DurationRound, Utc};
use exporter_protocol::SeriesPoint;
use exporter_store::{Batch, Domain, IncomingSample, Store, Tiers};
use exporter_tests::{TestEnv, bench_size};

const CORES: usize = 72;
const INTERVAL_SECONDS: i64 = 5;
const SAMPLES_PER_BATCH: usize = 100;
const YEAR_SERIES: usize = 300;

fn value(seq: u64, series: u64) -> f64 {
    ((seq * 7 + series * 13) % 1000) as f64 / 10.0
}

fn sample(
    host: &str,
    source: &str,
    time: DateTime<Utc>,
    points: Vec<SeriesPoint>,
) -> IncomingSample {
    IncomingSample {
        message_id: uuid::Uuid::new_v4(),
        subject: format!("exporter.v1.sample.{source}.{host}"),
        source: source.into(),
        host: host.into(),
        seq: 0,
        time,
        body: serde_json::json!({}).into(),
        points,
        domain: Domain::None,
    }
}

fn cpu_sample(time: DateTime<Utc>, seq: u64) -> IncomingSample {
    let mut points: Vec<SeriesPoint> = (0..CORES)
        .map(|core| {
            SeriesPoint::labelled(
                "cpu.core_usage_percent",
                "core",
                &core.to_string(),
                value(seq, core as u64),
            )
        })
        .collect();
    points.push(SeriesPoint::plain("cpu.usage_percent", value(seq, 99)));
    sample("bench-host", "system", time, points)
}

fn year_sample(time: DateTime<Utc>, seq: u64) -> IncomingSample {
    let points = (0..YEAR_SERIES)
        .map(|rail| {
            SeriesPoint::labelled(
                "power.rail_watts",
                "rail",
                &rail.to_string(),
                value(seq, rail as u64),
            )
        })
        .collect();
    sample("year-host", "hardware", time, points)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Median seconds of `rounds` runs of `run`.
async fn timed<F, Fut, T>(rounds: usize, mut run: F) -> (f64, T)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..rounds {
        let started = Instant::now();
        last = Some(run().await);
        times.push(started.elapsed().as_secs_f64());
    }
    (median(times), last.unwrap())
}

fn rfc(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The rows a tier holds for `ids` over `[from, to)`, as they are stored (chunks as arrays),
/// fetched and not interpreted: the plain read the API's answer is measured against.
async fn plain_read(
    pool: &sqlx::PgPool,
    resolution: &str,
    ids: &[i32],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> usize {
    let statements: &[&str] = match resolution {
        "raw" => &[
            "SELECT * FROM point_chunk WHERE series_id = ANY($1) \
             AND chunk_start > $2 - interval '1 hour' AND chunk_start < $3",
            "SELECT * FROM point WHERE series_id = ANY($1) AND time >= $2 AND time < $3",
        ],
        "1m" => &[
            "SELECT * FROM rollup_1m_chunk WHERE series_id = ANY($1) \
             AND chunk_start > $2 - interval '1 day' AND chunk_start < $3",
            "SELECT * FROM rollup_1m WHERE series_id = ANY($1) \
             AND bucket_time >= $2 AND bucket_time < $3",
        ],
        _ => &[
            "SELECT * FROM rollup_1h_chunk WHERE series_id = ANY($1) \
             AND chunk_start > $2 - interval '31 days' AND chunk_start < $3",
            "SELECT * FROM rollup_1h WHERE series_id = ANY($1) \
             AND bucket_time >= $2 AND bucket_time < $3",
        ],
    };
    let mut rows = 0;
    for statement in statements {
        rows += sqlx::query(*statement)
            .bind(ids)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await
            .unwrap()
            .len();
    }
    rows
}

/// The history's own statement before it re-bucketed in Rust (grouped by `date_bin` in SQL):
/// the "before" of each read, run over the same plan.
fn former_sql(resolution: &str) -> String {
    // A roll-up tier's rows and its chunks (each at most `span` long) in range.
    let rollup = |rows: &str, chunks: &str, span: &str| {
        format!(
            "(SELECT series_id, bucket_time, sum, count, min, max, last_time, last_value \
             FROM {rows} WHERE series_id = ANY($1) AND bucket_time >= $2 AND bucket_time < $3 \
             UNION ALL \
             SELECT c.series_id, u.bucket_time, u.sum, u.count, u.min, u.max, u.last_time, \
               u.last_value FROM {chunks} c \
             CROSS JOIN LATERAL unnest(c.bucket_times, c.sums, c.counts, c.mins, c.maxs, \
               c.last_times, c.last_values) \
               AS u(bucket_time, sum, count, min, max, last_time, last_value) \
             WHERE c.series_id = ANY($1) AND c.chunk_start > $2 - interval '{span}' \
               AND c.chunk_start < $3 AND u.bucket_time >= $2 AND u.bucket_time < $3)"
        )
    };
    let rows: &str = match resolution {
        "raw" => {
            "(SELECT series_id, time AS bucket_time, value AS sum, 1 AS count, value AS min, \
               value AS max, time AS last_time, value AS last_value FROM point \
               WHERE series_id = ANY($1) AND time >= $2 AND time < $3 \
             UNION ALL \
             SELECT c.series_id, u.time, u.value, 1, u.value, u.value, u.time, u.value \
             FROM point_chunk c CROSS JOIN LATERAL unnest(c.times, c.vals) AS u(time, value) \
               WHERE c.series_id = ANY($1) AND c.chunk_start > $2 - interval '1 hour' \
                 AND c.chunk_start < $3 AND u.time >= $2 AND u.time < $3)"
        }
        "1m" => &rollup("rollup_1m", "rollup_1m_chunk", "1 day"),
        _ => &rollup("rollup_1h", "rollup_1h_chunk", "31 days"),
    };
    format!(
        "SELECT r.series_id, date_bin(make_interval(secs => $4), r.bucket_time, $2) AS bucket, \
           sum(r.sum) / sum(r.count) AS avg, min(r.min) AS min, max(r.max) AS max, \
           (max(ARRAY[extract(epoch FROM r.last_time)::float8, r.last_value]))[2] AS last, \
           sum(r.count)::int8 AS count \
         FROM {rows} r GROUP BY 1, 2 ORDER BY 1, 2"
    )
}

/// Where the bytes are: per table (its partitions together, indexes and TOAST included), its
/// rows and, for chunk tables, the points or buckets per row. Sparse series (one point an hour)
/// make raw chunk rows of one element, ~150 bytes each; the roll-ups' chunks hold a day of
/// minutes and a month of hours.
async fn table_breakdown(pool: &sqlx::PgPool) -> Vec<String> {
    let tables: [(&str, Option<&str>); 8] = [
        ("point", None),
        ("point_chunk", Some("cardinality(times)")),
        ("rollup_1m", None),
        ("rollup_1m_chunk", Some("cardinality(bucket_times)")),
        ("rollup_1h", None),
        ("rollup_1h_chunk", Some("cardinality(bucket_times)")),
        ("ingested_message", None),
        ("series", None),
    ];
    let mut lines = Vec::new();
    for (table, elements) in tables {
        let bytes: i64 = sqlx::query_scalar(
            "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0)::int8 FROM pg_class c \
             WHERE c.oid = $1::regclass OR c.oid IN (SELECT inhrelid FROM pg_inherits \
               WHERE inhparent = $1::regclass)",
        )
        .bind(table)
        .fetch_one(pool)
        .await
        .unwrap();
        let (rows, items): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*), COALESCE(sum({}), 0)::int8 FROM {table}",
            elements.unwrap_or("1")
        )))
        .fetch_one(pool)
        .await
        .unwrap();
        let per_row = if elements.is_some() {
            format!(", {:.1} per row", items as f64 / rows.max(1) as f64)
        } else {
            String::new()
        };
        lines.push(format!(
            "{table:<17} {:>6} MB, {rows} rows{per_row}, {:.1} bytes per {}",
            bytes >> 20,
            bytes as f64 / items.max(1) as f64,
            if elements.is_some() { "element" } else { "row" },
        ));
    }
    lines
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let days: i64 = bench_size("BENCH_DAYS", 14);
    let year_days: i64 = bench_size("BENCH_YEAR_DAYS", 365);
    let seconds: u64 = bench_size("BENCH_SECONDS", 20);
    let rounds: usize = bench_size("BENCH_ROUNDS", 7);
    let env = TestEnv::new("").await;
    env.migrate().await;
    // The tiers' retention as the aggregator applies it (`aggregator.tiers` defaults: raw 7 days,
    // 1 minute 90 days, 1 hour 2 years): without it every tier takes every point, and the year
    // of hourly data lands in the raw and 1-minute tiers too, one point per chunk row.
    let store = Store::from_pool(env.pool.clone()).with_tiers(Tiers::default());
    let database = || async {
        sqlx::query_scalar::<_, i64>("SELECT pg_database_size(current_database())")
            .fetch_one(&env.pool)
            .await
            .unwrap()
    };
    let now = Utc::now();
    let start = now.duration_trunc(Duration::hours(1)).unwrap() - Duration::days(days);
    let samples = ((now - start).num_seconds() / INTERVAL_SECONDS) as u64;
    // Partitions and series exist before the clock starts (as in steady state).
    store
        .write_batch(&Batch {
            samples: vec![cpu_sample(start, 0)],
            ..Default::default()
        })
        .await
        .unwrap();
    let days_set = (0..=days + 1)
        .map(|d| (start + Duration::days(d)).date_naive())
        .collect();
    store.ensure_partitions(&days_set).await.unwrap();
    let database_before = database().await;

    // 14 days of 73 series at 5 s, in batches as the aggregator writes them.
    let started = Instant::now();
    let mut points = CORES as u64 + 1;
    let mut seq = 1;
    let mut last_pass = start;
    let (mut compact_seconds, mut compact_passes) = (0.0, 0u32);
    while seq < samples {
        let batch = Batch {
            samples: (seq..samples.min(seq + SAMPLES_PER_BATCH as u64))
                .map(|i| cpu_sample(start + Duration::seconds(i as i64 * INTERVAL_SECONDS), i))
                .collect(),
            ..Default::default()
        };
        seq += batch.samples.len() as u64;
        points += store.write_batch(&batch).await.unwrap().points as u64;
        // The aggregator's compaction pass on its schedule (every ten minutes, the hours closed
        // five minutes ago): compacting only at the end would leave today's
        // `point` partition at the high-water mark of a whole day of rows.
        let written_to = start + Duration::seconds(seq as i64 * INTERVAL_SECONDS);
        let hour = |t: DateTime<Utc>| t.duration_trunc(Duration::hours(1)).unwrap();
        if hour(written_to - Duration::minutes(5)) > hour(last_pass) {
            let pass = Instant::now();
            store
                .compact_raw(written_to - Duration::minutes(5))
                .await
                .unwrap();
            store
                .compact_rollups(written_to - Duration::minutes(5))
                .await
                .unwrap();
            compact_seconds += pass.elapsed().as_secs_f64();
            compact_passes += 1;
            last_pass = written_to - Duration::minutes(5);
        }
    }
    // The batch write alone (the compaction passes are timed on their own).
    let write_seconds = started.elapsed().as_secs_f64() - compact_seconds;
    // A year of hourly data for 300 series (older than the raw tier: into the roll-ups only).
    let year_start = start.duration_trunc(Duration::hours(1)).unwrap() - Duration::days(year_days);
    let hours = (now - year_start).num_hours() as u64;
    let mut year_points = 0;
    for first in (0..hours).step_by(24) {
        let batch = Batch {
            samples: (first..hours.min(first + 24))
                .map(|h| year_sample(year_start + Duration::hours(h as i64), h))
                .collect(),
            ..Default::default()
        };
        year_points += store.write_batch(&batch).await.unwrap().points as u64;
    }
    // The aggregator's compaction pass.
    store.compact_rollups(Utc::now()).await.unwrap();
    store.compact_raw(Utc::now()).await.unwrap();
    sqlx::query("VACUUM ANALYZE")
        .execute(&env.pool)
        .await
        .unwrap();
    let database_after = database().await;
    let breakdown = table_breakdown(&env.pool).await;
    let tiers = store.tier_disk_usage().await.unwrap();
    let raw_points: i64 = sqlx::query_scalar("SELECT count(*) FROM point_all")
        .fetch_one(&env.pool)
        .await
        .unwrap();

    // Baseline for the write: one day of the same rows COPYed into a copy of the point table.
    sqlx::query("CREATE TABLE point_copy (LIKE point INCLUDING ALL)")
        .execute(&env.pool)
        .await
        .unwrap();
    let (copied, copy_seconds) = exporter_tests::copy_points_baseline(
        &env.pool,
        "SELECT time::text, series_id, value FROM point_all \
         WHERE time >= $1 AND time < $1 + interval '1 day'",
        // A day the raw tier holds (the first days are past its retention).
        Some(
            now.duration_trunc(Duration::hours(1)).unwrap() - Duration::days(days.min(3))
                + Duration::hours(1),
        ),
        "COPY point_copy (time, series_id, value) FROM STDIN",
    )
    .await;
    sqlx::query("DROP TABLE point_copy")
        .execute(&env.pool)
        .await
        .unwrap();

    // The API, over what was written.
    let _api = env.spawn("exporter-api", &[]);
    exporter_tests::wait_for_port(env.api_port, StdDuration::from_secs(30));
    let client = reqwest::Client::new();
    let history = |query: String| {
        let client = client.clone();
        let url = env.api_url(&format!("/metrics/history?{query}"));
        let key = env.api_key.clone();
        async move {
            let response = client
                .get(url)
                .header("X-API-Key", key)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.bytes().await.unwrap()
        }
    };
    let ids = |name: &'static str, labels: Option<&'static str>| {
        let pool = env.pool.clone();
        async move {
            sqlx::query_scalar::<_, i32>(
                "SELECT series_id FROM series WHERE name = $1 AND ($2::text IS NULL OR labels->>'rail' = $2)",
            )
            .bind(name)
            .bind(labels)
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let cores = ids("cpu.core_usage_percent", None).await;
    let rail = ids("power.rail_watts", Some("0")).await;
    println!(
        "time-series benchmark: {days} days x {} series at {INTERVAL_SECONDS} s ({points} points) and {year_days} days x {YEAR_SERIES} series hourly ({year_points} points); median of {rounds}",
        CORES + 1
    );
    let cases = [
        (
            format!("72 series, {days} days"),
            format!(
                "name=cpu.core_usage_percent&from={}&to={}",
                rfc(start),
                rfc(now)
            ),
            &cores,
            CORES,
        ),
        (
            format!("72 series, {days} days, step=1h"),
            format!(
                "name=cpu.core_usage_percent&from={}&to={}&step=1h",
                rfc(start),
                rfc(now)
            ),
            &cores,
            CORES,
        ),
        (
            format!("1 series, {} days", year_days + days),
            format!(
                "name=power.rail_watts&labels=rail=0&from={}&to={}",
                rfc(year_start),
                rfc(now)
            ),
            &rail,
            1,
        ),
        (
            "72 series, 24 h in the compacted range".to_owned(),
            format!(
                "name=cpu.core_usage_percent&from={}&to={}",
                rfc(now - Duration::hours(30)),
                rfc(now - Duration::hours(6))
            ),
            &cores,
            CORES,
        ),
        (
            "72 series, the last 24 h".to_owned(),
            format!(
                "name=cpu.core_usage_percent&from={}&to={}",
                rfc(now - Duration::hours(24)),
                rfc(now)
            ),
            &cores,
            CORES,
        ),
    ];
    for (what, query, series_ids, series) in cases {
        let (api_seconds, body) = timed(rounds, || history(query.clone())).await;
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer["series"].as_array().unwrap().len(), series, "{what}");
        let resolution = answer["resolution"].as_str().unwrap().to_owned();
        let (from, to) = (
            answer["from"].as_str().unwrap().parse().unwrap(),
            answer["to"].as_str().unwrap().parse().unwrap(),
        );
        let (sql_seconds, rows) = timed(rounds, || {
            plain_read(&env.pool, &resolution, series_ids, from, to)
        })
        .await;
        let step = answer["step_seconds"].as_f64().unwrap();
        let former = former_sql(&resolution);
        let (former_seconds, _) = timed(rounds.min(3), || {
            sqlx::query(sqlx::AssertSqlSafe(former.clone()))
                .bind(series_ids)
                .bind(from)
                .bind(to)
                .bind(step)
                .fetch_all(&env.pool)
        })
        .await;
        // The store's own read of the same plan, in this process: what the API adds on top is
        // its JSON and HTTP.
        let (name, labels) = if series == 1 {
            let mut labels = serde_json::Map::new();
            labels.insert("rail".into(), "0".into());
            ("power.rail_watts", labels)
        } else {
            ("cpu.core_usage_percent", serde_json::Map::new())
        };
        let query = exporter_store::HistoryQuery {
            name: name.into(),
            host: None,
            labels,
            from,
            to,
            step_seconds: step as i64,
            resolution: exporter_store::Resolution::parse(&resolution).unwrap(),
        };
        let (store_seconds, _) = timed(rounds, || store.history(&query)).await;
        println!(
            "  history, {what:<40} {:>7.1} ms through the API ({resolution}, step {step} s, {} KB; the store's read alone {:.1} ms); plain SQL read of its {rows} rows {:>7.1} ms: ratio {:.2}; the former in-SQL bucketing {:>7.1} ms (statement alone): ratio {:.2}",
            api_seconds * 1000.0,
            body.len() / 1024,
            store_seconds * 1000.0,
            sql_seconds * 1000.0,
            api_seconds / sql_seconds,
            former_seconds * 1000.0,
            former_seconds / api_seconds,
        );
    }
    let stored = (points + year_points) as f64;
    println!(
        "  bytes per point: raw tier {:.2} per raw point; database growth {:.2} per point written ({} MB for {stored} points; 1m tier {} MB, 1h tier {} MB)",
        tiers[0].used_bytes as f64 / raw_points as f64,
        (database_after - database_before) as f64 / stored,
        (database_after - database_before) >> 20,
        tiers[1].used_bytes >> 20,
        tiers[2].used_bytes >> 20,
    );
    for line in &breakdown {
        println!("    {line}");
    }
    let write_rate = points as f64 / write_seconds;
    let copy_rate = copied as f64 / copy_seconds;
    println!(
        "  ingest: batch write {write_rate:.0} points/s, plain COPY {copy_rate:.0} points/s; ratio {:.2}",
        write_rate / copy_rate
    );
    println!(
        "  compaction on the aggregator's schedule: {compact_passes} passes over {days} days of 73 series, {:.1} ms a pass (each moves an hour: {} raw points and their minutes; days regrouped once over)",
        compact_seconds * 1000.0 / f64::from(compact_passes.max(1)),
        (CORES + 1) as i64 * 3600 / INTERVAL_SECONDS
    );
    drop(_api);
    env.finish().await;
    let (p50, p99, samples) = freshness::measure(seconds).await;
    println!(
        "  freshness over {samples} samples at 1 s: p50 {p50:.1} ms, p99 {p99:.1} ms (ratio to the 100 ms target {:.2}, {:.2})",
        p50 / 100.0,
        p99 / 100.0
    );
}
