//! Compact storage against the real PostgreSQL: closed hours of raw points and finished days of
//! the 1-minute roll-up move into lz4-compressed chunks and read back as before; a late sample
//! into a compacted chunk is read back exactly, before and after it is merged (and its minute
//! equals the raw points' again); and 3 days of 73 series at 5 s take at most 16 bytes a point
//! in the raw tier and 24 in the whole database.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use chrono::{DateTime, Datelike, Duration, DurationRound, Utc};
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

async fn tier_history(
    store: &Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: i64,
    resolution: Resolution,
) -> Vec<SeriesHistory> {
    let plan = HistoryPlan::new(from, to, Some(step), 1_000_000, Some(resolution));
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

/// The 1-minute tier's answer equals the raw points' over the same minutes, and the 1-hour
/// tier's over the same hours.
async fn assert_minutes_match_raw(
    store: &Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    what: &str,
) {
    for (step, resolution) in [(60, Resolution::Minute), (3600, Resolution::Hour)] {
        assert_tier_matches_raw(store, from, to, step, resolution, what).await;
    }
}

async fn assert_tier_matches_raw(
    store: &Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: i64,
    resolution: Resolution,
    what: &str,
) {
    let minutes = tier_history(store, from, to, step, resolution).await;
    let raw = tier_history(store, from, to, step, Resolution::Raw).await;
    let what = format!("{what} ({resolution:?})");
    assert_eq!(minutes.len(), raw.len(), "{what}");
    assert!(!raw.is_empty(), "{what}");
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
    // Yesterday's minutes into one chunk per series, its hours into this month's (or, on the
    // first of a month, last month's) chunk.
    assert_eq!(store.compact_rollups(today).await.unwrap(), 4 + 4);
    assert_eq!(count(&env, "SELECT count(*) FROM rollup_1m_chunk").await, 4);
    assert_eq!(count(&env, "SELECT count(*) FROM rollup_1h_chunk").await, 4);
    assert_eq!(count(&env, "SELECT count(*) FROM rollup_1h").await, 2 * 4);
    assert_eq!(
        store.compact_rollups(today).await.unwrap(),
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
    // The late minute and the late hour, each merged into its chunk.
    assert_eq!(store.compact_rollups(today).await.unwrap(), 4 + 4);
    assert_eq!(
        count(&env, "SELECT count(*) FROM rollup_1m").await,
        2 * 60 * 4,
        "the late minute was merged into its chunk"
    );
    assert_eq!(count(&env, "SELECT count(*) FROM rollup_1h").await, 2 * 4);
    assert_minutes_match_raw(&store, from, to, "merged").await;
    let merged = raw_history(&store, from, to, 1).await;
    assert_eq!(merged[0].buckets.len(), 4 * 720 + 1);
    assert_eq!(
        count(&env, "SELECT count(*) FROM rollup_1m_chunk").await,
        4,
        "the late minute merged into yesterday's chunks"
    );

    // Today's closed hours of minutes become a chunk each, one hour at a time; once the day is
    // over its chunks are regrouped into one per series.
    assert_eq!(
        store
            .compact_rollups(today + Duration::minutes(65))
            .await
            .unwrap(),
        4
    );
    assert_eq!(count(&env, "SELECT count(*) FROM rollup_1m").await, 60 * 4);
    assert_minutes_match_raw(&store, from, to, "today's first hour compacted").await;
    assert_eq!(
        store
            .compact_rollups(today + Duration::hours(2))
            .await
            .unwrap(),
        4
    );
    assert_eq!(count(&env, "SELECT count(*) FROM rollup_1m").await, 0);
    assert_eq!(
        count(&env, "SELECT count(*) FROM rollup_1m_chunk").await,
        4 + 2 * 4,
        "yesterday's chunks and today's two hours"
    );
    assert_minutes_match_raw(&store, from, to, "today's hours compacted").await;
    // A late sample into today's first hour, then the day is over: everything of today in one
    // chunk per series, the late minute merged.
    let late_today = today + Duration::minutes(10) + Duration::microseconds(1_250_000);
    write(
        &store,
        &[sample(late_today, 99_998, &[50.0, 60.0, 70.0, 80.0])],
        1,
    )
    .await;
    assert_minutes_match_raw(&store, from, to, "a late minute beside today's chunk").await;
    store
        .compact_rollups(today + Duration::days(1) + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM rollup_1m_chunk WHERE cardinality(bucket_times) = 120"
        )
        .await,
        4 + 4,
        "yesterday's two hours and today's two in one chunk per series each"
    );
    assert_eq!(count(&env, "SELECT count(*) FROM rollup_1m_chunk").await, 8);
    assert_eq!(count(&env, "SELECT count(*) FROM rollup_1m").await, 0);
    // A range reaching far into the future (minutes past `int4` from the chunks' start).
    let far: DateTime<Utc> = "9000-01-01T00:00:00Z".parse().unwrap();
    let counts = |history: Vec<SeriesHistory>| -> Vec<i64> {
        history
            .iter()
            .map(|s| s.buckets.iter().map(|b| b.count).sum())
            .collect()
    };
    assert_eq!(
        counts(tier_history(&store, start, far, 3600 * 24 * 365, Resolution::Minute).await),
        counts(tier_history(&store, start, far, 3600 * 24 * 365, Resolution::Raw).await),
    );
    // Ranges starting and ending inside the day chunks (which readers slice to the range).
    for (from_minutes, to_minutes) in [(7, 193), (119, 121), (120, 240), (1, 2), (0, 239)] {
        let (from, to) = (
            start + Duration::minutes(from_minutes),
            start + Duration::minutes(to_minutes),
        );
        assert_tier_matches_raw(&store, from, to, 60, Resolution::Minute, "a slice").await;
    }
    assert_minutes_match_raw(&store, from, to, "today's hours compacted").await;
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
    store.compact_rollups(Utc::now()).await.unwrap();
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
    assert!(
        database_per_point <= 24.0,
        "the whole database grew by {database_per_point:.2} bytes a point"
    );
    // Every point is still there.
    assert_eq!(
        count(&env, "SELECT count(*) FROM point_all").await as f64,
        points + 73.0
    );
    env.finish().await;
}

/// Every roll-up bucket of `table` (a table or an `_all` view), one text row each.
async fn rollup_text(env: &TestEnv, table: &str) -> Vec<String> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT concat_ws(' ', series_id, bucket_time, sum, count, min, max, first_time, \
                first_value, last_time, last_value) \
         FROM {table} ORDER BY series_id, bucket_time"
    )))
    .fetch_all(&env.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upgrade_moves_past_months_of_hours_and_regroups_minute_chunks_by_day() {
    let env = TestEnv::new("").await;
    sqlx::migrate!("../store/migrations")
        .run_to(15, &env.pool)
        .await
        .unwrap();
    // An install at 0015: two series with 48 hours in a month two months back and 3 hours of
    // this month (`rollup_1h` rows), and a day 3 days back compacted into hour chunks of
    // minutes (migration 0011's layout).
    let now = Utc::now();
    let this_month = now.date_naive().with_day(1).unwrap();
    let old_month = this_month
        .checked_sub_months(chrono::Months::new(2))
        .unwrap();
    let day = now.date_naive() - Duration::days(3);
    let setup = format!(
        "INSERT INTO series (series_id, source, host, name, labels) OVERRIDING SYSTEM VALUE \
           VALUES (1, 'system', 'h', '{NAME}', '{{\"core\":\"0\"}}'), \
                  (2, 'system', 'h', '{NAME}', '{{\"core\":\"1\"}}'); \
         CREATE TABLE rollup_1h_p{old} PARTITION OF rollup_1h \
           FOR VALUES FROM ('{old_month}') TO ('{old_end}'); \
         CREATE TABLE rollup_1h_p{this} PARTITION OF rollup_1h \
           FOR VALUES FROM ('{this_month}') TO ('{this_end}'); \
         CREATE TABLE rollup_1m_chunk_p{d} PARTITION OF rollup_1m_chunk \
           FOR VALUES FROM ('{day}') TO ('{day_end}'); \
         INSERT INTO rollup_1h SELECT s, t, s * 10 + h, 720, h, h + s, t, h * 0.5, \
             t + interval '59 minutes', h * 0.25 \
           FROM generate_series(1, 2) s, generate_series(0, 47) h, \
             LATERAL (SELECT timestamptz '{old_month} 00:00:00+00' + h * interval '1 hour') AS x(t); \
         INSERT INTO rollup_1h SELECT s, t, s + h, 60, h, h + s, t, h, t, h \
           FROM generate_series(1, 2) s, generate_series(0, 2) h, \
             LATERAL (SELECT timestamptz '{this_month} 00:00:00+00' + h * interval '1 hour') AS x(t); \
         INSERT INTO rollup_1m_chunk SELECT s, c, array_agg(t ORDER BY t), \
             array_agg(s + m * 1.5 ORDER BY t), array_agg(12 ORDER BY t), \
             array_agg(m::float8 ORDER BY t), array_agg(m + 1.0 ORDER BY t), \
             array_agg(t ORDER BY t), array_agg(m * 0.1 ORDER BY t), \
             array_agg(t + interval '55 seconds' ORDER BY t), array_agg(m * 0.2 ORDER BY t) \
           FROM generate_series(1, 2) s, generate_series(0, 2) h, generate_series(0, 59) m, \
             LATERAL (SELECT timestamptz '{day} 00:00:00+00' + h * interval '1 hour', \
                             timestamptz '{day} 00:00:00+00' + h * interval '1 hour' \
                               + m * interval '1 minute') AS x(c, t) \
           GROUP BY s, c",
        old = old_month.format("%Y%m"),
        old_end = old_month
            .checked_add_months(chrono::Months::new(1))
            .unwrap(),
        this = this_month.format("%Y%m"),
        this_end = this_month
            .checked_add_months(chrono::Months::new(1))
            .unwrap(),
        d = day.format("%Y%m%d"),
        day_end = day + Duration::days(1),
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(setup))
        .execute(&env.pool)
        .await
        .unwrap();
    let hours_before = rollup_text(&env, "rollup_1h").await;
    let minutes_before = rollup_text(&env, "rollup_1m_all").await;
    assert_eq!(
        (hours_before.len(), minutes_before.len()),
        (2 * 51, 2 * 180)
    );

    Store::from_pool(env.pool.clone()).migrate().await.unwrap();
    assert_eq!(rollup_text(&env, "rollup_1h_all").await, hours_before);
    assert_eq!(rollup_text(&env, "rollup_1m_all").await, minutes_before);
    assert_eq!(
        count(&env, "SELECT count(*) FROM rollup_1h").await,
        2 * 3,
        "this month's hours stay rows until the aggregator's pass"
    );
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM rollup_1h_chunk WHERE cardinality(bucket_times) = 48"
        )
        .await,
        2,
        "the old month: one chunk per series"
    );
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM rollup_1m_chunk WHERE cardinality(bucket_times) = 180"
        )
        .await,
        2,
        "the day's three hour chunks: one per series"
    );
    // And history reads them back: the old month's hours through the API's store path.
    let store = Store::from_pool(env.pool.clone());
    let month_start = old_month.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let history = tier_history(
        &store,
        month_start,
        month_start + Duration::days(2),
        3600,
        Resolution::Hour,
    )
    .await;
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|s| s.buckets.len() == 48));
    assert_eq!(history[0].buckets[5].avg, (10.0 + 5.0) / 720.0);
    // A range inside the month's chunk: its hours exactly.
    let inside = tier_history(
        &store,
        month_start + Duration::hours(5),
        month_start + Duration::hours(29),
        3600,
        Resolution::Hour,
    )
    .await;
    let first = &inside[0].buckets;
    assert_eq!(first.len(), 24);
    assert_eq!(first[0].time, month_start + Duration::hours(5));
    assert_eq!(first[23].avg, (10.0 + 28.0) / 720.0);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_holding_a_partition_fails_the_pass_in_seconds_and_the_next_one_catches_up() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let store = Store::from_pool(env.pool.clone());
    let today = Utc::now().duration_trunc(Duration::days(1)).unwrap();
    let start = today - Duration::hours(3);
    write(&store, &samples(start, 720, 2), 100).await;
    let before = tier_history(&store, start, today, 60, Resolution::Minute).await;
    // A forgotten transaction that read yesterday's minute rows holds their partition.
    let partition = format!("rollup_1m_p{}", start.format("%Y%m%d"));
    let mut reader = env.pool.begin().await.unwrap();
    let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {partition}"
    )))
    .fetch_one(&mut *reader)
    .await
    .unwrap();
    assert_eq!(rows, 2 * 60);
    let began = std::time::Instant::now();
    let err = store.compact_rollups(today).await.unwrap_err();
    assert!(
        began.elapsed() < std::time::Duration::from_secs(15),
        "waited {:?}",
        began.elapsed()
    );
    assert!(err.to_string().contains("lock timeout"), "{err}");
    assert_eq!(
        count(&env, "SELECT count(*) FROM rollup_1m_chunk").await,
        0,
        "the failed pass changed nothing"
    );
    reader.rollback().await.unwrap();
    assert_eq!(store.compact_rollups(today).await.unwrap(), 2 + 2);
    assert_eq!(count(&env, "SELECT count(*) FROM rollup_1m").await, 0);
    let after = tier_history(&store, start, today, 60, Resolution::Minute).await;
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(a.buckets, b.buckets, "what the history reads");
    }
    env.finish().await;
}
