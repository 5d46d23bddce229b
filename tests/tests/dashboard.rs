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
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use exporter_tests::{TestEnv, eventually};
use serde_json::Value;

/// The rule that fires as soon as the first system sample is in: memory is always in use.
const RULE: &str = "MemoryInUse";

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
    let venv = exporter_tests::recorded::python_venv("browser/venv.sh");
    let alpaca = exporter_tests::recorded::alpaca_round_trips().await;
    let yahoo = exporter_tests::recorded::yahoo_chart().await;
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
    let _procs = exporter_tests::recorded::spawn_whole_stack(&env);
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
