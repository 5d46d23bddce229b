//! The collector of "Adding a collector" (docs/architecture.md), end to end: `exporter-collector
//! pressure` reads a fixture `/proc/pressure`, and its series come back from `/metrics/history`
//! through the real bus and store, labelled by resource and scope.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use exporter_tests::{TestEnv, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pressure_series_come_back_from_history() {
    let proc_root = tempfile::tempdir().unwrap();
    let pressure = proc_root.path().join("pressure");
    std::fs::create_dir(&pressure).unwrap();
    std::fs::write(
        pressure.join("cpu"),
        "some avg10=12.50 avg60=6.25 avg300=1.00 total=2500000\n\
         full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    )
    .unwrap();
    std::fs::write(
        pressure.join("io"),
        "some avg10=3.00 avg60=2.00 avg300=1.00 total=7000000\n\
         full avg10=1.50 avg60=1.00 avg300=0.50 total=4000000\n",
    )
    .unwrap();
    // No memory file: that resource is left out, the rest still reported.
    let env = TestEnv::new(&format!(
        "collectors:\n  heartbeat_interval_seconds: 1\n  pressure:\n    enabled: true\n    \
         interval_seconds: 1\n    proc_root: {}\n",
        proc_root.path().display()
    ))
    .await;
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    let mut collector = env.spawn("exporter-collector", &["pressure"]);
    let _api = env.spawn("exporter-api", &[]);

    let history = eventually("pressure history", Duration::from_secs(30), || async {
        let (status, body) = env
            .get("/metrics/history?name=pressure.avg10_percent&labels=resource=cpu,scope=some")
            .await;
        let points = body["series"][0]["points"].as_array().map_or(0, Vec::len);
        (status == 200 && points >= 1).then_some(body)
    })
    .await;
    let series = &history["series"][0];
    assert_eq!(series["host"], "test-host");
    assert_eq!(series["labels"]["resource"], "cpu");
    assert_eq!(series["points"][0]["value"].as_f64().unwrap(), 12.5);

    let (status, stalled) = env
        .get("/metrics/history?name=pressure.stalled_seconds_total&labels=resource=io,scope=full&agg=max")
        .await;
    assert_eq!(status, 200, "{stalled}");
    assert_eq!(
        stalled["series"][0]["points"][0]["value"].as_f64().unwrap(),
        4.0
    );
    let (_, memory) = env
        .get("/metrics/history?name=pressure.avg10_percent&labels=resource=memory")
        .await;
    assert_eq!(memory["series"], serde_json::json!([]), "{memory}");
    collector.kill();
    env.finish().await;
}
