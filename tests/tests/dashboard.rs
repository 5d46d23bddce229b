//! The dashboard page (issue #18) in a real browser against the real stack: NATS, PostgreSQL,
//! the aggregator with an alert rule that fires at once, the system, hardware, market, trades
//! and portfolio collectors (Alpaca and Yahoo through local stand-ins) and `exporter-api`
//! serving the page. tests/browser/dashboard_check.py (Playwright from PyPI driving Debian's
//! chromium, both installed by tests/browser/venv.sh) does the clicking and reports each check;
//! this test then confirms through the API that the alert it acknowledged is acknowledged.
//!
//! `SCREENSHOTS=<dir>` makes the same run take the screenshots of every view
//! (deploy/screenshots.sh).

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use axum::Json;
use axum::routing::get;
use exporter_tests::{StandIn, TestEnv, eventually, shared_fixture};
use serde_json::{Value, json};

/// The rule that fires as soon as the first system sample is in: memory is always in use.
const RULE: &str = "MemoryInUse";

/// The venv with Playwright (and Debian's chromium), made once by tests/browser/venv.sh.
fn venv() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/venv.sh");
    let output = Command::new("bash").arg(&script).output().unwrap();
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

fn alpaca_fixture(name: &str) -> Value {
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

/// Alpaca: the recorded account, positions and orders; fills of three round trips (one closed
/// on 2026-01-31 in New York, one on 2026-02-03, one still open); an equity history.
async fn alpaca_stand_in() -> StandIn {
    let fills = json!([
        fill(
            "20260130150000000::a1",
            "2026-01-30T15:00:00Z",
            "buy",
            "AAPL",
            "10",
            "100"
        ),
        fill(
            "20260130160000000::a2",
            "2026-01-30T16:00:00Z",
            "buy",
            "AAPL",
            "10",
            "110"
        ),
        fill(
            "20260201043000000::a3",
            "2026-02-01T04:30:00Z",
            "sell",
            "AAPL",
            "20",
            "120"
        ),
        fill(
            "20260202150000000::t1",
            "2026-02-02T15:00:00Z",
            "sell_short",
            "TSLA",
            "5",
            "200"
        ),
        fill(
            "20260203150000000::t2",
            "2026-02-03T15:00:00Z",
            "buy",
            "TSLA",
            "5",
            "210"
        ),
        fill(
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
async fn yahoo_stand_in() -> StandIn {
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

/// A read-scope key `phone` (a 0600 file generated here) added to the settings.
fn add_read_key(env: &TestEnv) -> String {
    let key = format!("read-{}", uuid::Uuid::new_v4().simple());
    let path = env.dir.path().join("phone.key");
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    writeln!(file, "{key}").unwrap();
    let yaml = std::fs::read_to_string(&env.settings_path).unwrap();
    let yaml = yaml.replacen(
        "\napi:\n",
        &format!(
            "\napi:\n  extra_keys:\n    - name: phone\n      scope: read\n      key_file: {}\n",
            path.display()
        ),
        1,
    );
    std::fs::write(&env.settings_path, yaml).unwrap();
    key
}

/// Three log lines of the trading engine (no log collector runs here), for the logs view.
async fn seed_logs(env: &TestEnv) {
    let message_id = uuid::Uuid::now_v7();
    let now = chrono::Utc::now();
    for (i, (level, component, message)) in [
        (3_i16, "trading.engine", "order filled"),
        (5, "trading.risk", "ORDER rejected: margin"),
        (4, "trading.feed", "slow tick"),
    ]
    .into_iter()
    .enumerate()
    {
        sqlx::query(
            "INSERT INTO log_line (message_id, line_no, time, host, source, level, component, \
                                   message, fields, file_offset, truncated) \
             VALUES ($1, $2, $3, 'test-host', '/var/log/trading/engine.log', $4, $5, $6, '{}', $7, false)",
        )
        .bind(message_id)
        .bind(i as i32)
        .bind(now - chrono::TimeDelta::minutes(10 - i as i64))
        .bind(level)
        .bind(component)
        .bind(message)
        .bind(i as i64 * 100)
        .execute(&env.pool)
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_works_in_a_real_browser() {
    let venv = venv();
    let alpaca = alpaca_stand_in().await;
    let yahoo = yahoo_stand_in().await;
    let env = TestEnv::new(&format!(
        "alpaca:\n  base_url: {}\n  portfolio_interval_seconds: 1\n  trades_interval_seconds: 1\n  history_interval_seconds: 10\nmarket:\n  yahoo_base_url: {}\n  timeout_seconds: 2\n  rpc_timeout_seconds: 5\n",
        alpaca.url(),
        yahoo.url()
    ))
    .await;
    let read_key = add_read_key(&env);
    std::fs::write(
        env.dir.path().join("alerts.yaml"),
        format!(
            "rules:\n- {{name: {RULE}, severity: critical, category: system, expr: 'memory.used_bytes > 1', summary: 'Memory in use on {{{{ labels.host }}}}'}}\n"
        ),
    )
    .unwrap();
    env.migrate().await;
    let keys = [
        ("EXPORTER_API_KEY", env.api_key.as_str()),
        ("EXPORTER_ALPACA_KEY_ID", "test-key-id"),
        ("EXPORTER_ALPACA_SECRET_KEY", "test-secret-generated"),
    ];
    let _procs = [
        env.spawn("exporter-aggregator", &[]),
        env.spawn("exporter-collector", &["system"]),
        env.spawn("exporter-collector", &["hardware"]),
        env.spawn("exporter-collector", &["market"]),
        env.spawn_with("exporter-collector", &["trades"], &keys),
        env.spawn_with("exporter-collector", &["portfolio"], &keys),
        env.spawn("exporter-api", &[]),
    ];
    exporter_tests::wait_for_port(env.api_port, Duration::from_secs(30));
    eventually(
        "samples, the account, the trades and the firing rule",
        Duration::from_secs(60),
        || async {
            let portfolio = env.get("/metrics/portfolio").await.0 == 200;
            let hardware = env.get("/metrics/hardware").await.1["hosts"]
                .as_array()
                .is_some_and(|h| !h.is_empty());
            let trades = env.get("/trades/history").await.1["total"] == 2;
            let firing = env.get("/alerts?state=firing").await.1["alerts"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["rule"] == RULE));
            (portfolio && hardware && trades && firing).then_some(())
        },
    )
    .await;

    seed_logs(&env).await;

    let result = env.dir.path().join("browser-result.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/dashboard_check.py");
    let mut command = Command::new(venv.join("bin/python"));
    command
        .arg(&script)
        .env("DASHBOARD_URL", env.api_url(""))
        .env("DASHBOARD_KEY", &env.api_key)
        .env("DASHBOARD_READ_KEY", &read_key)
        .env("DASHBOARD_HOST", "test-host")
        .env("DASHBOARD_ALERT", RULE)
        .env("DASHBOARD_RESULT", &result);
    if let Ok(dir) = std::env::var("SCREENSHOTS") {
        command.env("SCREENSHOTS", dir);
    }
    let output = command.output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{report}");
    assert!(output.status.success(), "browser checks failed:\n{report}");

    // What the page did, seen through the API.
    let result: Value = serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
    let id = result["figures"]["acknowledged_alert_id"].as_str().unwrap();
    let (status, detail) = env.get(&format!("/alerts/{id}")).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["rule"], RULE);
    assert!(
        detail["acknowledged_at"].is_string(),
        "the alert acknowledged in the browser is not acknowledged: {detail}"
    );
    env.finish().await;
}
