//! Tiers with their own retention, against the real PostgreSQL: retention drops exactly the
//! partitions past their tier's age; a late sample lands in every tier that keeps its time (one
//! older than the raw tier only in the roll-ups); a history across the raw tier's boundary is
//! served by one tier, without a gap or a bucket counted twice.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use exporter_protocol::SeriesPoint;
use exporter_store::{
    Batch, Domain, HistoryPlan, HistoryQuery, IncomingSample, Resolution, Store, Tiers,
};
use exporter_tests::TestEnv;

const NAME: &str = "tiers.test_value";

fn sample(time: DateTime<Utc>, seq: u64, value: f64) -> IncomingSample {
    IncomingSample {
        message_id: uuid::Uuid::new_v4(),
        subject: "exporter.v1.sample.system.test-host".into(),
        source: "system".into(),
        host: "test-host".into(),
        seq,
        time,
        body: serde_json::json!({}).into(),
        points: vec![SeriesPoint::plain(NAME, value)],
        domain: Domain::None,
    }
}

async fn write(store: &Store, samples: Vec<IncomingSample>) {
    for chunk in samples.chunks(500) {
        store
            .write_batch(&Batch {
                samples: chunk.to_vec(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
}

/// Rows of `table` holding `time` (`bucket_time` for the roll-ups).
async fn rows_at(env: &TestEnv, table: &str, time: DateTime<Utc>) -> i64 {
    let sql = match table {
        "point" => "SELECT count(*) FROM point WHERE time = $1".to_owned(),
        _ => format!(
            "SELECT count(*) FROM {table} WHERE bucket_time = date_bin('{}', $1, timestamptz '1970-01-01 00:00:00+00')",
            if table == "rollup_1m" {
                "1 minute"
            } else {
                "1 hour"
            }
        ),
    };
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(time)
        .fetch_one(&env.pool)
        .await
        .unwrap()
}

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_exactly_the_partitions_past_their_age() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    // Without tiers the store creates every partition asked for.
    let store = Store::from_pool(env.pool.clone());
    let days: BTreeSet<NaiveDate> = [
        "2024-05-20",
        "2024-06-03",
        "2026-03-16",
        "2026-03-17",
        "2026-06-07",
        "2026-06-08",
        "2026-06-15",
    ]
    .into_iter()
    .map(day)
    .collect();
    store.ensure_partitions(&days).await.unwrap();
    let before = store.tier_disk_usage().await.unwrap();
    assert_eq!(
        before.iter().map(|t| t.partitions).collect::<Vec<_>>(),
        [7, 7, 4],
        "raw (rows and chunks alike) and 1m by day, 1h by month"
    );

    // Defaults (7, 90, 730 days) on 2026-06-15: raw keeps from 06-08, 1m from 03-17, 1h the
    // month holding 2024-06-15 and later.
    let mut dropped = store
        .drop_expired_partitions(&Tiers::default(), day("2026-06-15"))
        .await
        .unwrap();
    dropped.sort();
    assert_eq!(
        dropped,
        [
            "point_chunk_p20240520",
            "point_chunk_p20240603",
            "point_chunk_p20260316",
            "point_chunk_p20260317",
            "point_chunk_p20260607",
            "point_p20240520",
            "point_p20240603",
            "point_p20260316",
            "point_p20260317",
            "point_p20260607",
            "rollup_1h_chunk_p202405",
            "rollup_1h_p202405",
            "rollup_1m_chunk_p20240520",
            "rollup_1m_chunk_p20240603",
            "rollup_1m_chunk_p20260316",
            "rollup_1m_p20240520",
            "rollup_1m_p20240603",
            "rollup_1m_p20260316",
        ]
    );
    let after = store.tier_disk_usage().await.unwrap();
    let kept: Vec<(Resolution, i64, Option<NaiveDate>)> = after
        .iter()
        .map(|t| (t.resolution, t.partitions, t.oldest_day))
        .collect();
    assert_eq!(
        kept,
        [
            (Resolution::Raw, 2, Some(day("2026-06-08"))),
            (Resolution::Minute, 4, Some(day("2026-03-17"))),
            (Resolution::Hour, 3, Some(day("2024-06-01"))),
        ]
    );
    assert!(after.iter().all(|t| t.used_bytes > 0), "{after:?}");
    // A second pass the same day drops nothing more.
    assert!(
        store
            .drop_expired_partitions(&Tiers::default(), day("2026-06-15"))
            .await
            .unwrap()
            .is_empty()
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_sample_lands_in_every_tier_that_keeps_its_time() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let store = Store::from_pool(env.pool.clone()).with_tiers(Tiers::default());
    let now = Utc::now();
    let recent = sample(now, 1, 1.0);
    let three_days = sample(now - Duration::days(3), 2, 2.0);
    let ten_days = sample(now - Duration::days(10), 3, 3.0);
    let hundred_days = sample(now - Duration::days(100), 4, 4.0);
    let times = [&three_days, &ten_days, &hundred_days].map(|s| s.time);
    write(&store, vec![recent]).await;
    // They arrive late, in one batch.
    write(&store, vec![hundred_days, three_days, ten_days]).await;

    let mut landed = Vec::new();
    for time in times {
        landed.push([
            rows_at(&env, "point", time).await,
            rows_at(&env, "rollup_1m", time).await,
            rows_at(&env, "rollup_1h", time).await,
        ]);
    }
    assert_eq!(
        landed,
        [[1, 1, 1], [0, 1, 1], [0, 0, 1]],
        "3 days old: every tier; 10 days: the roll-ups; 100 days: the hour tier"
    );

    // The ten-day-old value is read back from the minute tier, which keeps it.
    let at = times[1];
    let plan = HistoryPlan::new(
        at - Duration::minutes(5),
        at + Duration::minutes(5),
        Some(10),
        10_000,
        None,
    )
    .within(&Tiers::default(), now.date_naive(), 10_000);
    assert_eq!(plan.resolution, Resolution::Minute);
    let history = store
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
        .unwrap();
    let buckets = &history[0].buckets;
    assert_eq!(buckets.len(), 1);
    assert_eq!((buckets[0].last, buckets[0].count), (3.0, 1));
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_across_the_raw_tiers_boundary_has_no_gap_and_no_double_bucket() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let tiers = Tiers::default();
    let store = Store::from_pool(env.pool.clone()).with_tiers(tiers);
    let today = Utc::now().date_naive();
    // The raw tier holds from this midnight on; the hour before it lives only in the roll-ups.
    let boundary = tiers.holds_from(Resolution::Raw, today);
    let (from, to) = (boundary - Duration::hours(1), boundary + Duration::hours(1));
    let samples: Vec<IncomingSample> = (0..1440)
        .map(|i| sample(from + Duration::seconds(5 * i), i as u64 + 1, i as f64))
        .collect();
    write(&store, samples).await;
    let raw_points: i64 = sqlx::query_scalar("SELECT count(*) FROM point")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(raw_points, 720, "only the hour after the boundary is raw");

    let query = |plan: HistoryPlan| HistoryQuery {
        name: NAME.into(),
        host: None,
        labels: Default::default(),
        from: plan.from,
        to: plan.to,
        step_seconds: plan.step_seconds,
        resolution: plan.resolution,
    };
    // Read from raw alone, the first hour is missing.
    let raw_only = HistoryPlan::new(from, to, Some(30), 10_000, None);
    assert_eq!(raw_only.resolution, Resolution::Raw);
    let gappy = store.history(&query(raw_only)).await.unwrap();
    assert_eq!(gappy[0].buckets[0].time, boundary);

    // The plan within the tiers reads the whole range from the minute tier.
    let plan = raw_only.within(&tiers, today, 10_000);
    assert_eq!(
        (plan.resolution, plan.step_seconds),
        (Resolution::Minute, 60)
    );
    let history = store.history(&query(plan)).await.unwrap();
    let buckets = &history[0].buckets;
    assert_eq!(buckets.len(), 120, "one bucket per minute, none missing");
    for (i, bucket) in buckets.iter().enumerate() {
        assert_eq!(bucket.time, from + Duration::minutes(i as i64), "no gap");
        assert_eq!(
            bucket.count, 12,
            "no point counted twice at {}",
            bucket.time
        );
        let first = (i * 12) as f64;
        assert_eq!(
            (bucket.min, bucket.max, bucket.last),
            (first, first + 11.0, first + 11.0)
        );
        assert!((bucket.avg - (first + 5.5)).abs() < 1e-9);
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_shows_disk_per_tier_only_to_a_caller_with_the_key() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let store = Store::from_pool(env.pool.clone());
    let now = Utc::now();
    write(
        &store,
        (0..100)
            .map(|i| sample(now - Duration::seconds(5 * i), i as u64 + 1, 1.0))
            .collect(),
    )
    .await;
    let _api = env.spawn("exporter-api", &[]);
    exporter_tests::wait_for_port(env.api_port, std::time::Duration::from_secs(20));

    let (_, anonymous) = exporter_tests::get_json(&env.api_url("/health"), None).await;
    assert!(anonymous.get("tiers").is_none(), "{anonymous}");
    assert_eq!(anonymous["postgres"]["status"], "up");
    let wrong = format!("wrong-{}", uuid::Uuid::new_v4().simple());
    // No aggregator here, so the stream is missing: 503, with or without a key.
    let (code, guessed) = exporter_tests::get_json(&env.api_url("/health"), Some(&wrong)).await;
    assert_eq!(code, 503, "{guessed}");
    assert_eq!(guessed["stream"]["status"], "down", "{guessed}");
    assert!(
        guessed.get("tiers").is_none(),
        "a wrong key sees no more: {guessed}"
    );
    let (_, health) = env.get("/health").await;
    let tiers: Vec<(&str, u64, bool)> = health["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["resolution"].as_str().unwrap(),
                t["retention_days"].as_u64().unwrap(),
                t["used_bytes"].as_i64().unwrap() > 0 && t["partitions"].as_i64().unwrap() >= 1,
            )
        })
        .collect();
    assert_eq!(
        tiers,
        [("raw", 7, true), ("1m", 90, true), ("1h", 730, true)],
        "{health}"
    );
    env.finish().await;
}
