//! Freshness, shared by the benchmarks that print it: how long after its time a sample is
//! visible in `/metrics/system`, through the real system collector (1 s interval), JetStream,
//! the aggregator (with the shipped `batch_max_wait_ms: 200`) and the API, polled every 10 ms;
//! each new sample time is timed when it is first seen.

// Each benchmark uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use exporter_tests::TestEnv;

/// The shipped `aggregator.batch_max_wait_ms`.
pub const BATCH_MAX_WAIT_MS: f64 = 200.0;

/// Latencies in milliseconds of the samples seen over `seconds`, sorted (the first sample, which
/// may predate the first poll, left out).
pub async fn latencies(seconds: u64) -> Vec<f64> {
    let env = TestEnv::new("").await;
    let yaml = std::fs::read_to_string(&env.settings_path).unwrap();
    assert!(yaml.contains("batch_max_wait_ms: 50"));
    std::fs::write(
        &env.settings_path,
        yaml.replace("batch_max_wait_ms: 50", "batch_max_wait_ms: 200"),
    )
    .unwrap();
    env.migrate().await;
    let aggregator = env.spawn("exporter-aggregator", &[]);
    let api = env.spawn("exporter-api", &[]);
    env.heartbeat("aggregator").await;
    let collector = env.spawn("exporter-collector", &["system"]);

    let client = reqwest::Client::new();
    let url = env.api_url("/metrics/system");
    let mut seen: BTreeMap<DateTime<Utc>, f64> = BTreeMap::new();
    let end = tokio::time::Instant::now() + Duration::from_secs(seconds + 5);
    while tokio::time::Instant::now() < end {
        let response = client
            .get(&url)
            .header("X-API-Key", &env.api_key)
            .send()
            .await;
        if let Ok(response) = response {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let time = body["hosts"][0]["time"]
                .as_str()
                .and_then(|t| t.parse::<DateTime<Utc>>().ok());
            if let Some(time) = time {
                let now = Utc::now();
                seen.entry(time)
                    .or_insert_with(|| (now - time).num_microseconds().unwrap_or(0) as f64 / 1e3);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop((collector, api, aggregator));
    env.finish().await;
    let mut latencies: Vec<f64> = seen.values().skip(1).copied().collect();
    latencies.sort_by(f64::total_cmp);
    assert!(latencies.len() >= 5, "too few samples seen: {latencies:?}");
    latencies
}

/// The `q` quantile of sorted `latencies`.
pub fn quantile(latencies: &[f64], q: f64) -> f64 {
    latencies[((latencies.len() - 1) as f64 * q).round() as usize]
}

/// p50, p99 and how many samples, over `seconds`.
pub async fn measure(seconds: u64) -> (f64, f64, usize) {
    let latencies = latencies(seconds).await;
    (
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.99),
        latencies.len(),
    )
}
