//! What a self-metric costs on a hot path, against the cheapest thing a hot path could do
//! instead (a relaxed atomic increment), measured in the same process and printed as ratios:
//! a cached counter, a gauge update, a histogram observation, the API's per-request lookup by
//! route and status, and one snapshot (taken once per interval) of 100 series.
//!
//! Run: `cargo bench -p exporter-runtime --bench self_metrics` (env `BENCH_OPS`, default
//! 2000000).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use exporter_protocol::HasSeries;
use exporter_protocol::self_metrics::{
    BATCH_COMMIT, CONSUMER_PENDING, DEAD_LETTERS, HTTP_REQUEST_DURATION, INGESTED_MESSAGES,
};
use exporter_runtime::self_metrics::Registry;

fn per_op(ops: u32, mut op: impl FnMut(u32)) -> Duration {
    for i in 0..ops / 10 {
        op(i);
    }
    let started = Instant::now();
    for i in 0..ops {
        op(i);
    }
    started.elapsed() / ops
}

fn main() {
    let ops: u32 = std::env::var("BENCH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let registry = Registry::new();
    let plain = AtomicU64::new(0);
    let baseline = per_op(ops, |_| {
        black_box(&plain).fetch_add(1, Ordering::Relaxed);
    });
    let counter = registry.counter(&INGESTED_MESSAGES, &[]);
    let counter_inc = per_op(ops, |_| black_box(&counter).inc());
    let gauge = registry.gauge(&CONSUMER_PENDING, &[]);
    let gauge_add = per_op(ops, |_| black_box(&gauge).add(1.0));
    let histogram = registry.histogram(&BATCH_COMMIT, &[]);
    let observe = per_op(ops, |i| {
        black_box(&histogram).observe(f64::from(i % 1000) / 1000.0);
    });
    let routes = ["/metrics/system", "/metrics/history", "/alerts/{alert_id}"];
    let request = per_op(ops, |i| {
        registry
            .histogram(
                &HTTP_REQUEST_DURATION,
                &[("route", routes[i as usize % 3]), ("status", "200")],
            )
            .observe(0.002);
    });
    for i in 0..90 {
        registry
            .counter(&DEAD_LETTERS, &[("reason", &format!("r{i}"))])
            .inc();
    }
    let snapshots = (ops / 1000).max(10);
    let snapshot = per_op(snapshots, |_| {
        black_box(registry.snapshot("bench").series());
    });
    let ratio = |d: Duration| d.as_secs_f64() / baseline.as_secs_f64().max(1e-12);
    println!("baseline relaxed atomic increment: {baseline:?} per op");
    println!(
        "counter inc (cached handle):   {:>8.1}x baseline",
        ratio(counter_inc)
    );
    println!(
        "gauge add (compare-exchange):  {:>8.1}x baseline",
        ratio(gauge_add)
    );
    println!(
        "histogram observe (mutex):     {:>8.1}x baseline",
        ratio(observe)
    );
    println!(
        "API request: lookup + observe: {:>8.1}x baseline",
        ratio(request)
    );
    println!(
        "snapshot + flatten, {} series:  {:>8.1}x baseline (once per interval)",
        registry.snapshot("bench").series().len(),
        ratio(snapshot)
    );
}
