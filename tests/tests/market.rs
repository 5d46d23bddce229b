//! Market data end to end with a local Yahoo stand-in replaying the recorded chart of
//! shared/fixtures/yahoo: a chart the store lacks is fetched through the market collector,
//! stored and served; the second call comes from the store without a request to the stand-in;
//! an unknown symbol is a 404 with Yahoo's description; a failing source is a prompt 503.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::routing::get;
use exporter_tests::{StandIn, TestEnv, eventually, shared_fixture};
use serde_json::{Value, json};

/// The recorded Yahoo answer `name` (shared/fixtures/yahoo), its body.
fn recorded(name: &str) -> Value {
    shared_fixture(&format!("yahoo/{name}"))["response"]["bodyJson"].clone()
}

/// The Yahoo stand-in: the recorded AAPL chart, a 500 for FAIL, a 429 for BUSY, Yahoo's 404
/// for anything else.
async fn yahoo_stand_in() -> StandIn {
    async fn chart(Path(symbol): Path<String>) -> (StatusCode, Json<Value>) {
        match symbol.as_str() {
            "AAPL" => (
                StatusCode::OK,
                Json(recorded("chart-AAPL-2020-08-31-to-2020-11-07.json")),
            ),
            "FAIL" => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "boom"})),
            ),
            "BUSY" => (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"error": "Too Many Requests"})),
            ),
            _ => (
                StatusCode::NOT_FOUND,
                Json(
                    json!({"chart": {"result": null, "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"}}}),
                ),
            ),
        }
    }
    StandIn::serve(axum::Router::new().route("/v8/finance/chart/{symbol}", get(chart))).await
}

/// How many chart requests Yahoo got.
fn chart_requests(yahoo: &StandIn) -> usize {
    yahoo
        .requests()
        .iter()
        .filter(|r| r.method == Method::GET && r.path.starts_with("/v8/finance/chart/"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charts_are_fetched_once_stored_and_served_with_indicators() {
    let yahoo = yahoo_stand_in().await;
    let env = TestEnv::new(&format!(
        "market:\n  yahoo_base_url: {}\n  timeout_seconds: 2\n  rpc_timeout_seconds: 15\n  cache_seconds: 30\n",
        yahoo.url()
    ))
    .await;
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    let _market = env.spawn("exporter-collector", &["market"]);
    let _api = env.spawn("exporter-api", &[]);
    exporter_tests::wait_for_port(env.api_port, Duration::from_secs(20));

    let first = eventually(
        "the chart through the collector",
        Duration::from_secs(30),
        || async {
            let (status, body) = env.get("/market/chart/aapl?period=max&interval=1d").await;
            (status == 200).then_some(body)
        },
    )
    .await;
    assert_eq!(first["source"], "collector");
    assert_eq!(first["symbol"], "AAPL");
    let bars = first["bars"].as_array().unwrap();
    assert_eq!(bars.len(), 49);
    assert_eq!(bars[0]["close"], 129.0399932861328);
    assert_eq!(first["meta"]["currency"], "USD");
    assert_eq!(first["meta"]["timezone"], "America/New_York");
    let split = first["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "split")
        .unwrap();
    assert_eq!(split["numerator"], 4.0);
    assert_eq!(split["denominator"], 1.0);
    let sma = first["indicators"]["sma_20"].as_array().unwrap();
    assert_eq!(sma.len(), 49);
    assert!(
        sma[18].is_null() && sma[19].is_number(),
        "warm-up is null, not 0"
    );
    let fetched = chart_requests(&yahoo);

    let second = eventually(
        "the chart from the store",
        Duration::from_secs(20),
        || async {
            let (status, body) = env
                .get("/market/chart/AAPL?period=max&interval=1d&chart_type=line")
                .await;
            (status == 200 && body["source"] == "store").then_some(body)
        },
    )
    .await;
    assert_eq!(second["bars"].as_array().unwrap().len(), 49);
    assert!(
        second["bars"][0].get("open").is_none(),
        "line charts carry close only"
    );
    assert_eq!(
        chart_requests(&yahoo),
        fetched,
        "served without asking Yahoo again"
    );

    let (status, missing) = env.get("/market/chart/NOSUCH?period=1y").await;
    assert_eq!(status, 404, "{missing}");
    assert!(
        missing["detail"].as_str().unwrap().contains("delisted"),
        "{missing}"
    );

    for failing in ["FAIL", "BUSY"] {
        let started = Instant::now();
        let response = reqwest::Client::new()
            .get(env.api_url(&format!("/market/chart/{failing}?period=1y")))
            .header("X-API-Key", &env.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 503, "{failing}");
        assert!(response.headers().contains_key("retry-after"), "{failing}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["detail"].as_str().unwrap().contains("retry in"),
            "{body}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{failing}: not a hang"
        );
    }

    for (path, parameter) in [
        ("/market/chart/AAPL;rm?period=1y", "symbol"),
        ("/market/chart/AAPL?period=7y", "period"),
        ("/market/chart/AAPL?interval=2h", "interval"),
        ("/market/chart/AAPL?chart_type=pie", "chart_type"),
        (
            "/market/quote/%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E%5E",
            "symbol",
        ),
    ] {
        let (status, body) = env.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["parameter"], parameter, "{path}: {body}");
    }

    let quote = eventually("a quote", Duration::from_secs(20), || async {
        let (status, body) = env.get("/market/quote/AAPL").await;
        (status == 200).then_some(body)
    })
    .await;
    assert!(quote["price"].as_f64().unwrap() > 0.0, "{quote}");
    assert!(quote["change"].is_number(), "{quote}");
    env.finish().await;
}
