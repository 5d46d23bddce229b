//! The trading endpoints right after a new fill, over 1,000,000 stored fills (env
//! `BENCH_FILLS`), through the real API process and PostgreSQL: for each of
//! `/trades/statistics`, `/trades/history` (first page), `/trades/daily-pnl`,
//! `/trades/pnl-calendar` and `/trades/fills` (first page, and a symbol's first page), a round stores one new fill through the store's write path (as the
//! aggregator does) and then calls the endpoint; the median over `BENCH_ROUNDS` rounds (default
//! 15) is printed as a ratio to the baseline measured in the same run, a plain
//! `SELECT sum(price * quantity)` over the same fill table (median of its own rounds). The
//! target is at most 0.5× for each. Also printed: the first call (the API builds its ledger
//! from every fill) and `/trades/statistics` after a late fill (a day older than the newest);
//! and, for the fill pages, the store's page-and-count (two statements, concurrently) next to a
//! single statement counting with `count(*) OVER ()`.
//!
//! Run by hand (not in CI): `cargo build --release --bins && cargo bench -p exporter-tests
//! --bench trading_endpoints` (`BENCH_FILLS=100000` for a quick look). The first call and the
//! COPY of the fills take most of the few minutes it runs.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use exporter_protocol::brokerage::FillRecord;
use exporter_store::{Batch, Store};
use exporter_tests::TestEnv;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let count: usize = exporter_tests::bench_size("BENCH_FILLS", 1_000_000);
    let rounds: usize = exporter_tests::bench_size("BENCH_ROUNDS", 15);
    let env = TestEnv::new("").await;
    env.migrate().await;
    let store = Store::from_pool(env.pool.clone());

    let fills = exporter_trading::sample_fills(count, 42);
    let newest = fills.iter().map(|f| f.time).max().unwrap();
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
    drop(fills);
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
    drop(text);
    sqlx::query("ANALYZE fill")
        .execute(&env.pool)
        .await
        .unwrap();

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
            let body = response.bytes().await.unwrap();
            (started.elapsed(), body)
        }
    };
    // One new fill, through the store's write path: a round trip of 1 share of AAPL a minute
    // after the newest (a buy then a sell, so every other fill closes a trade).
    let mut added = 0_i64;
    let mut add_fill = |late: bool| {
        added += 1;
        let time = if late {
            newest - TimeDelta::days(1) + TimeDelta::milliseconds(added)
        } else {
            newest + TimeDelta::minutes(added)
        };
        let fill = FillRecord {
            id: format!("bench-{added}"),
            symbol: if late { "MSFT" } else { "BENCH" }.into(),
            side: if added % 2 == 1 { "buy" } else { "sell" }.into(),
            quantity: rust_decimal::Decimal::ONE,
            price: rust_decimal::Decimal::new(10_000 + added, 2),
            fee: rust_decimal::Decimal::ZERO,
            time,
            order_id: None,
            strategy: None,
        };
        let store = store.clone();
        async move {
            store
                .write_batch(&Batch {
                    ingest_fills: vec![fill],
                    ..Batch::default()
                })
                .await
                .unwrap();
        }
    };

    let (first_call, stats) = call("/trades/statistics").await;
    let stats: serde_json::Value = serde_json::from_slice(&stats).unwrap();

    let mut baseline = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let _: (rust_decimal::Decimal,) = sqlx::query_as("SELECT sum(price * quantity) FROM fill")
            .fetch_one(&env.pool)
            .await
            .unwrap();
        baseline.push(started.elapsed());
    }
    let baseline = median(baseline);

    let endpoints: [(&str, &'static str); 6] = [
        ("/trades/statistics", "/trades/statistics"),
        ("/trades/history (first page)", "/trades/history?limit=100"),
        ("/trades/daily-pnl", "/trades/daily-pnl"),
        (
            "/trades/pnl-calendar (year)",
            "/trades/pnl-calendar?year=2026",
        ),
        ("/trades/fills (first page)", "/trades/fills?limit=100"),
        (
            "/trades/fills?symbol=MSFT (first page)",
            "/trades/fills?symbol=MSFT&limit=100",
        ),
    ];
    let mut medians = Vec::new();
    for (name, path) in endpoints {
        let mut samples = Vec::new();
        for _ in 0..rounds {
            add_fill(false).await;
            samples.push(call(path).await.0);
        }
        medians.push((name, median(samples)));
    }
    let mut late = Vec::new();
    for _ in 0..rounds {
        add_fill(true).await;
        late.push(call("/trades/statistics").await.0);
    }
    let late = median(late);

    // The fill page as the store reads it (page and count, two statements at once) against one
    // statement counting with a window.
    let mut fill_pages = Vec::new();
    for symbol in [None, Some("MSFT")] {
        let query = exporter_store::FillQuery {
            symbol: symbol.map(Into::into),
            side: None,
            strategy: None,
            start_day: None,
            end_day: None,
            timezone: chrono_tz::America::New_York,
            limit: Some(100),
            offset: 0,
        };
        let (mut two, mut window) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let started = Instant::now();
            let page = store.fill_page(&query).await.unwrap();
            two.push(started.elapsed());
            let started = Instant::now();
            let rows: Vec<(String, i64)> = sqlx::query_as(
                "SELECT fill_id, count(*) OVER () FROM fill \
                 WHERE ($1::text IS NULL OR symbol = $1) \
                 ORDER BY time DESC, fill_id DESC LIMIT 100",
            )
            .bind(symbol)
            .fetch_all(&env.pool)
            .await
            .unwrap();
            window.push(started.elapsed());
            assert_eq!(rows.first().map(|r| r.1), Some(page.total));
        }
        fill_pages.push((symbol, median(two), median(window)));
    }

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let ratio = |d: Duration| d.as_secs_f64() / baseline.as_secs_f64();
    println!(
        "trading endpoints over {count} fills ({} closed trades), median of {rounds} rounds, \
         each right after a new fill stored through the store:",
        stats["closed_trades"]
    );
    println!(
        "  baseline SELECT sum(price*quantity) FROM fill:  {:>9.2} ms  x1.00",
        ms(baseline)
    );
    for (name, took) in &medians {
        println!(
            "  {name:<46} {:>9.2} ms  x{:.2}{}",
            ms(*took),
            ratio(*took),
            if ratio(*took) <= 0.5 {
                ""
            } else {
                "  (above the 0.5 target)"
            }
        );
    }
    println!(
        "  {:<46} {:>9.2} ms  x{:.2}",
        "/trades/statistics after a late fill",
        ms(late),
        ratio(late)
    );
    for (symbol, two, window) in &fill_pages {
        let name = symbol.map_or("fill page".to_owned(), |s| format!("fill page of {s}"));
        println!(
            "  store: {name:<39} {:>9.2} ms  x{:.2} (page and count); {:.2} ms x{:.2} with \
             count(*) OVER ()",
            ms(*two),
            ratio(*two),
            ms(*window),
            ratio(*window)
        );
    }
    println!(
        "  {:<46} {:>9.1} ms  x{:.1}",
        "first call (the API builds its ledger)",
        ms(first_call),
        ratio(first_call)
    );
    env.finish().await;
}
