//! Fees and cash flows end to end: the trades collector reads fills and non-trade activities
//! (regulatory fees, a pass-through charge, a dividend, a deposit and a withdrawal) from a local
//! Alpaca stand-in, in Alpaca's documented shapes, and `/trades/daily-pnl` reconciles each
//! day's equity change to the cent: `equity_change − net_deposits = net_pnl` (no position is
//! left open, so nothing else moves the equity). Fees that name an order are charged to its
//! trade; the others are account fees of their day.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::routing::get;
use exporter_tests::{StandIn, TestEnv, eventually, shared_fixture};
use serde_json::{Value, json};

type Activities = Arc<Mutex<Vec<Value>>>;

const BUY_ORDER: &str = "61e69015-8549-4bfd-b9c3-01e75843f47d";
const SELL_ORDER: &str = "4e7a3f1b-2c1d-4f5e-9a8b-7c6d5e4f3a2b";

fn fixture(name: &str) -> Value {
    let value = shared_fixture(&format!("alpaca/{name}"));
    value.get("body").cloned().unwrap_or(value)
}

fn fill(id: &str, time: &str, side: &str, qty: &str, price: &str, order: &str) -> Value {
    json!({
        "id": id, "activity_type": "FILL", "transaction_time": time, "type": "fill",
        "price": price, "qty": qty, "side": side, "symbol": "AAPL", "leaves_qty": "0",
        "order_id": order, "cum_qty": qty, "order_status": "filled"
    })
}

/// A non-trade activity in Alpaca's shape (`date`, signed `net_amount` as a string).
fn cash(id: &str, activity_type: &str, date: &str, amount: &str, extra: Value) -> Value {
    let mut activity = json!({
        "id": id, "activity_type": activity_type, "date": date, "net_amount": amount,
        "description": "", "status": "executed"
    });
    for (key, value) in extra.as_object().unwrap() {
        activity[key] = value.clone();
    }
    activity
}

/// The stand-in: the recorded account and positions; activities filtered by `activity_types`
/// and paged by `page_token` as Alpaca does; a daily equity history worked out below.
async fn alpaca_stand_in(activities: Activities) -> StandIn {
    async fn page(
        State(all): State<Activities>,
        Query(q): Query<Vec<(String, String)>>,
    ) -> Json<Value> {
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let token = get("page_token");
        let types: Option<Vec<String>> =
            get("activity_types").map(|t| t.split(',').map(str::to_owned).collect());
        let size: usize = get("page_size").and_then(|s| s.parse().ok()).unwrap_or(100);
        let mut all = all.lock().unwrap().clone();
        all.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        let page: Vec<Value> = all
            .into_iter()
            .filter(|a| {
                types
                    .as_ref()
                    .is_none_or(|t| t.iter().any(|t| a["activity_type"] == t.as_str()))
            })
            .filter(|a| {
                token
                    .as_deref()
                    .is_none_or(|t| a["id"].as_str().unwrap() > t)
            })
            .take(size)
            .collect();
        Json(Value::Array(page))
    }
    // Closes (16:00 New York): Friday 27 February 50 000.00; Monday 2 March, after a 10 000
    // deposit and a trade netting 34.94, 60 034.94; Tuesday 3 March, after a 1.25 dividend and
    // a 500 withdrawal, 59 536.19.
    let app = axum::Router::new()
        .route(
            "/v2/account",
            get(|| async { Json(fixture("account.json")) }),
        )
        .route("/v2/positions", get(|| async { Json(json!([])) }))
        .route("/v2/orders", get(|| async { Json(json!([])) }))
        .route("/v2/account/activities", get(page))
        .route(
            "/v2/account/portfolio/history",
            get(|| async {
                Json(json!({
                    "timestamp": [1772226000, 1772485200, 1772571600],
                    "equity": ["50000.00", "60034.94", "59536.19"],
                    "profit_loss": ["0", "34.94", "1.25"],
                    "profit_loss_pct": ["0", "0.0007", "0.00002"],
                    "base_value": "50000", "timeframe": "1D"
                }))
            }),
        )
        .with_state(activities);
    StandIn::serve(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fees_and_deposits_reconcile_the_equity_change_to_the_cent() {
    // Monday 2 March 2026: deposit 10 000; buy 10 AAPL @ 100.00, sell 10 @ 103.50: +35.00.
    // Fees: REG 0.03 naming the sell order (order_id), TAF 0.02 naming it in the description:
    // both charged to the trade (34.95); a pass-through charge 0.01 naming no order: an account
    // fee. Net 34.94. Tuesday: dividend 1.25, withdrawal 500.
    let activities: Activities = Arc::new(Mutex::new(vec![
        cash(
            "20260302000000000::dep",
            "CSD",
            "2026-03-02",
            "10000",
            json!({}),
        ),
        fill(
            "20260302150000000::b1",
            "2026-03-02T15:00:00Z",
            "buy",
            "10",
            "100.00",
            BUY_ORDER,
        ),
        fill(
            "20260302190000000::s1",
            "2026-03-02T19:00:00Z",
            "sell",
            "10",
            "103.50",
            SELL_ORDER,
        ),
        cash(
            "20260302000000001::reg",
            "FEE",
            "2026-03-02",
            "-0.03",
            json!({"activity_sub_type": "REG", "symbol": "AAPL", "order_id": SELL_ORDER}),
        ),
        cash(
            "20260302000000002::taf",
            "FEE",
            "2026-03-02",
            "-0.02",
            json!({"activity_sub_type": "TAF",
                   "description": format!("TAF fee for proceed of 10 shares (order {SELL_ORDER})")}),
        ),
        cash(
            "20260302000000003::ptc",
            "PTC",
            "2026-03-02",
            "-0.01",
            json!({}),
        ),
        cash(
            "20260303000000000::div",
            "DIV",
            "2026-03-03",
            "1.25",
            json!({"symbol": "AAPL", "qty": "10", "per_share_amount": "0.125"}),
        ),
        cash(
            "20260303000000001::wd",
            "CSW",
            "2026-03-03",
            "-500",
            json!({}),
        ),
        // Cancelled: moves nothing.
        cash(
            "20260303000000002::gone",
            "CSD",
            "2026-03-03",
            "999",
            json!({"status": "canceled"}),
        ),
    ]));
    let alpaca = alpaca_stand_in(activities.clone()).await;
    let env = TestEnv::new(&format!(
        "alpaca:\n  base_url: {}\n  portfolio_interval_seconds: 1\n  trades_interval_seconds: 1\n  history_interval_seconds: 10\n",
        alpaca.url()
    ))
    .await;
    let keys = exporter_tests::recorded::alpaca_credentials(&env);
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    let _trades = env.spawn_with("exporter-collector", &["trades"], &keys);
    let _portfolio = env.spawn_with("exporter-collector", &["portfolio"], &keys);
    let _api = env.spawn("exporter-api", &[]);

    let stored = |sql: &'static str| {
        let pool = env.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap_or(-1)
        }
    };
    eventually(
        "the fills, activities and equity stored",
        Duration::from_secs(30),
        || async {
            (stored("SELECT count(*) FROM fill").await == 2
                && stored("SELECT count(*) FROM cash_activity").await == 7
                && stored("SELECT count(*) FROM equity_point").await == 3)
                .then_some(())
        },
    )
    .await;
    let (reg_order, taf_order): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT (SELECT order_id FROM cash_activity WHERE activity_id LIKE '%::reg'), \
                (SELECT order_id FROM cash_activity WHERE activity_id LIKE '%::taf')",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(reg_order.as_deref(), Some(SELL_ORDER));
    assert_eq!(
        taf_order.as_deref(),
        Some(SELL_ORDER),
        "the order named in the description"
    );

    let (status, daily) = env
        .get("/trades/daily-pnl?start_date=2026-02-27&end_date=2026-03-31")
        .await;
    assert_eq!(status, 200, "{daily}");
    let days = daily["days"].as_array().unwrap();
    let day = |date: &str| {
        days.iter()
            .find(|d| d["date"] == date)
            .unwrap_or_else(|| panic!("no row for {date}: {daily}"))
            .clone()
    };
    let monday = day("2026-03-02");
    assert_eq!(monday["realised_pnl"], "34.95", "{monday}");
    assert_eq!(monday["fees"], "0.05", "{monday}");
    assert_eq!(monday["account_fees"], "0.01", "{monday}");
    assert_eq!(monday["income"], "0", "{monday}");
    assert_eq!(monday["net_deposits"], "10000", "{monday}");
    assert_eq!(monday["net_pnl"], "34.94", "{monday}");
    assert_eq!(monday["equity_change"], "10034.94", "{monday}");
    assert_eq!(monday["equity_pnl"], "34.94", "{monday}");
    let tuesday = day("2026-03-03");
    assert_eq!(tuesday["realised_pnl"], "0", "{tuesday}");
    assert_eq!(tuesday["income"], "1.25", "{tuesday}");
    assert_eq!(tuesday["net_deposits"], "-500", "{tuesday}");
    assert_eq!(tuesday["net_pnl"], "1.25", "{tuesday}");
    assert_eq!(tuesday["equity_change"], "-498.75", "{tuesday}");
    assert_eq!(tuesday["equity_pnl"], "1.25", "{tuesday}");
    // Reconciled to the cent, every day with an equity change.
    for row in days.iter().filter(|d| !d["equity_change"].is_null()) {
        let number =
            |key: &str| -> rust_decimal::Decimal { row[key].as_str().unwrap().parse().unwrap() };
        assert_eq!(
            number("equity_change") - number("net_deposits"),
            number("net_pnl"),
            "{row}"
        );
    }

    // The fees naming the order are in the trade and in the statistics.
    let (_, history) = env.get("/trades/history?symbol=AAPL").await;
    let trade = &history["trades"][0];
    assert_eq!(trade["fees"], "0.05", "{trade}");
    assert_eq!(trade["realised_pnl"], "34.95", "{trade}");
    let (_, stats) = env.get("/trades/statistics").await;
    assert_eq!(stats["net_pnl"], "34.95", "{stats}");
    assert_eq!(stats["total_fees"], "0.05", "{stats}");

    // Deposits and withdrawals are shown as they were booked.
    let (status, flows) = env.get("/trades/cash-flows").await;
    assert_eq!(status, 200, "{flows}");
    let kinds: Vec<(&str, &str, &str)> = flows["cash_flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["date"].as_str().unwrap(),
                f["kind"].as_str().unwrap(),
                f["amount"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("2026-03-02", "deposit", "10000"),
            ("2026-03-02", "fee", "-0.03"),
            ("2026-03-02", "fee", "-0.02"),
            ("2026-03-02", "fee", "-0.01"),
            ("2026-03-03", "income", "1.25"),
            ("2026-03-03", "withdrawal", "-500"),
        ]
    );
    env.finish().await;
}
