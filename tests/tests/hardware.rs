//! The hardware collector on a machine without a GPU: it keeps running, says why NVML is
//! unavailable, and still reports the board's power rails and temperatures (read from the
//! checked-in GH200 sysfs fixture) through the real bus and store.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use exporter_tests::{TestEnv, eventually, get_json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardware_without_nvml_reports_hwmon_end_to_end() {
    let env = TestEnv::new("").await;
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    let mut collector = env.spawn("exporter-collector", &["hardware"]);
    let _api = env.spawn("exporter-api", &[]);

    let body = env.first_host_sample("/metrics/hardware").await;
    let host = &body["hosts"][0];
    assert_eq!(host["host"], "test-host");
    let sample = &host["sample"];
    assert_eq!(sample["nvml"]["status"], "unavailable");
    let reason = sample["nvml"]["reason"].as_str().unwrap();
    assert!(reason.contains("libnvidia-ml"), "{reason}");
    assert_eq!(sample["gpus"], serde_json::json!([]));

    let rails: Vec<(String, f64)> = sample["power_sensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["label"].as_str().unwrap().to_owned(),
                p["power_watts"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(
        rails.contains(&("Module Power Socket 0".to_owned(), 612.345)),
        "{body}"
    );
    assert!(
        rails.contains(&("Grace Power Socket 0".to_owned(), 148.5)),
        "{rails:?}"
    );
    let nvme = sample["temperature_sensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["label"] == "nvme Composite")
        .unwrap()
        .clone();
    assert_eq!(nvme["celsius"], 38.85);
    assert_eq!(nvme["critical_celsius"], 89.85);

    // /health shows NVML's state per host, to a caller with the key.
    let (_, health) = get_json(&env.api_url("/health"), Some(&env.api_key)).await;
    let gpus = health["gpus"].as_array().unwrap();
    assert_eq!(gpus[0]["host"], "test-host");
    assert_eq!(gpus[0]["nvml"], "unavailable");
    assert!(gpus[0]["reason"].as_str().unwrap().contains("libnvidia-ml"));

    // Every numeric field has history, with its labels.
    let history = eventually("power history", Duration::from_secs(20), || async {
        let (status, body) = env
            .get(
                "/metrics/history?name=hwmon.power_watts&labels=sensor=Module%20Power%20Socket%200",
            )
            .await;
        (status == 200 && body["series"].as_array().is_some_and(|s| s.len() == 1)).then_some(body)
    })
    .await;
    assert_eq!(history["series"][0]["points"][0]["value"], 612.345);
    let (_, nvml_up) = env.get("/metrics/history?name=nvml.up&agg=max").await;
    assert_eq!(nvml_up["series"][0]["points"][0]["value"], 0.0);

    // No crash loop: still running three samples later, and the NVML warning was logged once.
    let samples = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM ingested_message WHERE source = 'hardware'",
        )
        .fetch_one(&env.pool)
        .await
        .unwrap()
    };
    let before = samples().await;
    eventually(
        "three more hardware samples",
        Duration::from_secs(20),
        || async { (samples().await >= before + 3).then_some(()) },
    )
    .await;
    assert!(collector.alive(), "{}", collector.output());
    assert_eq!(
        collector.output().matches("NVML unavailable").count(),
        1,
        "{}",
        collector.output()
    );
    env.finish().await;
}
