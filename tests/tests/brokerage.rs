//! The brokerage path end to end: the portfolio and trades collectors read a local Alpaca
//! stand-in (the recorded account, positions and orders of shared/fixtures/alpaca, plus fills
//! constructed here), the trading system publishes a fill of its own on the ingest subject, and
//! every endpoint returns the hand-computed numbers through the real bus and store. Restarting
//! the trades collector and the aggregator mid-stream changes nothing.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::routing::get;
use exporter_tests::{StandIn, TestEnv, eventually, publish_json, shared_fixture};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

/// The recorded Alpaca answer `name` (shared/fixtures/alpaca), its body.
fn fixture(name: &str) -> Value {
    let value = shared_fixture(&format!("alpaca/{name}"));
    value.get("body").cloned().unwrap_or(value)
}

fn fill(id: &str, time: &str, side: &str, symbol: &str, qty: &str, price: &str) -> Value {
    json!({
        "id": id, "activity_type": "FILL", "transaction_time": time, "type": "fill",
        "price": price, "qty": qty, "side": side, "symbol": symbol, "leaves_qty": "0",
        "order_id": format!("order-{id}"), "cum_qty": qty, "order_status": "filled"
    })
}

type Activities = Arc<Mutex<Vec<Value>>>;

/// The Alpaca stand-in: fixtures for the account, positions and orders; `activities` for fills,
/// paged by `page_token` (the last id) like the real API.
async fn alpaca_stand_in(activities: Activities) -> StandIn {
    async fn page(
        State(all): State<Activities>,
        Query(q): Query<Vec<(String, String)>>,
    ) -> Json<Value> {
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let token = get("page_token");
        let size: usize = get("page_size").and_then(|s| s.parse().ok()).unwrap_or(100);
        let all = all.lock().unwrap().clone();
        let page: Vec<Value> = all
            .into_iter()
            .filter(|a| {
                token
                    .as_deref()
                    .is_none_or(|t| a["id"].as_str().unwrap() > t)
            })
            .take(size)
            .collect();
        Json(Value::Array(page))
    }
    let app = axum::Router::new()
        .route(
            "/v2/account",
            get(|| async { Json(fixture("account.json")) }),
        )
        .route(
            "/v2/positions",
            get(|| async { Json(fixture("positions.json")) }),
        )
        .route("/v2/orders", get(|| async { Json(fixture("orders.json")) }))
        .route("/v2/account/activities", get(page))
        .route(
            "/v2/account/portfolio/history",
            get(|| async {
                Json(json!({
                    "timestamp": [1769666400, 1769752800, 1769839200, 1769925600],
                    "equity": [null, "100000", "100300", "100250"],
                    "profit_loss": [null, "0", "300", "-50"],
                    "profit_loss_pct": [null, "0", "0.003", "-0.0005"],
                    "base_value": "100000", "timeframe": "1D"
                }))
            }),
        )
        .with_state(activities);
    StandIn::serve(app).await
}

async fn fill_count(env: &TestEnv) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM fill")
        .fetch_one(&env.pool)
        .await
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokerage_endpoints_return_the_hand_computed_numbers() {
    // AAPL: buy 10 @ 100, buy 10 @ 110 (average 105), sell 20 @ 120 at 23:30 New York on
    // 31 January (04:30 UTC on 1 February): +300 on 2026-01-31.
    // TSLA: short 5 @ 200, cover @ 210: -50 on 2026-02-03. MSFT (ingest): open long.
    let activities: Activities = Arc::new(Mutex::new(vec![
        fill(
            "20260130150000000::a1",
            "2026-01-30T15:00:00Z",
            "buy",
            "AAPL",
            "10",
            "100",
        ),
        fill(
            "20260130160000000::a2",
            "2026-01-30T16:00:00Z",
            "buy",
            "AAPL",
            "10",
            "110",
        ),
        fill(
            "20260201043000000::a3",
            "2026-02-01T04:30:00Z",
            "sell",
            "AAPL",
            "20",
            "120",
        ),
    ]));
    let alpaca = alpaca_stand_in(activities.clone()).await;
    let env = TestEnv::new(&format!(
        "alpaca:\n  base_url: {}\n  portfolio_interval_seconds: 1\n  trades_interval_seconds: 1\n  history_interval_seconds: 10\n",
        alpaca.url()
    ))
    .await;
    let keys = [
        ("EXPORTER_API_KEY", env.api_key.as_str()),
        ("EXPORTER_ALPACA_KEY_ID", "test-key-id"),
        ("EXPORTER_ALPACA_SECRET_KEY", "test-secret-generated"),
    ];
    let mut aggregator = env.spawn("exporter-aggregator", &[]);
    let mut trades = env.spawn_with("exporter-collector", &["trades"], &keys);
    let _portfolio = env.spawn_with("exporter-collector", &["portfolio"], &keys);
    let _api = env.spawn("exporter-api", &[]);

    eventually("three fills stored", Duration::from_secs(30), || async {
        (fill_count(&env).await == 3).then_some(())
    })
    .await;
    // Kill the trades collector and the aggregator, add fills, restart: nothing lost or doubled.
    trades.signal(Signal::SIGKILL);
    aggregator.signal(Signal::SIGKILL);
    trades.wait_exit(Duration::from_secs(5));
    aggregator.wait_exit(Duration::from_secs(5));
    activities.lock().unwrap().extend([
        fill(
            "20260202150000000::t1",
            "2026-02-02T15:00:00Z",
            "sell_short",
            "TSLA",
            "5",
            "200",
        ),
        fill(
            "20260203150000000::t2",
            "2026-02-03T15:00:00Z",
            "buy",
            "TSLA",
            "5",
            "210",
        ),
    ]);
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    let _trades = env.spawn_with("exporter-collector", &["trades"], &keys);
    // The trading system's own fill, on the ingest subject, published twice: stored once.
    let js = env.jetstream().await;
    let ingest = json!({"id": "ing-1", "symbol": "MSFT", "side": "buy", "quantity": "1",
        "price": "300", "fee": "1", "time": "2026-02-04T15:00:00Z", "strategy": "momentum"});
    for _ in 0..2 {
        publish_json(&js, "exporter.v1.ingest.fill", &ingest).await;
    }
    eventually("all six fills stored", Duration::from_secs(30), || async {
        (fill_count(&env).await == 6).then_some(())
    })
    .await;
    // A quiet period, the check itself: a fill stored twice would show up now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fill_count(&env).await, 6, "no fill counted twice");

    let portfolio = eventually("a portfolio snapshot", Duration::from_secs(30), || async {
        let (status, body) = env.get("/metrics/portfolio").await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(portfolio["balance"], "-23140.2");
    assert_eq!(portfolio["equity"], "103820.56");
    assert_eq!(portfolio["buying_power"], "262113.632");
    assert_eq!(portfolio["day_change"], "291.32");
    assert_eq!(portfolio["day_change_percent"], "0.2814");
    assert_eq!(portfolio["positions"][0]["symbol"], "AAPL");
    assert_eq!(portfolio["positions"][0]["quantity"], "5");

    // The equity history's leading null is skipped, the rest stored exactly.
    // (A separate sample from the snapshot: wait for it rather than race it.)
    let equity: Vec<(String,)> =
        eventually("the equity history", Duration::from_secs(30), || async {
            let rows: Vec<(String,)> =
                sqlx::query_as("SELECT equity::text FROM equity_point ORDER BY time")
                    .fetch_all(&env.pool)
                    .await
                    .unwrap();
            (!rows.is_empty()).then_some(rows)
        })
        .await;
    assert_eq!(
        equity,
        [("100000".into(),), ("100300".into(),), ("100250".into(),)]
    );

    let (status, stats) = env.get("/trades/statistics").await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["closed_trades"], 2, "{stats}");
    assert_eq!(stats["open_trades"], 1, "{stats}");
    assert_eq!(stats["wins"], 1);
    assert_eq!(stats["losses"], 1);
    assert_eq!(stats["net_pnl"], "250");
    assert_eq!(stats["gross_profit"], "300");
    assert_eq!(stats["profit_factor"], "6");

    // Per symbol: that symbol's trades; the account-wide equity figures stay null.
    let (_, aapl_stats) = env.get("/trades/statistics?symbol=AAPL").await;
    assert_eq!(aapl_stats["closed_trades"], 1, "{aapl_stats}");
    assert_eq!(aapl_stats["net_pnl"], "300");
    assert!(aapl_stats["sharpe_ratio"].is_null(), "{aapl_stats}");

    let (_, history) = env.get("/trades/history?limit=1").await;
    assert_eq!(history["total"], 2);
    assert_eq!(
        history["trades"][0]["symbol"], "TSLA",
        "newest first: {history}"
    );
    assert_eq!(history["trades"][0]["side"], "short");
    assert_eq!(history["trades"][0]["realised_pnl"], "-50");
    let (_, aapl) = env.get("/trades/history?symbol=AAPL").await;
    assert_eq!(aapl["trades"][0]["entry_price"], "105");
    assert_eq!(aapl["trades"][0]["exit_price"], "120");
    let (_, january) = env
        .get("/trades/history?start_date=2026-01-31&end_date=2026-01-31")
        .await;
    assert_eq!(
        january["total"], 1,
        "closed on 31 January in New York: {january}"
    );

    let (_, daily) = env
        .get("/trades/daily-pnl?start_date=2026-01-01&end_date=2026-02-28")
        .await;
    let days = daily["days"].as_array().unwrap();
    assert_eq!(days.len(), 2, "{daily}");
    assert_eq!(days[0]["date"], "2026-01-31");
    assert_eq!(days[0]["realised_pnl"], "300");
    assert_eq!(days[1]["date"], "2026-02-03");
    assert_eq!(days[1]["realised_pnl"], "-50");

    let (_, year) = env.get("/trades/pnl-calendar?year=2026").await;
    assert_eq!(year["months"][0]["pnl"], "300");
    assert_eq!(year["months"][1]["pnl"], "-50");
    let (_, month) = env.get("/trades/pnl-calendar?year=2026&month=1").await;
    assert_eq!(month["calendar"]["month_total"], "300", "{month}");

    let (_, active) = env.get("/trades/active").await;
    assert_eq!(active["open_trades"][0]["symbol"], "MSFT");
    assert_eq!(active["open_trades"][0]["strategy"], "momentum");
    assert!(active["open_orders"].as_array().is_some());

    for (path, parameter) in [
        ("/trades/history?limit=5000", "limit"),
        ("/trades/history?side=sideways", "side"),
        ("/trades/statistics?start_date=31-01-2026", "start_date"),
        (
            "/trades/daily-pnl?start_date=2026-02-01&end_date=2026-01-01",
            "start_date",
        ),
        ("/trades/pnl-calendar?month=13", "month"),
    ] {
        let (status, body) = env.get(path).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(body["parameter"], parameter, "{path}: {body}");
    }
    env.finish().await;
}
