//! Compact storage against the real PostgreSQL: closed hours of raw points and finished days of
//! the 1-minute roll-up move into lz4-compressed chunks and read back as before; a late sample
//! into a compacted chunk is read back exactly, before and after it is merged (and its minute
//! equals the raw points' again); and 3 days of 73 series at 5 s take at most 16 bytes a point
//! in the raw tier and 24 in the whole database.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use chrono::{DateTime, Duration, DurationRound, Utc};
use exporter_protocol::SeriesPoint;
use exporter_store::{
    Batch, Domain, HistoryPlan, HistoryQuery, IncomingSample, Resolution, SeriesHistory, Store,
};
use exporter_tests::TestEnv;

const NAME: &str = "cpu.core_usage_percent";

fn sample(time: DateTime<Utc>, seq: u64, values: &[f64]) -> IncomingSample {
    IncomingSample {
        message_id: uuid::Uuid::new_v4(),
        subject: "exporter.v1.sample.system.test-host".into(),
        source: "system".into(),
        host: "test-host".into(),
        seq,
        time,
        body: serde_json::json!({}).into(),
        points: values
            .iter()
            .enumerate()
            .map(|(core, value)| {
                let mut point = SeriesPoint::plain(NAME, *value);
                point.labels.insert("core".into(), core.to_string());
                point
            })
            .collect(),
        domain: Domain::None,
    }
}

/// `count` samples of `series` values every 5 s from `start`, with microsecond jitter and
/// values like a CPU's (a deterministic sequence).
fn samples(start: DateTime<Utc>, count: i64, series: usize) -> Vec<IncomingSample> {
    (0..count)
        .map(|i| {
            let values: Vec<f64> = (0..series)
                .map(|s| {
                    let x = (i as u64 * 7919 + s as u64 * 104_729) % 100_003;
                    (x as f64 / 1000.03 * 100.0).round() / 100.0
                })
                .collect();
            let jitter = Duration::microseconds((i * 7_717) % 3_000);
            sample(
                start + Duration::seconds(5 * i) + jitter,
                i as u64 + 1,
                &values,
            )
        })
        .collect()
}

async fn write(store: &Store, samples: &[IncomingSample], per_batch: usize) {
    for chunk in samples.chunks(per_batch) {
        store
            .write_batch(&Batch {
                samples: chunk.to_vec(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
}

async fn raw_history(
    store: &Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: i64,
) -> Vec<SeriesHistory> {
    let plan = HistoryPlan::new(from, to, Some(step), 1_000_000, Some(Resolution::Raw));
    store
        .history(&HistoryQuery {
            name: NAME.into(),
            host: None,
            labels: Default::default(),
            from: plan.from,
            to: plan.to,
            step_seconds: plan.step_seconds,
            resolution: plan.resolution,
        })
        .await
        .unwrap()
}

async fn minute_history(
    store: &Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    resolution: Resolution,
) -> Vec<SeriesHistory> {
    let plan = HistoryPlan::new(from, to, Some(60), 1_000_000, Some(resolution));
    store
        .history(&HistoryQuery {
            name: NAME.into(),
            host: None,
            labels: Default::default(),
            from: plan.from,
            to: plan.to,
            step_seconds: plan.step_seconds,
            resolution: plan.resolution,
        })
        .await
        .unwrap()
}

/// The 1-minute tier's answer equals the raw points' over the same minutes.
async fn assert_minutes_match_raw(
    store: &Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    what: &str,
) {
    let minutes = minute_history(store, from, to, Resolution::Minute).await;
    let raw = minute_history(store, from, to, Resolution::Raw).await;
    assert_eq!(minutes.len(), raw.len(), "{what}");
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
    for (m, r) in minutes.iter().zip(&raw) {
        assert_eq!(m.buckets.len(), r.buckets.len(), "{what}");
        for (a, b) in m.buckets.iter().zip(&r.buckets) {
            assert_eq!((a.time, a.count), (b.time, b.count), "{what}");
            assert!(
                close(a.avg, b.avg) && a.min == b.min && a.max == b.max && a.last == b.last,
                "{what}: {a:?} vs {b:?}"
            );
        }
    }
}

async fn count(env: &TestEnv, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&env.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_hours_and_a_late_sample_into_them_read_back_exactly() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let store = Store::from_pool(env.pool.clone());
    // From yesterday 22:00 to today 02:00 or so: a day over, and hours of today.
    let today = Utc::now().duration_trunc(Duration::days(1)).unwrap();
    let start = today - Duration::hours(2);
    let all = samples(start, 4 * 720, 4);
    write(&store, &all, 200).await;
    let (from, to) = (start, start + Duration::hours(4));
    let before = raw_history(&store, from, to, 1).await;
    assert_eq!(before[0].buckets.len(), 4 * 720);

    // Compact everything before today 01:00: yesterday's partition emptied, today's first hour.
    let done = store
        .compact_raw(today + Duration::minutes(65))
        .await
        .unwrap();
    assert_eq!((done.chunks, done.emptied_days), (3 * 4, 1));
    let again = store
        .compact_raw(today + Duration::minutes(65))
        .await
        .unwrap();
    assert_eq!(again, Default::default(), "nothing new: nothing rewritten");
    assert_eq!(count(&env, "SELECT count(*) FROM point").await, 4 * 720);
    assert_eq!(count(&env, "SELECT count(*) FROM point_chunk").await, 3 * 4);
    assert_eq!(store.compact_minutes(today).await.unwrap(), 2 * 4);
    assert_eq!(
        store.compact_minutes(today).await.unwrap(),
        0,
        "an emptied day is left alone"
    );
    assert_eq!(
        count(&env, "SELECT count(*) FROM rollup_1m").await,
        2 * 60 * 4,
        "today's minutes stay rows"
    );
    assert_minutes_match_raw(&store, from, to, "compacted").await;
    let after = raw_history(&store, from, to, 1).await;
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.buckets, b.buckets, "compaction changed what is read");
    }

    // A late sample into the compacted 23:00 hour, at a microsecond between two others.
    let late_time = start + Duration::minutes(70) + Duration::microseconds(2_500_123);
    let late = sample(late_time, 99_999, &[12.345_678_9, -1.0, 0.0, 1.5e15]);
    write(&store, std::slice::from_ref(&late), 1).await;
    let read_late = |store: Store| async move {
        let history =
            raw_history(&store, late_time, late_time + Duration::microseconds(1), 1).await;
        history
            .iter()
            .map(|s| (s.buckets.len(), s.buckets[0].time, s.buckets[0].last))
            .collect::<Vec<_>>()
    };
    assert_minutes_match_raw(
        &store,
        from,
        to,
        "a late sample's minute in a row and a chunk",
    )
    .await;
    let want: Vec<_> = [12.345_678_9, -1.0, 0.0, 1.5e15]
        .into_iter()
        .map(|v| (1, late_time, v))
        .collect();
    assert_eq!(
        read_late(store.clone()).await,
        want,
        "read back from its row"
    );
    store
        .compact_raw(today + Duration::minutes(65))
        .await
        .unwrap();
    assert_eq!(
        count(&env, "SELECT count(*) FROM point").await,
        4 * 720,
        "the late sample was merged into its chunk"
    );
    assert_eq!(
        read_late(store.clone()).await,
        want,
        "read back from its chunk"
    );
    assert_eq!(store.compact_minutes(today).await.unwrap(), 4);
    assert_eq!(
        count(&env, "SELECT count(*) FROM rollup_1m").await,
        2 * 60 * 4,
        "the late minute was merged into its chunk"
    );
    assert_minutes_match_raw(&store, from, to, "merged").await;
    let merged = raw_history(&store, from, to, 1).await;
    assert_eq!(merged[0].buckets.len(), 4 * 720 + 1);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_days_of_73_series_take_at_most_16_bytes_a_point_raw_and_24_in_all() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let store = Store::from_pool(env.pool.clone());
    let start = Utc::now().duration_trunc(Duration::days(1)).unwrap() - Duration::days(4);
    let all = samples(start, 3 * 17_280, 73);
    let database = || async { count(&env, "SELECT pg_database_size(current_database())").await };
    // Partitions and series exist before measuring (as in steady state).
    write(&store, &all[..1], 1).await;
    let (tiers_before, database_before) =
        (store.tier_disk_usage().await.unwrap(), database().await);
    write(&store, &all[1..], 100).await;
    store.compact_minutes(Utc::now()).await.unwrap();
    store.compact_raw(Utc::now()).await.unwrap();
    sqlx::query("VACUUM").execute(&env.pool).await.unwrap();
    let tiers_after = store.tier_disk_usage().await.unwrap();
    let points = ((all.len() - 1) * 73) as f64;
    let per_point: Vec<f64> = tiers_after
        .iter()
        .zip(&tiers_before)
        .map(|(a, b)| (a.used_bytes - b.used_bytes) as f64 / points)
        .collect();
    let database_per_point = (database().await - database_before) as f64 / points;
    println!(
        "{points} points: raw {:.2}, 1m {:.2}, 1h {:.2} bytes/point; whole database {database_per_point:.2} bytes/point",
        per_point[0], per_point[1], per_point[2]
    );
    assert!(
        per_point[0] <= 16.0,
        "raw tier: {:.2} bytes a point",
        per_point[0]
    );
    // Every point is still there.
    assert_eq!(
        count(&env, "SELECT count(*) FROM point_all").await as f64,
        points + 73.0
    );
    env.finish().await;
}
