//! Roll-up benchmark: the store's batch write (points and their 1-minute and 1-hour roll-ups in
//! one transaction) next to a plain `COPY` of the same rows into a copy of the point table, and a
//! 72-series history over the whole range read from the raw points next to the same answer from
//! the hourly roll-up; both printed as ratios measured in the same run (these machines are shared
//! and noisy: only the ratios mean something).
//!
//! Then the compaction of closed raw hours and finished 1-minute days (the aggregator's
//! ten-minute pass), the bytes per point of each tier and of the whole database, and the 24-hour
//! and whole-range reads from the compacted tiers next to the same reads before compaction.
//!
//! Needs the same services as the tests. Run:
//! `cargo bench -p exporter-tests --bench history_tiers` (env `BENCH_DAYS`, default 3: that many
//! days of 72 per-core CPU series plus `cpu.usage_percent` at 5 s).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::Instant;

use chrono::{DateTime, Duration, DurationRound, Utc};
use exporter_protocol::SeriesPoint;
use exporter_store::{
    Batch, Domain, HistoryPlan, HistoryQuery, IncomingSample, Resolution, SeriesHistory, Store,
};
use exporter_tests::TestEnv;

const CORES: usize = 72;
const INTERVAL_SECONDS: i64 = 5;
const SAMPLES_PER_BATCH: usize = 100;

/// series_id, bucket_time, sum, count, min, max, last_value.
type HourRow = (i32, DateTime<Utc>, f64, i32, f64, f64, f64);

fn sample(time: DateTime<Utc>, seq: u64) -> IncomingSample {
    let mut points: Vec<SeriesPoint> = (0..CORES)
        .map(|core| {
            let mut point = SeriesPoint::plain(
                "cpu.core_usage_percent",
                ((seq * 7 + core as u64 * 13) % 1000) as f64 / 10.0,
            );
            point.labels.insert("core".into(), core.to_string());
            point
        })
        .collect();
    points.push(SeriesPoint::plain(
        "cpu.usage_percent",
        (seq % 100) as f64 + 0.5,
    ));
    IncomingSample {
        message_id: uuid::Uuid::new_v4(),
        subject: "exporter.v1.sample.system.bench-host".into(),
        source: "system".into(),
        host: "bench-host".into(),
        seq,
        time,
        body: serde_json::json!({}).into(),
        points,
        domain: Domain::None,
    }
}

async fn timed_history(store: &Store, plan: HistoryPlan) -> (f64, Vec<SeriesHistory>) {
    let query = HistoryQuery {
        name: "cpu.core_usage_percent".into(),
        host: None,
        labels: Default::default(),
        from: plan.from,
        to: plan.to,
        step_seconds: plan.step_seconds,
        resolution: plan.resolution,
    };
    let mut best = f64::MAX;
    let mut answer = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        answer = store.history(&query).await.unwrap();
        best = best.min(started.elapsed().as_secs_f64());
    }
    (best, answer)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let days: i64 = exporter_tests::bench_size("BENCH_DAYS", 3);
    let env = TestEnv::new("").await;
    env.migrate().await;
    let store = Store::from_pool(env.pool.clone());
    let end = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
    let start = end - Duration::days(days);
    let samples = (days * 86_400 / INTERVAL_SECONDS) as u64;
    let batches: Vec<Batch> = (0..samples)
        .collect::<Vec<_>>()
        .chunks(SAMPLES_PER_BATCH)
        .map(|seqs| Batch {
            samples: seqs
                .iter()
                .map(|&i| {
                    sample(
                        start + Duration::seconds(i as i64 * INTERVAL_SECONDS),
                        i + 1,
                    )
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    // Partitions and series exist before the clock starts (as in steady state).
    store.write_batch(&batches[0]).await.unwrap();
    let days_set = (0..=days)
        .map(|d| (start + Duration::days(d)).date_naive())
        .collect();
    store.ensure_partitions(&days_set).await.unwrap();

    // Series ids in the order of a sample's points.
    let series_ids: Vec<i32> = sqlx::query_scalar(
        "SELECT series_id FROM series ORDER BY (labels->>'core')::int NULLS LAST",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    let started = Instant::now();
    let mut points = 0;
    for batch in &batches[1..] {
        points += store.write_batch(batch).await.unwrap().points;
    }
    let write_seconds = started.elapsed().as_secs_f64();

    // Baseline: the same rows, COPYed in bulk into a copy of the point table (not partitioned) with
    // the same indexes.
    sqlx::query("CREATE TABLE point_copy (LIKE point INCLUDING ALL)")
        .execute(&env.pool)
        .await
        .unwrap();
    let (copied, copy_seconds) = exporter_tests::copy_points_baseline(
        &env.pool,
        "SELECT time::text, series_id, value FROM point WHERE time >= $1 ORDER BY time",
        Some(batches[1].samples[0].time),
        "COPY point_copy (time, series_id, value) FROM STDIN",
    )
    .await;
    assert_eq!(copied as usize, points, "the same rows");
    // The points' own insert of the batch write, without the roll-ups: the same statement over
    // the same batches into another copy of the table.
    sqlx::query("CREATE TABLE point_plain (LIKE point INCLUDING ALL)")
        .execute(&env.pool)
        .await
        .unwrap();
    let started = Instant::now();
    for batch in &batches[1..] {
        let (mut times, mut ids, mut values) = (Vec::new(), Vec::new(), Vec::new());
        for sample in &batch.samples {
            for (i, point) in sample.points.iter().enumerate() {
                times.push(sample.time);
                ids.push(series_ids[i]);
                values.push(point.value);
            }
        }
        let mut tx = env.pool.begin().await.unwrap();
        sqlx::query(
            "INSERT INTO point_plain (time, series_id, value) \
             SELECT * FROM UNNEST($1::timestamptz[], $2::int4[], $3::float8[])",
        )
        .bind(&times)
        .bind(&ids)
        .bind(&values)
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let plain_seconds = started.elapsed().as_secs_f64();
    sqlx::query("VACUUM ANALYZE")
        .execute(&env.pool)
        .await
        .unwrap();

    let write_rate = points as f64 / write_seconds;
    let copy_rate = copied as f64 / copy_seconds;
    println!(
        "roll-up benchmark: {days} days x {} series at {INTERVAL_SECONDS} s = {points} points",
        CORES + 1
    );
    println!(
        "  batch write (points + 1m and 1h roll-ups, idempotent): {write_rate:>10.0} points/s  ({write_seconds:.2} s)"
    );
    println!(
        "  plain COPY of the same rows into a copy of the table:  {copy_rate:>10.0} points/s  ({copy_seconds:.2} s)"
    );
    println!(
        "  the points' INSERT .. UNNEST alone (no roll-ups):      {:>10.0} points/s  ({plain_seconds:.2} s)",
        points as f64 / plain_seconds
    );
    println!(
        "  ratio batch write / COPY: {:.2}; batch write / points alone: {:.2}",
        write_rate / copy_rate,
        plain_seconds / write_seconds
    );
    // An upgrade's backfill: the migration's own statements over the same points, after
    // emptying the roll-ups the batch writes built.
    let live_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM rollup_1m")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    let migration = include_str!("../../store/migrations/0007_rollups.sql");
    let backfill = &migration[migration.find("INSERT INTO rollup_1m").unwrap()..];
    sqlx::query("TRUNCATE rollup_1m, rollup_1h")
        .execute(&env.pool)
        .await
        .unwrap();
    let started = Instant::now();
    sqlx::raw_sql(sqlx::AssertSqlSafe(backfill))
        .execute(&env.pool)
        .await
        .unwrap();
    let backfill_seconds = started.elapsed().as_secs_f64();
    let backfilled_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM rollup_1m")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(
        backfilled_rows, live_rows,
        "the backfill builds every bucket"
    );
    let stored = points + batches[0].samples.len() * (CORES + 1);
    println!(
        "  migration 0007's backfill of the {stored} stored points: {:>8.0} points/s  ({backfill_seconds:.2} s; ratio to COPY {:.2})",
        stored as f64 / backfill_seconds,
        (stored as f64 / backfill_seconds) / copy_rate
    );
    sqlx::query("VACUUM ANALYZE")
        .execute(&env.pool)
        .await
        .unwrap();

    // 72 series over the whole range at one hour: raw points against the hourly roll-up.
    let plan = |resolution| HistoryPlan::new(start, end, Some(3600), 1000, Some(resolution));
    let (raw_seconds, raw) = timed_history(&store, plan(Resolution::Raw)).await;
    let (hour_seconds, hourly) = timed_history(&store, plan(Resolution::Hour)).await;
    let (minute_seconds, _) = timed_history(&store, plan(Resolution::Minute)).await;
    // Baseline for the tier: a plain read of the same hourly rows, no re-bucketing.
    let mut plain_seconds = f64::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let rows: Vec<HourRow> = sqlx::query_as(
            "SELECT r.series_id, r.bucket_time, r.sum, r.count, r.min, r.max, r.last_value \
             FROM rollup_1h r JOIN series s USING (series_id) \
             WHERE s.name = 'cpu.core_usage_percent' AND r.bucket_time >= $1 AND r.bucket_time < $2",
        )
        .bind(start)
        .bind(end)
        .fetch_all(&env.pool)
        .await
        .unwrap();
        assert_eq!(rows.len() as i64, CORES as i64 * days * 24);
        plain_seconds = plain_seconds.min(started.elapsed().as_secs_f64());
    }
    assert_eq!(raw.len(), CORES);
    assert_eq!(hourly.len(), CORES);
    for (r, h) in raw.iter().zip(&hourly) {
        assert_eq!(r.buckets.len(), h.buckets.len());
        for (a, b) in r.buckets.iter().zip(&h.buckets) {
            assert!(a.count == b.count && (a.avg - b.avg).abs() < 1e-9 && a.last == b.last);
        }
    }

    println!(
        "  history, 72 series, {days} days, step 1h: raw {:.1} ms, 1m tier {:.1} ms, 1h tier {:.1} ms",
        raw_seconds * 1000.0,
        minute_seconds * 1000.0,
        hour_seconds * 1000.0
    );
    println!(
        "  plain SELECT of the same hourly rows: {:.1} ms",
        plain_seconds * 1000.0
    );
    println!(
        "  ratio raw / 1h tier: {:.1}, raw / 1m tier: {:.1}, 1h tier / plain SELECT: {:.2}",
        raw_seconds / hour_seconds,
        raw_seconds / minute_seconds,
        hour_seconds / plain_seconds
    );

    // Any 24 h of 72 series at the API's default budget (1000 points: the 1-minute tier), and the
    // whole range, before and after compaction; then the disk per point.
    let day_from = end - Duration::hours(30);
    let day_plan = HistoryPlan::new(day_from, day_from + Duration::hours(24), None, 1000, None);
    let (day_rows_seconds, day_rows) = timed_history(&store, day_plan).await;
    let (raw_hour_rows_seconds, _) = timed_history(
        &store,
        HistoryPlan::new(day_from, day_from + Duration::hours(1), Some(5), 1000, None),
    )
    .await;
    let database = || async {
        sqlx::query_scalar::<_, i64>("SELECT pg_database_size(current_database())")
            .fetch_one(&env.pool)
            .await
            .unwrap()
    };
    let database_before = database().await;
    let started = Instant::now();
    let minute_chunks = store.compact_rollups(Utc::now()).await.unwrap();
    let raw = store.compact_raw(Utc::now()).await.unwrap();
    let compact_seconds = started.elapsed().as_secs_f64();
    sqlx::query("VACUUM ANALYZE")
        .execute(&env.pool)
        .await
        .unwrap();
    let (day_chunks_seconds, day_chunks) = timed_history(&store, day_plan).await;
    let (raw_hour_chunks_seconds, _) = timed_history(
        &store,
        HistoryPlan::new(day_from, day_from + Duration::hours(1), Some(5), 1000, None),
    )
    .await;
    assert_eq!(day_plan.resolution, Resolution::Minute);
    for (a, b) in day_rows.iter().zip(&day_chunks) {
        assert_eq!(a.buckets, b.buckets, "compaction changed a 24-hour answer");
    }
    let tiers = store.tier_disk_usage().await.unwrap();
    let stored = (points + batches[0].samples.len() * (CORES + 1)) as f64;
    println!(
        "  compaction: {} raw chunks, {minute_chunks} minute chunks in {compact_seconds:.2} s ({:.0} points/s)",
        raw.chunks,
        stored / compact_seconds
    );
    println!(
        "  bytes per point after compaction: raw {:.2}, 1m {:.2}, 1h {:.2}; database {:.2} -> {:.2} (the copies of the table included before)",
        tiers[0].used_bytes as f64 / stored,
        tiers[1].used_bytes as f64 / stored,
        tiers[2].used_bytes as f64 / stored,
        database_before as f64 / stored,
        database().await as f64 / stored,
    );
    println!(
        "  any 24 h of 72 series ({}, step {} s): rows {:.1} ms, chunks {:.1} ms (ratio {:.2}); one hour raw at 5 s: rows {:.1} ms, chunks {:.1} ms (ratio {:.2})",
        day_plan.resolution.as_str(),
        day_plan.step_seconds,
        day_rows_seconds * 1000.0,
        day_chunks_seconds * 1000.0,
        day_chunks_seconds / day_rows_seconds,
        raw_hour_rows_seconds * 1000.0,
        raw_hour_chunks_seconds * 1000.0,
        raw_hour_chunks_seconds / raw_hour_rows_seconds,
    );
    env.finish().await;
}
