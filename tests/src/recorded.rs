//! Recorded outside answers the black-box tests share: the Alpaca account with three round
//! trips of fills and the Yahoo chart, served by [`StandIn`]s, and the Python venvs of the
//! tests that drive Python tools (schemathesis, Playwright).

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::Json;
use axum::routing::get;
use serde_json::{Value, json};

use crate::{Proc, StandIn, TestEnv, shared_fixture};

/// The Python venv made (once, then reused offline) by `script`, a path under tests/ such as
/// `browser/venv.sh` (Playwright and Debian's chromium) or `openapi/venv.sh` (schemathesis and
/// openapi-python-client): the script prints the venv's path.
pub fn python_venv(script: &str) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let output = Command::new("bash").arg(&script).output().unwrap();
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// The recorded Alpaca answer `name` (shared/fixtures/alpaca), its body.
pub fn alpaca_fixture(name: &str) -> Value {
    let value = shared_fixture(&format!("alpaca/{name}"));
    value.get("body").cloned().unwrap_or(value)
}

/// One Alpaca `FILL` activity, as `/v2/account/activities` lists it.
pub fn alpaca_fill(
    id: &str,
    time: &str,
    side: &str,
    symbol: &str,
    qty: &str,
    price: &str,
) -> Value {
    json!({
        "id": id, "activity_type": "FILL", "transaction_time": time, "type": "fill",
        "price": price, "qty": qty, "side": side, "symbol": symbol, "leaves_qty": "0",
        "order_id": format!("order-{id}"), "cum_qty": qty, "order_status": "filled"
    })
}

/// Alpaca: the recorded account, positions and orders; fills of three round trips (one closed
/// on 2026-01-31 in New York, one on 2026-02-03, one still open); an equity history.
pub async fn alpaca_round_trips() -> StandIn {
    let fills = json!([
        alpaca_fill(
            "20260130150000000::a1",
            "2026-01-30T15:00:00Z",
            "buy",
            "AAPL",
            "10",
            "100"
        ),
        alpaca_fill(
            "20260130160000000::a2",
            "2026-01-30T16:00:00Z",
            "buy",
            "AAPL",
            "10",
            "110"
        ),
        alpaca_fill(
            "20260201043000000::a3",
            "2026-02-01T04:30:00Z",
            "sell",
            "AAPL",
            "20",
            "120"
        ),
        alpaca_fill(
            "20260202150000000::t1",
            "2026-02-02T15:00:00Z",
            "sell_short",
            "TSLA",
            "5",
            "200"
        ),
        alpaca_fill(
            "20260203150000000::t2",
            "2026-02-03T15:00:00Z",
            "buy",
            "TSLA",
            "5",
            "210"
        ),
        alpaca_fill(
            "20260204150000000::m1",
            "2026-02-04T15:00:00Z",
            "buy",
            "MSFT",
            "3",
            "400"
        ),
    ]);
    let app = axum::Router::new()
        .route(
            "/v2/account",
            get(|| async { Json(alpaca_fixture("account.json")) }),
        )
        .route(
            "/v2/positions",
            get(|| async { Json(alpaca_fixture("positions.json")) }),
        )
        .route(
            "/v2/orders",
            get(|| async { Json(alpaca_fixture("orders.json")) }),
        )
        .route(
            "/v2/account/activities",
            get(move |query: axum::extract::RawQuery| {
                let fills = fills.clone();
                async move {
                    // One page: a request for the page after the last fill gets none.
                    if query.0.unwrap_or_default().contains("page_token") {
                        Json(json!([]))
                    } else {
                        Json(fills)
                    }
                }
            }),
        )
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
        );
    StandIn::serve(app).await
}

/// Yahoo: the recorded AAPL chart for every symbol, range and interval.
pub async fn yahoo_chart() -> StandIn {
    let chart =
        shared_fixture("yahoo/chart-AAPL-2020-08-31-to-2020-11-07.json")["response"]["bodyJson"]
            .clone();
    StandIn::serve(axum::Router::new().route(
        "/v8/finance/chart/{symbol}",
        get(move || {
            let chart = chart.clone();
            async move { Json(chart) }
        }),
    ))
    .await
}

/// The environment of a process that talks to the Alpaca stand-in: the API key and generated
/// Alpaca credentials (the stand-in accepts any).
pub fn alpaca_credentials(env: &TestEnv) -> [(&'static str, &str); 3] {
    [
        ("EXPORTER_API_KEY", env.api_key.as_str()),
        ("EXPORTER_ALPACA_KEY_ID", "test-key-id"),
        ("EXPORTER_ALPACA_SECRET_KEY", "test-secret-generated"),
    ]
}

/// Every process of the stack with data behind every route: the aggregator, the system,
/// hardware and market collectors, the trades and portfolio collectors with
/// [`alpaca_credentials`], and the API.
pub fn spawn_whole_stack(env: &TestEnv) -> Vec<Proc> {
    let keys = alpaca_credentials(env);
    vec![
        env.spawn("exporter-aggregator", &[]),
        env.spawn("exporter-collector", &["system"]),
        env.spawn("exporter-collector", &["hardware"]),
        env.spawn("exporter-collector", &["market"]),
        env.spawn_with("exporter-collector", &["trades"], &keys),
        env.spawn_with("exporter-collector", &["portfolio"], &keys),
        env.spawn("exporter-api", &[]),
    ]
}
