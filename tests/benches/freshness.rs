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

#[path = "common/freshness.rs"]
mod freshness;

use exporter_tests::bench_size;
use freshness::{BATCH_MAX_WAIT_MS, quantile};

#[tokio::main]
async fn main() {
    let seconds: u64 = bench_size("BENCH_SECONDS", 30);
    let latencies = freshness::latencies(seconds).await;
    let at = |q: f64| quantile(&latencies, q);
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
}
