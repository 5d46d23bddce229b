//! The API keeps its trades in a ledger built once and advanced with the fills stored since.
//! Fills stored after it was built (a new one, a late one older than the newest, a corrected
//! fee) and a fee activity naming an order show in the statistics, the history, the daily P&L,
//! the calendar, the open trades and the cash flows exactly as a fresh API process (which
//! builds from every fill) answers them, byte for byte, with the numbers worked out here.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use exporter_protocol::brokerage::FillRecord;
use exporter_store::{Batch, Store};
use exporter_tests::{TestEnv, eventually};
use serde_json::Value;

fn fill(
    id: &str,
    symbol: &str,
    side: &str,
    qty: &str,
    price: &str,
    fee: &str,
    time: &str,
) -> FillRecord {
    FillRecord {
        id: id.into(),
        symbol: symbol.into(),
        side: side.into(),
        quantity: qty.parse().unwrap(),
        price: price.parse().unwrap(),
        fee: fee.parse().unwrap(),
        time: time.parse().unwrap(),
        order_id: Some(format!("o-{id}")),
        strategy: None,
    }
}

/// A money string as a number (its scale is the fills' own: "50" and "50.00" are both money).
fn money(value: &Value) -> rust_decimal::Decimal {
    value.as_str().unwrap().parse().unwrap()
}

fn d(text: &str) -> rust_decimal::Decimal {
    text.parse().unwrap()
}

async fn store_fills(store: &Store, fills: Vec<FillRecord>) {
    store
        .write_batch(&Batch {
            ingest_fills: fills,
            ..Batch::default()
        })
        .await
        .unwrap();
}

const PATHS: [&str; 11] = [
    "/trades/statistics",
    "/trades/statistics?symbol=AAPL",
    "/trades/history",
    "/trades/history?limit=1&offset=1",
    "/trades/history?symbol=AAPL&side=short",
    "/trades/daily-pnl",
    "/trades/daily-pnl?start_date=2026-03-03&end_date=2026-03-05",
    "/trades/pnl-calendar?year=2026",
    "/trades/pnl-calendar?year=2026&month=3",
    "/trades/active",
    "/trades/cash-flows",
];

/// The body of every path from the API on `port`.
async fn answers(port: &str, key: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut bodies = Vec::new();
    for path in PATHS {
        let response = client
            .get(format!("http://127.0.0.1:{port}{path}"))
            .header("X-API-Key", key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        bodies.push(response.text().await.unwrap());
    }
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fills_stored_after_the_ledger_was_built_answer_as_a_fresh_build() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let store = Store::from_pool(env.pool.clone());
    store_fills(
        &store,
        vec![
            fill(
                "a1",
                "AAPL",
                "buy",
                "10",
                "100",
                "0",
                "2026-03-02T15:00:00Z",
            ),
            fill(
                "a2",
                "AAPL",
                "sell",
                "10",
                "110",
                "0",
                "2026-03-02T16:00:00Z",
            ),
            fill("m1", "MSFT", "buy", "2", "400", "0", "2026-03-03T15:00:00Z"),
            fill("a3", "AAPL", "buy", "5", "200", "0", "2026-03-04T15:00:00Z"),
            fill(
                "a4",
                "AAPL",
                "sell",
                "5",
                "190",
                "0",
                "2026-03-04T16:00:00Z",
            ),
        ],
    )
    .await;
    let _api = env.spawn("exporter-api", &[]);
    let stats = eventually("the API", Duration::from_secs(30), || async {
        let (status, body) = env.get("/trades/statistics").await;
        (status == 200).then_some(body)
    })
    .await;
    // The ledger is built: AAPL +100 and -50 closed, MSFT open.
    assert_eq!(stats["closed_trades"], 2, "{stats}");
    assert_eq!(money(&stats["net_pnl"]), d("50"), "{stats}");

    store_fills(
        &store,
        vec![
            // New: the newest fill, closing MSFT (+20).
            fill(
                "m2",
                "MSFT",
                "sell",
                "2",
                "410",
                "0",
                "2026-03-05T15:00:00Z",
            ),
            // Late: older than the newest, inside the first AAPL trade.
            fill(
                "a5",
                "AAPL",
                "sell",
                "5",
                "120",
                "0",
                "2026-03-02T15:30:00Z",
            ),
            // Corrected: a2's fee as the broker booked it afterwards.
            fill(
                "a2",
                "AAPL",
                "sell",
                "10",
                "110",
                "1",
                "2026-03-02T16:00:00Z",
            ),
        ],
    )
    .await;
    sqlx::query(
        "INSERT INTO cash_activity (activity_id, activity_type, date, net_amount, order_id, status) \
         VALUES ('fee-m2', 'FEE', '2026-03-05', -0.05, 'o-m2', 'executed')",
    )
    .execute(&env.pool)
    .await
    .unwrap();

    let port = env.api_port.to_string();
    let kept = answers(&port, &env.api_key).await;
    // Worked out by hand. AAPL: buy 10 @ 100, sell 5 @ 120 (+100), sell 10 @ 110 (fee 1.00,
    // half to each part): closes 5 (+50 − 0.50 = trade +149.50) and opens a short 5 @ 110
    // (fee 0.50), covered at 200 on 03-04 (−450 − 0.50 = −450.50); the sale at 190 opens a
    // short still open. MSFT: +20 − the 0.05 fee naming its closing order = +19.95.
    let stats: Value = serde_json::from_str(&kept[0]).unwrap();
    assert_eq!(stats["closed_trades"], 3, "{stats}");
    assert_eq!(stats["open_trades"], 1, "{stats}");
    assert_eq!(money(&stats["net_pnl"]), d("-281.05"), "{stats}");
    let history: Value = serde_json::from_str(&kept[2]).unwrap();
    assert_eq!(history["total"], 3, "{history}");
    assert_eq!(history["trades"][0]["id"], "m1", "{history}");
    assert_eq!(
        money(&history["trades"][0]["realised_pnl"]),
        d("19.95"),
        "{history}"
    );
    let days: Value = serde_json::from_str(&kept[5]).unwrap();
    let by_day: Vec<(&str, rust_decimal::Decimal)> = days["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|day| (day["date"].as_str().unwrap(), money(&day["realised_pnl"])))
        .collect();
    assert_eq!(
        by_day,
        [
            ("2026-03-02", d("149.50")),
            ("2026-03-04", d("-450.50")),
            ("2026-03-05", d("19.95"))
        ],
        "{days}"
    );

    // A fresh process builds from every fill: the same answers, byte for byte.
    let fresh_port = exporter_tests::free_port().to_string();
    let _fresh = env.spawn_with(
        "exporter-api",
        &[],
        &[
            ("EXPORTER_API_KEY", env.api_key.as_str()),
            ("EXPORTER_API_PORT", fresh_port.as_str()),
        ],
    );
    exporter_tests::wait_for_port(fresh_port.parse().unwrap(), Duration::from_secs(30));
    let fresh = answers(&fresh_port, &env.api_key).await;
    for ((path, kept), fresh) in PATHS.iter().zip(&kept).zip(&fresh) {
        assert_eq!(
            kept, fresh,
            "{path}: the kept ledger and a fresh build differ"
        );
    }
    env.finish().await;
}
