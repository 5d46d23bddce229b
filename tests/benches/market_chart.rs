//! A 10-year daily chart with every indicator, served from the store through the real API:
//! `GET /market/chart/BENCH?period=10y&interval=1d` over 2,520 stored bars, next to the plain
//! `SELECT` of the same bars in the same run (the baseline), as a ratio.
//!
//! Run: `cargo build --release --bins && cargo bench -p exporter-tests --bench market_chart`.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use chrono::Utc;
use exporter_tests::TestEnv;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: u32 = exporter_tests::bench_size("BENCH_RUNS", 50);
    let env = TestEnv::new("").await;
    env.migrate().await;
    let now = Utc::now();
    let bars = 2520;
    let times: Vec<_> = (0..bars)
        .rev()
        .map(|i| now - chrono::Duration::days(i64::from(i) * 365 / 252))
        .collect();
    let closes: Vec<f64> = (0..bars)
        .map(|i| 100.0 + (f64::from(i) / 30.0).sin() * 10.0 + f64::from(i) * 0.05)
        .collect();
    sqlx::query(
        "INSERT INTO bar (symbol, interval, time, open, high, low, close, adj_close, volume) \
         SELECT 'BENCH', '1d', t, c - 0.5, c + 1, c - 1, c, c, 1000000 FROM UNNEST($1::timestamptz[], $2::float8[]) AS u(t, c)",
    )
    .bind(&times)
    .bind(&closes)
    .execute(&env.pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO bar_coverage (symbol, interval, range_start, range_end) VALUES ('BENCH', '1d', $1, $2)")
        .bind(now - chrono::Duration::days(3700))
        .bind(now + chrono::Duration::days(1))
        .execute(&env.pool)
        .await
        .unwrap();

    let _api = env.spawn("exporter-api", &[]);
    exporter_tests::wait_for_port(env.api_port, Duration::from_secs(30));
    let client = reqwest::Client::new();
    let url = env.api_url("/market/chart/BENCH?period=10y&interval=1d");
    let chart = || async {
        let response = client
            .get(&url)
            .header("X-API-Key", &env.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["source"], "store");
        body["bars"].as_array().unwrap().len()
    };
    let served = chart().await;
    let started = Instant::now();
    for _ in 0..runs {
        chart().await;
    }
    let api = started.elapsed() / runs;

    let started = Instant::now();
    for _ in 0..runs {
        let rows: Vec<(chrono::DateTime<Utc>, f64)> = sqlx::query_as(
            "SELECT time, close FROM bar WHERE symbol = 'BENCH' AND interval = '1d' ORDER BY time",
        )
        .fetch_all(&env.pool)
        .await
        .unwrap();
        assert_eq!(rows.len(), bars as usize);
    }
    let baseline = started.elapsed() / runs;
    println!("10-year daily chart ({served} bars, all indicators) from the store, mean of {runs}:");
    println!(
        "  baseline SELECT of the bars:        {:>8.2} ms  x1.0",
        baseline.as_secs_f64() * 1000.0
    );
    println!(
        "  GET /market/chart (API, JSON):      {:>8.2} ms  x{:.1}",
        api.as_secs_f64() * 1000.0,
        api.as_secs_f64() / baseline.as_secs_f64()
    );
    env.finish().await;
}
