//! A counter's increase per bucket across a reset, against the real PostgreSQL: from the points
//! and from each roll-up, as rows and once compacted, a counter restarting mid-minute gives the
//! same steady increase as
//! Prometheus' `increase` (the value after a reset counts as its increase); `/metrics/history`
//! serves it per second as `agg=rate`, and refuses `rate` on a gauge with a 422 naming `agg`.

#![allow(clippy::unwrap_used)]

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, DurationRound, Utc};
use exporter_protocol::SeriesPoint;
use exporter_store::{Batch, Domain, HistoryPlan, HistoryQuery, IncomingSample, Resolution, Store};
use exporter_tests::TestEnv;

const COUNTER: &str = "gpu.energy_joules_total";
/// Joules per 5-second sample: 10 W.
const STEP_JOULES: f64 = 50.0;
/// The sample (1:30:15 after the start) at which the counter restarts.
const RESET_AT: i64 = 1083;

fn sample(time: DateTime<Utc>, seq: u64, value: f64) -> IncomingSample {
    IncomingSample {
        message_id: uuid::Uuid::new_v4(),
        subject: "exporter.v1.sample.hardware.test-host".into(),
        source: "hardware".into(),
        host: "test-host".into(),
        seq,
        time,
        body: serde_json::json!({}).into(),
        points: vec![SeriesPoint::labelled(COUNTER, "gpu", "0", value)],
        domain: Domain::None,
    }
}

/// Three hours of a counter at 5 s, far from zero, restarting mid-minute after 1:30:15; the
/// first value after the restart is one step (the counter restarted just after the previous
/// sample).
async fn write_counter(store: &Store, start: DateTime<Utc>) {
    let samples: Vec<IncomingSample> = (0..2160)
        .map(|i| {
            let value = if i < RESET_AT {
                1_000_000.0 + STEP_JOULES * i as f64
            } else {
                STEP_JOULES * (i - RESET_AT + 1) as f64
            };
            sample(start + Duration::seconds(5 * i), i as u64 + 1, value)
        })
        .collect();
    for chunk in samples.chunks(300) {
        store
            .write_batch(&Batch {
                samples: chunk.to_vec(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counters_increase_is_steady_across_a_reset_in_every_tier() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let store = Store::from_pool(env.pool.clone());
    let start = Utc::now().duration_trunc(Duration::hours(1)).unwrap() - Duration::hours(4);
    write_counter(&store, start).await;

    // The last two hours (the reset in the first), the sample before them looked up.
    let (from, to) = (start + Duration::hours(1), start + Duration::hours(3));
    for pass in ["rows", "compacted"] {
        if pass == "compacted" {
            // Closed hours into chunks, finished days of minutes too: the same answers.
            store.compact_raw(Utc::now()).await.unwrap();
            store.compact_rollups(Utc::now()).await.unwrap();
            let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM point")
                .fetch_one(&env.pool)
                .await
                .unwrap();
            assert!(
                rows < 720,
                "the closed hours were compacted: {rows} rows left"
            );
        }
        for (resolution, step) in [
            (Resolution::Raw, 60),
            (Resolution::Minute, 60),
            (Resolution::Minute, 600),
            (Resolution::Hour, 3600),
        ] {
            let plan = HistoryPlan::new(from, to, Some(step), 10_000, Some(resolution));
            let series = store
                .counter_increase(&HistoryQuery {
                    name: COUNTER.into(),
                    host: None,
                    labels: Default::default(),
                    from: plan.from,
                    to: plan.to,
                    step_seconds: plan.step_seconds,
                    resolution: plan.resolution,
                })
                .await
                .unwrap();
            assert_eq!(series.len(), 1);
            let buckets = &series[0].buckets;
            assert_eq!(
                buckets.len() as i64,
                7200 / step,
                "{resolution:?} step {step}"
            );
            for bucket in buckets {
                let rate = bucket.increase / step as f64;
                assert!(
                    (rate - 10.0).abs() < 1e-9,
                    "{pass}: {resolution:?} step {step} at {}: {rate} W",
                    bucket.time
                );
            }
        }
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agg_rate_serves_a_counter_per_second_and_refuses_a_gauge() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let store = Store::from_pool(env.pool.clone());
    let start = Utc::now().duration_trunc(Duration::hours(1)).unwrap() - Duration::hours(4);
    write_counter(&store, start).await;
    let _api = env.spawn("exporter-api", &[]);
    exporter_tests::wait_for_port(env.api_port, StdDuration::from_secs(20));

    let rfc = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (from, to) = (start + Duration::hours(1), start + Duration::hours(3));
    for (extra, resolution) in [
        ("step=1m&resolution=raw", "raw"),
        ("step=5m", "1m"),
        ("step=1h", "1h"),
    ] {
        let path = format!(
            "/metrics/history?name={COUNTER}&from={}&to={}&agg=rate&{extra}",
            rfc(from),
            rfc(to)
        );
        let (status, body) = env.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["agg"], "rate");
        assert_eq!(body["resolution"], resolution, "{extra}");
        let points = body["series"][0]["points"].as_array().unwrap();
        assert!(!points.is_empty(), "{body}");
        for point in points {
            let watts = point["value"].as_f64().unwrap();
            assert!((watts - 10.0).abs() < 1e-9, "{extra}: {point}");
        }
    }

    let (status, body) = env
        .get("/metrics/history?name=cpu.usage_percent&agg=rate")
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["parameter"], "agg", "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("counter"),
        "{body}"
    );
    env.finish().await;
}
