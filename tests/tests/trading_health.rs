//! The trading-health rules end to end, each firing once and resolving: the trading system's
//! positions (published on `exporter.v1.ingest.positions`) differ from the broker's; no fill for
//! a while although the trading system is up; a burst of rejected orders at the broker; today's
//! loss beyond a limit, absolute and in percent of equity; a quote that stopped coming. The
//! broker is a local Alpaca stand-in, everything else the real stack. Thresholds are small so
//! the test is quick; the shipped rules (settings/alerts.yaml) use the same series.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::routing::get;
use chrono::{SecondsFormat, Utc};
use exporter_protocol::Envelope;
use exporter_protocol::market::Quote;
use exporter_tests::{StandIn, TestEnv, eventually, publish_json, shared_fixture};
use serde_json::{Value, json};

#[derive(Default)]
struct Broker {
    positions: Vec<Value>,
    closed_orders: Vec<Value>,
    fills: Vec<Value>,
}

type Shared = Arc<Mutex<Broker>>;

fn position(symbol: &str, qty: &str) -> Value {
    let mut position = shared_fixture("alpaca/positions.json")["body"][0].clone();
    position["symbol"] = json!(symbol);
    position["qty"] = json!(qty);
    position
}

fn rejected_order(id: usize) -> Value {
    let mut order = shared_fixture("alpaca/orders.json")["body"][0].clone();
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    order["id"] = json!(format!("rejected-{id}"));
    order["status"] = json!("rejected");
    order["failed_at"] = json!(now);
    order["updated_at"] = json!(now);
    order
}

fn fill(id: &str, minutes_ago: i64, side: &str, price: &str) -> Value {
    let time = (Utc::now() - chrono::Duration::minutes(minutes_ago))
        .to_rfc3339_opts(SecondsFormat::Micros, true);
    json!({
        "id": id, "activity_type": "FILL", "transaction_time": time, "type": "fill",
        "price": price, "qty": "10", "side": side, "symbol": "MSFT", "leaves_qty": "0",
        "order_id": format!("order-{id}"), "cum_qty": "10", "order_status": "filled"
    })
}

async fn alpaca_stand_in(broker: Shared) -> StandIn {
    async fn orders(
        State(broker): State<Shared>,
        Query(q): Query<BTreeMap<String, String>>,
    ) -> Json<Value> {
        let broker = broker.lock().unwrap();
        match q.get("status").map(String::as_str) {
            Some("closed") => Json(Value::Array(broker.closed_orders.clone())),
            _ => Json(json!([])),
        }
    }
    async fn activities(
        State(broker): State<Shared>,
        Query(q): Query<BTreeMap<String, String>>,
    ) -> Json<Value> {
        let broker = broker.lock().unwrap();
        let wants_fills = q
            .get("activity_types")
            .is_none_or(|t| t.split(',').any(|t| t == "FILL"));
        let token = q.get("page_token");
        Json(Value::Array(if wants_fills {
            broker
                .fills
                .iter()
                .filter(|f| token.is_none_or(|t| f["id"].as_str().unwrap() > t.as_str()))
                .cloned()
                .collect()
        } else {
            Vec::new()
        }))
    }
    let app = axum::Router::new()
        .route(
            "/v2/account",
            get(|| async { Json(shared_fixture("alpaca/account.json")["body"].clone()) }),
        )
        .route(
            "/v2/positions",
            get(|State(broker): State<Shared>| async move {
                Json(Value::Array(broker.lock().unwrap().positions.clone()))
            }),
        )
        .route("/v2/orders", get(orders))
        .route("/v2/account/activities", get(activities))
        .route(
            "/v2/account/portfolio/history",
            get(|| async {
                Json(json!({"timestamp": [], "equity": [], "profit_loss": [],
                    "profit_loss_pct": [], "base_value": "0", "timeframe": "1D"}))
            }),
        )
        .with_state(broker);
    StandIn::serve(app).await
}

const RULES: &str = "rules:\n\
  - {name: Mismatch, severity: critical, category: trading, expr: 'trading.positions_mismatched > 0'}\n\
  - {name: NoFills, severity: warning, category: trading, expr: 'trading.seconds_since_fill > 30'}\n\
  - {name: Rejections, severity: warning, category: trading, expr: 'trades.orders_rejected_recent >= 3'}\n\
  - {name: LossAbsolute, severity: critical, category: trading, expr: 'trading.realized_pnl_today < -50'}\n\
  - {name: LossPercent, severity: critical, category: trading, expr: 'trading.pnl_today_percent < -0.05'}\n\
  - {name: QuoteOld, severity: warning, category: market, expr: 'market.quote_age_seconds > 6'}\n";

/// Every alert of `rule` (any state), from `/alerts`.
async fn alerts_of(env: &TestEnv, rule: &str) -> Vec<Value> {
    let (_, body) = env.get("/alerts?limit=1000").await;
    body["alerts"]
        .as_array()
        .map(|a| a.iter().filter(|a| a["rule"] == rule).cloned().collect())
        .unwrap_or_default()
}

async fn wait_state(env: &TestEnv, rule: &str, state: &str) {
    eventually(
        &format!("{rule} {state}"),
        Duration::from_secs(40),
        || async {
            alerts_of(env, rule)
                .await
                .iter()
                .any(|a| a["state"] == state)
                .then_some(())
        },
    )
    .await;
}

async fn publish_positions(env: &TestEnv, quantity: &str) {
    let js = env.jetstream().await;
    publish_json(
        &js,
        "exporter.v1.ingest.positions",
        &json!({"positions": [{"symbol": "AAPL", "quantity": quantity}]}),
    )
    .await;
}

async fn publish_quote(env: &TestEnv, seq: u64) {
    let quote = Quote {
        symbol: "NVDA".into(),
        price: 120.0,
        previous_close: None,
        day_high: None,
        day_low: None,
        volume: None,
        market_state: None,
        currency: None,
        time: Utc::now(),
    };
    let envelope = Envelope::new("test-host", "quote", seq, quote);
    let js = env.jetstream().await;
    publish_json(&js, "exporter.v1.sample.quote.test-host", &json!(envelope)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_trading_health_rule_fires_once_and_resolves() {
    // The broker holds 5 AAPL; the trading system says 4. Today: MSFT bought @ 100, sold @ 90
    // 2 minutes ago (-100), no fill since; three orders rejected just now.
    let broker: Shared = Arc::new(Mutex::new(Broker {
        positions: vec![position("AAPL", "5")],
        closed_orders: (0..3).map(rejected_order).collect(),
        fills: vec![
            fill("20000000000000001::b", 3, "buy", "100"),
            fill("20000000000000002::s", 2, "sell", "90"),
        ],
    }));
    let alpaca = alpaca_stand_in(broker.clone()).await;
    let env = TestEnv::new(&format!(
        "alpaca:\n  base_url: {}\n  portfolio_interval_seconds: 1\n  trades_interval_seconds: 1\n\
         alerts:\n  evaluation_interval_seconds: 1\n  watch_interval_seconds: 0\n",
        alpaca.url()
    ))
    .await;
    std::fs::write(env.dir.path().join("alerts.yaml"), RULES).unwrap();
    let keys = exporter_tests::recorded::alpaca_credentials(&env);
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    let _portfolio = env.spawn_with("exporter-collector", &["portfolio"], &keys);
    let _trades = env.spawn_with("exporter-collector", &["trades"], &keys);
    let _api = env.spawn("exporter-api", &[]);
    publish_positions(&env, "4").await;
    wait_state(&env, "Mismatch", "firing").await;
    // The engine hears samples live: the quote goes out once it runs (it just fired).
    publish_quote(&env, 1).await;

    for rule in [
        "NoFills",
        "Rejections",
        "LossAbsolute",
        "LossPercent",
        "QuoteOld",
    ] {
        wait_state(&env, rule, "firing").await;
    }

    // Everything put right: the report agrees, a winning MSFT trade now (+200: today +100),
    // no more rejections, a fresh quote.
    publish_positions(&env, "5").await;
    {
        let mut broker = broker.lock().unwrap();
        broker.closed_orders.clear();
        broker.fills.extend([
            fill("20000000000000003::b", 0, "buy", "100"),
            fill("20000000000000004::s", 0, "sell", "120"),
        ]);
    }
    publish_quote(&env, 2).await;
    // The quote first: it ages again from now, and would fire anew 6 s later.
    for rule in [
        "QuoteOld",
        "Mismatch",
        "NoFills",
        "Rejections",
        "LossAbsolute",
        "LossPercent",
    ] {
        wait_state(&env, rule, "resolved").await;
        let alerts = alerts_of(&env, rule).await;
        assert_eq!(alerts.len(), 1, "{rule} fired once: {alerts:?}");
    }
    env.finish().await;
}
