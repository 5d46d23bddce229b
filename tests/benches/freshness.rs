//! Freshness benchmark: how long after its time a sample is visible in `/metrics/system`, through
//! the real system collector (1 s interval), JetStream, the aggregator (with the shipped
//! `batch_max_wait_ms: 200`) and the API. The API is polled every 10 ms; each new sample time
//! is timed when it is first seen. Prints p50, p90, p99 and the max, each also as a ratio to
//! `batch_max_wait_ms` (the floor of the old "wait for a full batch" pull) and to the 100 ms
//! target.
//!
//! Needs the same services as the tests. Run: `cargo bench -p exporter-tests --bench freshness`
//! (env `BENCH_SECONDS`, default 30).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use exporter_tests::{TestEnv, bench_size};

const BATCH_MAX_WAIT_MS: f64 = 200.0;

#[tokio::main]
async fn main() {
    let seconds: u64 = bench_size("BENCH_SECONDS", 30);
    let env = TestEnv::new("").await;
    let yaml = std::fs::read_to_string(&env.settings_path).unwrap();
    assert!(yaml.contains("batch_max_wait_ms: 50"));
    std::fs::write(
        &env.settings_path,
        yaml.replace("batch_max_wait_ms: 50", "batch_max_wait_ms: 200"),
    )
    .unwrap();
    env.migrate().await;
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    let _api = env.spawn("exporter-api", &[]);
    env.heartbeat("aggregator").await;
    let _collector = env.spawn("exporter-collector", &["system"]);

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
    // The first sample may predate the first poll: leave it out.
    let mut latencies: Vec<f64> = seen.values().skip(1).copied().collect();
    latencies.sort_by(f64::total_cmp);
    assert!(latencies.len() >= 5, "too few samples seen: {latencies:?}");
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "freshness over {} samples (sample time -> visible in /metrics/system, 10 ms polling):",
        latencies.len()
    );
    for (name, value) in [
        ("p50", at(0.5)),
        ("p90", at(0.9)),
        ("p99", at(0.99)),
        ("max", at(1.0)),
    ] {
        println!(
            "  {name}: {value:>7.1} ms  ({:.2}x batch_max_wait, {:.2}x the 100 ms target)",
            value / BATCH_MAX_WAIT_MS,
            value / 100.0
        );
    }
    env.finish().await;
}
