//! Roll-ups against the real PostgreSQL: equal to what the raw points give (random data, to
//! 1e-9) at 1 minute and 1 hour, unchanged by a replayed batch, reached by a late sample, rebuilt
//! identically by migration 0007's backfill, and chosen by `/metrics/history` by the step.

#![allow(clippy::unwrap_used)]

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, DurationRound, Utc};
use exporter_protocol::SeriesPoint;
use exporter_store::{
    Batch, Domain, HistoryPlan, HistoryQuery, IncomingSample, Resolution, SeriesHistory, Store,
};
use exporter_tests::TestEnv;
use sqlx::PgPool;

const NAME: &str = "rollup.test_value";
const SERIES: usize = 8;

/// A small deterministic generator (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

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

/// `hours` of samples from `start`, one every ~7 s (random jitter, microseconds included), each
/// with one value per series, shuffled and cut into batches of random sizes.
fn random_batches(seed: u64, start: DateTime<Utc>, hours: i64) -> Vec<Batch> {
    let mut rng = Rng(seed);
    let mut samples = Vec::new();
    let mut time = start;
    let end = start + Duration::hours(hours);
    let mut seq = 0;
    while time < end {
        seq += 1;
        let values: Vec<f64> = (0..SERIES).map(|_| (rng.unit() - 0.5) * 2000.0).collect();
        samples.push(sample(time, seq, &values));
        time += Duration::microseconds(6_000_000 + rng.below(2_000_000) as i64);
    }
    for i in (1..samples.len()).rev() {
        samples.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut batches = Vec::new();
    while !samples.is_empty() {
        let take = (1 + rng.below(60) as usize).min(samples.len());
        batches.push(Batch {
            samples: samples.drain(..take).collect(),
            ..Default::default()
        });
    }
    batches
}

type RollupRow = (
    i32,
    DateTime<Utc>,
    i32,
    f64,
    f64,
    f64,
    DateTime<Utc>,
    f64,
    DateTime<Utc>,
    f64,
);

async fn rollup_rows(pool: &PgPool, table: &str) -> Vec<RollupRow> {
    // The tier with its compacted chunks (migrations 0011 and 0016) merged in.
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT series_id, bucket_time, count, sum, min, max, first_time, first_value, \
                last_time, last_value FROM {table}_all ORDER BY 1, 2"
    )))
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The same columns computed from the points, with a formulation of its own (sorted arrays).
async fn raw_rows(pool: &PgPool, width: &str) -> Vec<RollupRow> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT series_id, date_bin('{width}', time, timestamptz '1970-01-01 00:00:00+00') AS b, \
                count(*)::int4, sum(value), min(value), max(value), \
                min(time), (array_agg(value ORDER BY time))[1], \
                max(time), (array_agg(value ORDER BY time DESC))[1] \
         FROM point_all GROUP BY 1, 2 ORDER BY 1, 2"
    )))
    .fetch_all(pool)
    .await
    .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn assert_same_rows(what: &str, got: &[RollupRow], want: &[RollupRow]) {
    assert_eq!(got.len(), want.len(), "{what}: number of buckets");
    for (g, w) in got.iter().zip(want) {
        let same = g.0 == w.0
            && g.1 == w.1
            && g.2 == w.2
            && close(g.3 / f64::from(g.2), w.3 / f64::from(w.2))
            && g.4 == w.4
            && g.5 == w.5
            && g.6 == w.6
            && g.7 == w.7
            && g.8 == w.8
            && g.9 == w.9;
        assert!(same, "{what}: {g:?} != {w:?}");
    }
}

async fn assert_rollups_match_points(pool: &PgPool) {
    assert_same_rows(
        "1 minute",
        &rollup_rows(pool, "rollup_1m").await,
        &raw_rows(pool, "1 minute").await,
    );
    assert_same_rows(
        "1 hour",
        &rollup_rows(pool, "rollup_1h").await,
        &raw_rows(pool, "1 hour").await,
    );
}

async fn write_all(store: &Store, batches: &[Batch]) {
    for batch in batches {
        store.write_batch(batch).await.unwrap();
    }
}

fn hour_start(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(Duration::hours(1)).unwrap()
}

async fn history(store: &Store, plan: HistoryPlan) -> Vec<SeriesHistory> {
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

fn assert_same_history(what: &str, got: &[SeriesHistory], want: &[SeriesHistory]) {
    assert_eq!(got.len(), want.len(), "{what}: series");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.labels, w.labels, "{what}");
        assert_eq!(g.buckets.len(), w.buckets.len(), "{what}: buckets");
        for (a, b) in g.buckets.iter().zip(&w.buckets) {
            let same = a.time == b.time
                && a.count == b.count
                && close(a.avg, b.avg)
                && a.min == b.min
                && a.max == b.max
                && a.last == b.last;
            assert!(same, "{what}: {a:?} != {b:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_equal_raw_aggregates_survive_replay_and_take_late_samples() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let store = Store::from_pool(env.pool.clone());
    let three_days_ago = Utc::now() - Duration::days(3);
    let start = hour_start(three_days_ago) - Duration::hours(3);
    let batches = random_batches(0x5eed_1234, start, 6);
    write_all(&store, &batches).await;
    assert_rollups_match_points(&env.pool).await;

    // History from each tier equals the raw answer over the same buckets.
    let end = start + Duration::hours(6);
    let raw = |step| HistoryPlan::new(start, end, Some(step), 10_000, Some(Resolution::Raw));
    let hourly = HistoryPlan::new(start, end, Some(3600), 10_000, None);
    assert_eq!(hourly.resolution, Resolution::Hour);
    assert_same_history(
        "step 1h",
        &history(&store, hourly).await,
        &history(&store, raw(3600)).await,
    );
    let minutes = HistoryPlan::new(start, end, Some(300), 10_000, None);
    assert_eq!(minutes.resolution, Resolution::Minute);
    assert_same_history(
        "step 5m",
        &history(&store, minutes).await,
        &history(&store, raw(300)).await,
    );

    // Replaying every batch (redelivery after a crash, cut differently) changes no roll-up.
    let before = (
        rollup_rows(&env.pool, "rollup_1m").await,
        rollup_rows(&env.pool, "rollup_1h").await,
    );
    let replay = Batch {
        samples: batches.iter().flat_map(|b| b.samples.clone()).collect(),
        ..Default::default()
    };
    for chunk in replay.samples.chunks(500) {
        let outcome = store
            .write_batch(&Batch {
                samples: chunk.to_vec(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(outcome.new_samples, 0);
        assert_eq!(outcome.points, 0);
    }
    let after = (
        rollup_rows(&env.pool, "rollup_1m").await,
        rollup_rows(&env.pool, "rollup_1h").await,
    );
    assert_eq!(before, after, "a replay changed the roll-ups");

    // A sample three days old arriving now lands in its minute and hour buckets.
    let minute: DateTime<Utc> = three_days_ago.duration_trunc(Duration::minutes(1)).unwrap();
    let late_time = minute + Duration::milliseconds(59_999);
    let count_at = |table: &'static str, bucket: DateTime<Utc>| {
        let pool = env.pool.clone();
        async move {
            sqlx::query_as::<_, (i32, f64, f64)>(sqlx::AssertSqlSafe(format!(
                "SELECT r.count, r.max, r.last_value FROM {table} r JOIN series s USING (series_id) \
                 WHERE s.labels = '{{\"core\": \"0\"}}' AND r.bucket_time = $1"
            )))
            .bind(bucket)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let (minute_count, _, _) = count_at("rollup_1m", minute).await;
    let (hour_count, _, _) = count_at("rollup_1h", hour_start(minute)).await;
    let late = Batch {
        samples: vec![sample(late_time, 1, &[12_345.5; SERIES])],
        ..Default::default()
    };
    store.write_batch(&late).await.unwrap();
    assert_eq!(
        count_at("rollup_1m", minute).await,
        (minute_count + 1, 12_345.5, 12_345.5),
        "the late sample is the newest and largest of its minute"
    );
    let (count, max, _) = count_at("rollup_1h", hour_start(minute)).await;
    assert_eq!((count, max), (hour_count + 1, 12_345.5));
    assert_rollups_match_points(&env.pool).await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_backfill_builds_the_same_rollups_as_live_upkeep() {
    let live = TestEnv::new("").await;
    live.migrate().await;
    let store = Store::from_pool(live.pool.clone());
    let start = hour_start(Utc::now()) - Duration::hours(30);
    write_all(&store, &random_batches(0xbac_f111, start, 3)).await;

    // An install from before roll-ups: migrations up to 0005, the same points, then upgrade.
    let old = TestEnv::new("").await;
    sqlx::migrate!("../store/migrations")
        .run_to(5, &old.pool)
        .await
        .unwrap();
    let old_store = Store::from_pool(old.pool.clone());
    let days = (0..3)
        .map(|h| (start + Duration::hours(h)).date_naive())
        .collect();
    old_store.ensure_raw_partitions(&days).await.unwrap();
    let series: Vec<(i32, String, String, String, String)> =
        sqlx::query_as("SELECT series_id, source, host, name, labels::text FROM series")
            .fetch_all(&live.pool)
            .await
            .unwrap();
    sqlx::query(
        "INSERT INTO series (series_id, source, host, name, labels) OVERRIDING SYSTEM VALUE \
         SELECT i, s, h, n, l::jsonb FROM UNNEST($1::int4[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u(i, s, h, n, l)",
    )
    .bind(series.iter().map(|s| s.0).collect::<Vec<_>>())
    .bind(series.iter().map(|s| s.1.clone()).collect::<Vec<_>>())
    .bind(series.iter().map(|s| s.2.clone()).collect::<Vec<_>>())
    .bind(series.iter().map(|s| s.3.clone()).collect::<Vec<_>>())
    .bind(series.iter().map(|s| s.4.clone()).collect::<Vec<_>>())
    .execute(&old.pool)
    .await
    .unwrap();
    let points: Vec<(DateTime<Utc>, i32, f64)> =
        sqlx::query_as("SELECT time, series_id, value FROM point_all")
            .fetch_all(&live.pool)
            .await
            .unwrap();
    sqlx::query(
        "INSERT INTO point (time, series_id, value) \
         SELECT * FROM UNNEST($1::timestamptz[], $2::int4[], $3::float8[])",
    )
    .bind(points.iter().map(|p| p.0).collect::<Vec<_>>())
    .bind(points.iter().map(|p| p.1).collect::<Vec<_>>())
    .bind(points.iter().map(|p| p.2).collect::<Vec<_>>())
    .execute(&old.pool)
    .await
    .unwrap();
    old_store.migrate().await.unwrap();

    for table in ["rollup_1m", "rollup_1h"] {
        assert_same_rows(
            table,
            &rollup_rows(&old.pool, table).await,
            &rollup_rows(&live.pool, table).await,
        );
    }
    assert_rollups_match_points(&old.pool).await;
    old.finish().await;
    live.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_names_the_tier_that_served_it_and_equals_raw() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let store = Store::from_pool(env.pool.clone());
    let start = hour_start(Utc::now()) - Duration::hours(8);
    write_all(&store, &random_batches(0x0415_7041, start, 4)).await;
    let _api = env.spawn("exporter-api", &[]);
    exporter_tests::wait_for_port(env.api_port, StdDuration::from_secs(20));

    let rfc = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let get = |from: DateTime<Utc>, to: DateTime<Utc>, extra: &str| {
        let path = format!(
            "/metrics/history?name={NAME}&from={}&to={}&{extra}",
            rfc(from),
            rfc(to)
        );
        let env = &env;
        async move {
            let (status, body) = env.get(&path).await;
            assert_eq!(status, 200, "{path}: {body}");
            body
        }
    };
    // The step picks the tier; a roll-up rounds the step up to whole buckets of its own.
    let (from, to) = (start + Duration::minutes(17), start + Duration::hours(6));
    for (extra, resolution, step) in [
        ("step=1h", "1h", 3600),
        ("step=2h", "1h", 7200),
        ("step=5m", "1m", 300),
        ("step=90s", "1m", 120),
        ("step=30s", "raw", 30),
        ("step=1h&resolution=raw", "raw", 3600),
        ("step=30s&resolution=1m", "1m", 60),
    ] {
        let body = get(from, to, extra).await;
        assert_eq!(body["resolution"], resolution, "{extra}: {body}");
        assert_eq!(body["step_seconds"], step, "{extra}");
    }
    let body = get(from, to, "step=1h").await;
    assert_eq!(body["from"], rfc(start), "from widened to its hour");

    // Fourteen days at step=1h: served by the hourly tier, the same buckets as the raw points.
    let from = start - Duration::days(14);
    for agg in ["avg", "min", "max", "last", "count"] {
        let tiered = get(from, to, &format!("step=1h&agg={agg}")).await;
        let raw = get(from, to, &format!("step=1h&agg={agg}&resolution=raw")).await;
        assert_eq!(tiered["resolution"], "1h");
        assert_eq!(raw["resolution"], "raw");
        let (tiered, raw) = (
            tiered["series"].as_array().unwrap(),
            raw["series"].as_array().unwrap(),
        );
        assert_eq!(tiered.len(), SERIES);
        assert_eq!(raw.len(), SERIES);
        for (t, r) in tiered.iter().zip(raw) {
            assert_eq!(t["labels"], r["labels"]);
            let (tp, rp) = (
                t["points"].as_array().unwrap(),
                r["points"].as_array().unwrap(),
            );
            assert_eq!(tp.len(), 4, "four hours of data: {t}");
            assert_eq!(tp.len(), rp.len());
            for (a, b) in tp.iter().zip(rp) {
                assert_eq!(a["time"], b["time"]);
                let (a, b) = (a["value"].as_f64().unwrap(), b["value"].as_f64().unwrap());
                assert!(close(a, b), "{agg}: {a} vs {b}");
            }
        }
    }
    env.finish().await;
}
