//! The exporter's own metrics, end to end: the aggregator, the system collector and the API
//! each publish their self-metrics over the real bus, the aggregator stores them like any other
//! sample, and `/metrics/history` serves them labelled by process; under `exporter up` the
//! supervisor counts restarts and the alert engine its evaluations. A self-metrics message of a
//! shape this build cannot read becomes a dead letter and ingest goes on.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use exporter_protocol::Envelope;
use exporter_tests::{TestEnv, eventually};

/// Settings with every interval at 1 s (self-metrics, heartbeats, the system and hardware
/// collectors on the sysfs fixture) and `extra` appended.
fn fast(extra: &str) -> String {
    format!(
        "collectors:\n  heartbeat_interval_seconds: 1\n  self_metrics_interval_seconds: 1\n  \
         system:\n    interval_seconds: 1\n  hardware:\n    interval_seconds: 1\n    \
         sysfs_root: {}\n{extra}",
        exporter_tests::sysfs_fixture().display()
    )
}

/// The values of the one series `name` with `labels`, oldest first (the last of each step).
async fn values(env: &TestEnv, name: &str, labels: &str) -> Vec<f64> {
    let (status, body) = env
        .get(&format!(
            "/metrics/history?name={name}&labels={labels}&agg=last"
        ))
        .await;
    if status != 200 {
        return Vec::new();
    }
    body["series"][0]["points"]
        .as_array()
        .map(|points| points.iter().filter_map(|p| p["value"].as_f64()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_reports_its_own_metrics_through_the_store() {
    let env = TestEnv::new(&fast("")).await;
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    let _collector = env.spawn("exporter-collector", &["system"]);
    let _api = env.spawn("exporter-api", &[]);

    // The aggregator's ingested-message counter grows from snapshot to snapshot.
    let ingested = eventually(
        "three increasing snapshots of exporter.ingested_messages_total",
        Duration::from_secs(40),
        || async {
            let values = values(
                &env,
                "exporter.ingested_messages_total",
                "process=aggregator",
            )
            .await;
            (values.len() >= 3 && values.last() > values.first()).then_some(values)
        },
    )
    .await;
    assert!(
        ingested.windows(2).all(|w| w[0] <= w[1]),
        "a counter never goes down: {ingested:?}"
    );

    // The aggregator's other series, and the collector's publish latency, are there too.
    for (name, labels) in [
        ("exporter.ingested_points_total", "process=aggregator"),
        ("exporter.batch_commit_seconds_count", "process=aggregator"),
        ("exporter.consumer_pending_messages", "process=aggregator"),
        (
            "exporter.publish_latency_seconds_count",
            "process=collector-system",
        ),
        (
            "exporter.collection_cycle_seconds_sum",
            "process=collector-system",
        ),
    ] {
        let last = eventually(name, Duration::from_secs(20), || async {
            values(&env, name, labels).await.last().copied()
        })
        .await;
        assert!(last >= 0.0, "{name}: {last}");
    }
    let points = values(&env, "exporter.ingested_points_total", "process=aggregator").await;
    assert!(
        points.last().is_some_and(|p| *p > 0.0),
        "system samples have points: {points:?}"
    );

    // The system collector's buffer gauge and cycle histogram.
    let buffered = eventually(
        "exporter.buffered_samples of collector-system",
        Duration::from_secs(20),
        || async {
            let values = values(
                &env,
                "exporter.buffered_samples",
                "process=collector-system",
            )
            .await;
            (!values.is_empty()).then_some(values)
        },
    )
    .await;
    assert!(buffered.iter().all(|v| *v >= 0.0), "{buffered:?}");
    let cycles = eventually(
        "exporter.collection_cycle_seconds_count of collector-system",
        Duration::from_secs(20),
        || async {
            let values = values(
                &env,
                "exporter.collection_cycle_seconds_count",
                "process=collector-system",
            )
            .await;
            values.last().copied().filter(|count| *count >= 1.0)
        },
    )
    .await;
    let (_, inf) = env
        .get(
            "/metrics/history?name=exporter.collection_cycle_seconds_bucket\
             &labels=process=collector-system,le=%2BInf&agg=max",
        )
        .await;
    assert!(
        inf["series"][0]["points"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "the +Inf bucket is stored: {inf}"
    );
    assert!(cycles >= 1.0);

    // A few requests to one route show up in the API's histogram, by route template and status.
    for _ in 0..3 {
        let (status, _) = env.get("/metrics/system").await;
        assert_eq!(status, 200);
    }
    let (status, _) = env
        .get("/alerts/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(status, 404);
    let requests = eventually(
        "exporter.http_request_duration_seconds_count of /metrics/system",
        Duration::from_secs(20),
        || async {
            let values = values(
                &env,
                "exporter.http_request_duration_seconds_count",
                "process=api,route=/metrics/system,status=200",
            )
            .await;
            values.last().copied().filter(|count| *count >= 3.0)
        },
    )
    .await;
    assert!(requests >= 3.0);
    eventually(
        "the 404 of /alerts/{alert_id} under its route template",
        Duration::from_secs(20),
        || async {
            let values = values(
                &env,
                "exporter.http_request_duration_seconds_count",
                "process=api,route=/alerts/%7Balert_id%7D,status=404",
            )
            .await;
            (!values.is_empty()).then_some(())
        },
    )
    .await;

    // An open event stream is counted while it is open.
    let stream = reqwest::Client::new()
        .get(env.api_url("/alerts/stream"))
        .header("X-API-Key", &env.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let sse = |open: f64| {
        let env = &env;
        async move {
            let values = values(env, "exporter.sse_streams", "process=api").await;
            (values.last() == Some(&open)).then_some(())
        }
    };
    eventually("exporter.sse_streams at 1", Duration::from_secs(20), || {
        sse(1.0)
    })
    .await;
    drop(stream);
    eventually(
        "exporter.sse_streams back to 0",
        Duration::from_secs(20),
        || sse(0.0),
    )
    .await;

    // Every process keeps its own latest snapshot (one publisher per process, not per host).
    let processes = eventually(
        "a latest exporter sample of each process",
        Duration::from_secs(20),
        || async {
            let (_, all) = env.get("/metrics/all").await;
            let mut processes: Vec<String> = all["sources"]["exporter"]
                .as_array()?
                .iter()
                .filter_map(|s| s["sample"]["process"].as_str().map(str::to_owned))
                .collect();
            processes.sort();
            (processes.len() == 3).then_some(processes)
        },
    )
    .await;
    assert_eq!(processes, ["aggregator", "api", "collector-system"]);

    // /health lists collectors' freshness only: the processes' own snapshots are not one.
    let (_, health) = env.get("/health").await;
    let sources: Vec<&str> = health["collectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["source"].as_str())
        .collect();
    assert!(sources.contains(&"system"), "{health}");
    assert!(!sources.contains(&"exporter"), "{health}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_metrics_sample_of_an_unknown_shape_is_a_dead_letter_and_ingest_goes_on() {
    let env = TestEnv::new(&fast("")).await;
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    let _api = env.spawn("exporter-api", &[]);
    env.heartbeat("aggregator").await;
    let js = env.jetstream().await;
    let subject = "exporter.v1.sample.exporter.test-host";
    // An older or broken shape: no process, counters not a list.
    let broken = Envelope::new(
        "test-host",
        "exporter",
        1,
        serde_json::json!({"counters": 7}),
    );
    // A newer build's snapshot: an unknown metric and an unknown field are no harm.
    let newer = Envelope::new(
        "elsewhere",
        "exporter",
        1,
        serde_json::json!({
            "process": "collector-future",
            "counters": [
                {"name": "brand_new_total", "value": 1.0},
                {"name": "dropped_samples_total", "value": 4.0}
            ],
            "exemplars": []
        }),
    );
    for envelope in [&broken, &newer] {
        js.publish(subject, serde_json::to_vec(envelope).unwrap().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }

    let reason: String = eventually("the dead letter", Duration::from_secs(20), || async {
        sqlx::query_scalar("SELECT reason FROM dead_letter")
            .fetch_optional(&env.pool)
            .await
            .ok()
            .flatten()
    })
    .await;
    assert!(reason.contains("exporter body does not parse"), "{reason}");
    let dropped = eventually(
        "the newer snapshot's known counter",
        Duration::from_secs(20),
        || async {
            values(
                &env,
                "exporter.dropped_samples_total",
                "process=collector-future",
            )
            .await
            .last()
            .copied()
        },
    )
    .await;
    assert_eq!(dropped, 4.0);
    let (_, unknown) = env
        .get("/metrics/history?name=exporter.brand_new_total")
        .await;
    assert!(
        unknown["series"].as_array().is_none_or(|s| s.is_empty()),
        "a metric this build does not know makes no series: {unknown}"
    );

    // Ingest goes on, and the aggregator counts the dead letter by its category.
    let categories = eventually(
        "exporter.dead_letters_total{reason=invalid_body}",
        Duration::from_secs(20),
        || async {
            values(
                &env,
                "exporter.dead_letters_total",
                "process=aggregator,reason=invalid_body",
            )
            .await
            .last()
            .copied()
            .filter(|count| *count >= 1.0)
        },
    )
    .await;
    assert_eq!(categories, 1.0);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_supervisor_counts_restarts_and_the_alert_engine_its_evaluations() {
    let env = TestEnv::new(&fast("alerts:\n  evaluation_interval_seconds: 1\n")).await;
    let mut up = env.spawn("exporter", &["up"]);
    env.stored_sample("system").await;
    let (collector_pid, _) = eventually(
        "the system collector running",
        Duration::from_secs(30),
        || async {
            exporter_tests::children_of(up.pid())
                .into_iter()
                .find(|(_, cmd)| cmd.contains("exporter-collector system"))
        },
    )
    .await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(collector_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let restarts = eventually(
        "exporter.process_restarts_total of collector-system",
        Duration::from_secs(40),
        || async {
            values(
                &env,
                "exporter.process_restarts_total",
                "process=supervisor,child=collector-system",
            )
            .await
            .last()
            .copied()
            .filter(|count| *count >= 1.0)
        },
    )
    .await;
    assert_eq!(restarts, 1.0);

    // The aggregator's alert engine times its evaluations and counts its rules by state.
    let evaluations = eventually(
        "exporter.alert_evaluation_seconds_count of the aggregator",
        Duration::from_secs(20),
        || async {
            values(
                &env,
                "exporter.alert_evaluation_seconds_count",
                "process=aggregator",
            )
            .await
            .last()
            .copied()
            .filter(|count| *count >= 2.0)
        },
    )
    .await;
    assert!(evaluations >= 2.0);
    let inactive = values(
        &env,
        "exporter.alert_rules",
        "process=aggregator,state=inactive",
    )
    .await;
    assert!(
        inactive.last().is_some_and(|rules| *rules >= 1.0),
        "the shipped rules are counted: {inactive:?}"
    );
    up.signal(nix::sys::signal::Signal::SIGTERM);
    up.wait_exit(Duration::from_secs(20));
    env.finish().await;
}
