//! `/trades/statistics` and `/trades/pnl-calendar` over 1,000,000 fills (env `BENCH_FILLS`),
//! through the real API process and PostgreSQL: the first call (loads every fill and builds the
//! trades), a repeated call (trades cached until the fills change), and as the baseline in the
//! same run a plain `SELECT sum(price * quantity)` over the same table.
//!
//! Run: `cargo build --release --bins && cargo bench -p exporter-tests --bench trading_endpoints`.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use exporter_tests::TestEnv;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let count: usize = exporter_tests::bench_size("BENCH_FILLS", 1_000_000);
    let env = TestEnv::new("").await;
    env.migrate().await;

    let fills = exporter_trading::sample_fills(count, 42);
    let mut text = String::with_capacity(count * 96);
    for f in &fills {
        let side = match f.side {
            exporter_trading::Side::Buy => "buy",
            exporter_trading::Side::Sell => "sell",
        };
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\tbroker\n",
            f.id,
            f.symbol,
            side,
            f.quantity,
            f.price,
            f.fee,
            f.time.to_rfc3339()
        ));
    }
    let mut conn = env.pool.acquire().await.unwrap();
    let mut copy = conn
        .copy_in_raw(
            "COPY fill (fill_id, symbol, side, quantity, price, fee, time, origin) FROM STDIN",
        )
        .await
        .unwrap();
    copy.send(text.as_bytes()).await.unwrap();
    copy.finish().await.unwrap();
    drop(conn);

    let _api = env.spawn("exporter-api", &[]);
    exporter_tests::wait_for_port(env.api_port, Duration::from_secs(30));
    let client = reqwest::Client::new();
    let call = |path: &'static str| {
        let client = client.clone();
        let url = env.api_url(path);
        let key = env.api_key.clone();
        async move {
            let started = Instant::now();
            let response = client
                .get(url)
                .header("X-API-Key", key)
                .timeout(Duration::from_secs(600))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let body: serde_json::Value = response.json().await.unwrap();
            (started.elapsed(), body)
        }
    };

    let started = Instant::now();
    let _: (rust_decimal::Decimal,) = sqlx::query_as("SELECT sum(price * quantity) FROM fill")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    let baseline = started.elapsed();

    let (stats_cold, stats) = call("/trades/statistics").await;
    let (stats_warm, _) = call("/trades/statistics").await;
    let (calendar_year, _) = call("/trades/pnl-calendar?year=2026").await;
    let (calendar_month, _) = call("/trades/pnl-calendar?year=2026&month=3").await;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let ratio = |d: Duration| d.as_secs_f64() / baseline.as_secs_f64();
    println!(
        "trading endpoints over {count} fills ({} closed trades):",
        stats["closed_trades"]
    );
    println!(
        "  baseline SELECT sum(price*quantity):            {:>9.1} ms  x1.0",
        ms(baseline)
    );
    println!(
        "  /trades/statistics, first call (load + build):  {:>9.1} ms  x{:.1}",
        ms(stats_cold),
        ratio(stats_cold)
    );
    println!(
        "  /trades/statistics, trades cached:              {:>9.1} ms  x{:.1}",
        ms(stats_warm),
        ratio(stats_warm)
    );
    println!(
        "  /trades/pnl-calendar?year (cached):             {:>9.1} ms  x{:.1}",
        ms(calendar_year),
        ratio(calendar_year)
    );
    println!(
        "  /trades/pnl-calendar?year&month (cached):       {:>9.1} ms  x{:.1}",
        ms(calendar_month),
        ratio(calendar_month)
    );
    env.finish().await;
}
