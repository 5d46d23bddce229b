//! The OpenAPI document is the contract (issue #16), checked against the real stack (NATS,
//! PostgreSQL, aggregator, collectors, API) with the Yahoo and Alpaca stand-ins serving data:
//!
//! - schemathesis (PyPI, in the venv of tests/openapi/venv.sh) fuzzes every operation from
//!   `/openapi.json` with `--checks all`, a fixed example count and seed: zero failures, and every
//!   4xx it saw (read back from its HAR report) is `application/problem+json`. The SSE streams,
//!   which a fuzzer cannot end, are left out there and checked here on their own;
//! - a client generated from `/openapi.json` by `openapi-python-client` calls three routes (one a
//!   POST) and gets a typed `Problem` for a bad request (tests/openapi/client_check.py).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use exporter_tests::{StandIn, TestEnv, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

/// How many examples schemathesis generates per operation and phase, and its seed: fixed, so
/// every run sends the same requests.
const MAX_EXAMPLES: &str = "40";
const SEED: &str = "16";

/// A running stack with data behind every route: samples of the system and hardware
/// collectors, the brokerage through Alpaca, a stored chart, alerts with a transition, log lines
/// and a silence.
struct Stack {
    env: TestEnv,
    _stand_ins: (StandIn, StandIn),
    _procs: Vec<exporter_tests::Proc>,
}

async fn stack() -> Stack {
    let alpaca = exporter_tests::recorded::alpaca_round_trips().await;
    let yahoo = exporter_tests::recorded::yahoo_chart().await;
    let env = TestEnv::new(&format!(
        "alpaca:\n  base_url: {}\n  portfolio_interval_seconds: 1\n  trades_interval_seconds: 1\n  history_interval_seconds: 10\nmarket:\n  yahoo_base_url: {}\n  timeout_seconds: 2\n  rpc_timeout_seconds: 15\n",
        alpaca.url(),
        yahoo.url()
    ))
    .await;
    // The fuzzer sends hundreds of requests without a key and expects 401 to each; the 429 of
    // failed-auth throttling (documented, tested in api_bounds.rs) would come first.
    let yaml = std::fs::read_to_string(&env.settings_path).unwrap();
    std::fs::write(
        &env.settings_path,
        yaml.replacen("\napi:\n", "\napi:\n  auth_failure_limit: 100000\n", 1),
    )
    .unwrap();
    let procs = exporter_tests::recorded::spawn_whole_stack(&env);
    exporter_tests::wait_for_port(env.api_port, Duration::from_secs(30));
    eventually(
        "data behind every route",
        Duration::from_secs(60),
        || async {
            let portfolio = env.get("/metrics/portfolio").await.0 == 200;
            let hardware = env.get("/metrics/hardware").await.1["hosts"]
                .as_array()
                .is_some_and(|h| !h.is_empty());
            let system = env.get("/metrics/system").await.1["hosts"]
                .as_array()
                .is_some_and(|h| !h.is_empty());
            let trades = env.get("/trades/history").await.1["total"] == 2;
            let chart = env.get("/market/chart/AAPL?period=max").await.0 == 200;
            (portfolio && hardware && system && trades && chart).then_some(())
        },
    )
    .await;
    seed_alerts_and_logs(&env).await;
    Stack {
        env,
        _stand_ins: (alpaca, yahoo),
        _procs: procs,
    }
}

async fn seed_alerts_and_logs(env: &TestEnv) {
    let now = Utc::now();
    for (i, (rule, severity, state)) in [
        ("GpuTemperatureHigh", "critical", "firing"),
        ("DiskAlmostFull", "warning", "resolved"),
        ("OrderRejected", "info", "pending"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = Uuid::now_v7();
        let started = now - TimeDelta::minutes(30 - i as i64);
        sqlx::query(
            "INSERT INTO alert (alert_id, fingerprint, rule, severity, category, state, labels, \
                                annotations, value, started_at, fired_at, resolved_at, last_active_at) \
             VALUES ($1, $2, $3, $4, 'system', $5, $6, $7, 91.5, $8, $9, $10, $8)",
        )
        .bind(id)
        .bind(format!("fp-{rule}"))
        .bind(rule)
        .bind(severity)
        .bind(state)
        .bind(json!({"alertname": rule, "host": "gh200"}))
        .bind(json!({"summary": format!("{rule} on gh200")}))
        .bind(started)
        .bind((state != "pending").then(|| started + TimeDelta::minutes(1)))
        .bind((state == "resolved").then(|| started + TimeDelta::minutes(2)))
        .execute(&env.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO alert_transition (alert_id, time, kind, value) VALUES ($1, $2, 'pending', 91.5)",
        )
        .bind(id)
        .bind(started)
        .execute(&env.pool)
        .await
        .unwrap();
    }
    let message_id = Uuid::now_v7();
    for (i, (level, component, message)) in [
        (3_i16, Some("trading.engine"), "order filled"),
        (5, Some("trading.risk"), "ORDER rejected: margin"),
        (4, None, "slow tick"),
    ]
    .into_iter()
    .enumerate()
    {
        sqlx::query(
            "INSERT INTO log_line (message_id, line_no, time, host, source, level, component, \
                                   message, fields, file_offset, truncated) \
             VALUES ($1, $2, $3, 'gh200', '/var/log/trading/engine.log', $4, $5, $6, $7, $8, false)",
        )
        .bind(message_id)
        .bind(i as i32)
        .bind(now - TimeDelta::minutes(10 - i as i64))
        .bind(level)
        .bind(component)
        .bind(message)
        .bind(json!({"symbol": "AAPL"}))
        .bind(i as i64 * 100)
        .execute(&env.pool)
        .await
        .unwrap();
    }
    let (status, body) = post_json(
        env,
        "/silences",
        json!({"matchers": [{"name": "alertname", "value": "DiskAlmostFull"}], "duration": "2h", "comment": "disk swap"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

async fn post_json(env: &TestEnv, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(env.api_url(path))
        .header("X-API-Key", &env.api_key)
        .json(&body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `/openapi.json`, written to `dir`.
async fn document(env: &TestEnv, dir: &Path) -> (PathBuf, Value) {
    let (status, doc) = env.get("/openapi.json").await;
    assert_eq!(status, 200, "{doc}");
    let path = dir.join("openapi.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    (path, doc)
}

/// The two tests each run a whole stack; one at a time, so neither starves the other's.
static ONE_STACK_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_to_say_about_the_document() {
    let _alone = ONE_STACK_AT_A_TIME.lock().await;
    let venv = exporter_tests::recorded::python_venv("openapi/venv.sh");
    let stack = stack().await;
    let env = &stack.env;
    let work = tempfile::tempdir().unwrap();
    let (doc_path, doc) = document(env, work.path()).await;
    assert!(doc["paths"]["/alerts/stream"]["get"].is_object());

    let har = work.path().join("report.har");
    let output = tokio::task::spawn_blocking({
        let (venv, doc_path, har, url, key) = (
            venv.clone(),
            doc_path.clone(),
            har.clone(),
            env.api_url(""),
            env.api_key.clone(),
        );
        move || {
            Command::new(venv.join("bin/st"))
                .arg("--config-file")
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/schemathesis.toml"))
                .arg("run")
                .arg(&doc_path)
                .args(["--url", url.trim_end_matches('/')])
                .args(["--header", &format!("X-API-Key: {key}")])
                .args(["--checks", "all"])
                .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED])
                .args(["--exclude-path", "/alerts/stream"])
                .args(["--exclude-path", "/metrics/stream"])
                // One worker: with several, CPython 3.11's parser trips over hypothesis'
                // concurrent source inspection ("AST constructor recursion depth mismatch").
                .args(["--workers", "1", "--request-timeout", "20"])
                // A debug build on a shared 2-core machine: speed is the benchmarks' business.
                .args(["--max-response-time", "30"])
                .args(["--report", "har", "--report-har-path"])
                .arg(&har)
                .args(["--output-sanitize", "true"])
                .env("NO_COLOR", "1")
                .env("SCHEMATHESIS_TELEMETRY", "false")
                .current_dir(work_dir(&doc_path))
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "schemathesis found failures (above)"
    );
    let summary = stdout
        .lines()
        .rev()
        .find(|line| line.starts_with("===") && line.contains(" in "))
        .unwrap_or_default();
    assert!(
        !summary.contains("failure") && !summary.contains("error"),
        "schemathesis did not report a clean run: {summary}"
    );

    // Every 4xx it saw is problem+json, with the status in the body.
    let har: Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    let entries = har["log"]["entries"].as_array().unwrap();
    let mut client_errors = 0;
    for entry in entries {
        let response = &entry["response"];
        let status = response["status"].as_u64().unwrap();
        if (400..500).contains(&status) {
            client_errors += 1;
            let content = &response["content"];
            assert_eq!(
                content["mimeType"], "application/problem+json",
                "{} {}: {status} {content}",
                entry["request"]["method"], entry["request"]["url"]
            );
        }
    }
    assert!(
        entries.len() > 500 && client_errors > 100,
        "{} requests, {client_errors} 4xx: the fuzzer hardly ran",
        entries.len()
    );

    // The streams, on their own: documented as SSE, behind the key, and streaming.
    for path in ["/alerts/stream", "/metrics/stream"] {
        let stream = &doc["paths"][path]["get"]["responses"];
        assert!(
            stream["200"]["content"]["text/event-stream"].is_object(),
            "{path}"
        );
        assert!(
            stream["401"]["content"]["application/problem+json"].is_object(),
            "{path}"
        );
        let refused = reqwest::get(env.api_url(path)).await.unwrap();
        assert_eq!(refused.status(), 401, "{path}");
        assert_eq!(
            refused.headers()["content-type"],
            "application/problem+json"
        );
        let open = reqwest::Client::new()
            .get(env.api_url(path))
            .header("X-API-Key", &env.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(open.status(), 200, "{path}");
        assert!(
            open.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        drop(open);
    }
    // The dashboard's page is in the document as HTML, open to all.
    let page = &doc["paths"]["/"]["get"];
    assert!(
        page["responses"]["200"]["content"]["text/html"].is_object(),
        "{page}"
    );
    stack.env.finish().await;
}

fn work_dir(doc_path: &Path) -> PathBuf {
    doc_path.parent().unwrap().to_path_buf()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_python_client_calls_the_api_and_gets_typed_errors() {
    let _alone = ONE_STACK_AT_A_TIME.lock().await;
    let venv = exporter_tests::recorded::python_venv("openapi/venv.sh");
    let env = TestEnv::new("").await;
    env.migrate().await;
    let _aggregator = env.spawn("exporter-aggregator", &[]);
    let _api = env.spawn("exporter-api", &[]);
    exporter_tests::wait_for_port(env.api_port, Duration::from_secs(30));
    let work = tempfile::tempdir().unwrap();
    let (doc_path, _) = document(&env, work.path()).await;

    let generated = work.path().join("exporter_client");
    let output = Command::new(venv.join("bin/openapi-python-client"))
        .arg("generate")
        .arg("--path")
        .arg(&doc_path)
        .arg("--output-path")
        .arg(&generated)
        .args(["--meta", "none", "--config"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/client-config.yaml"))
        .output()
        .unwrap();
    let generator_output = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{generator_output}");
    assert!(
        !generator_output.contains("Warning"),
        "the generator had something to say about the document: {generator_output}"
    );

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/client_check.py");
    let output = Command::new(venv.join("bin/python"))
        .arg(&script)
        .arg(env.api_url(""))
        .env("PYTHONPATH", work.path())
        .env("EXPORTER_API_KEY", &env.api_key)
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{text}");
    assert!(output.status.success(), "{text}");
    for line in [
        "health: PublicHealth/Health status=ok postgres=up",
        "alerts: AlertPage total=0",
        "silence created: SilenceView state=active by=main",
        "bad silence: Problem status=422 parameter=comment",
        "bad limit: Problem status=400 parameter=limit",
    ] {
        assert!(text.contains(line), "`{line}` missing from: {text}");
    }

    // The docs page: served without a key, holding none, from the binary's own assets.
    let page = reqwest::get(env.api_url("/docs")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("/docs/swagger-ui-bundle.js") && html.contains("/openapi.json"));
    assert!(!html.contains(&env.api_key) && !html.contains("https://"));
    for (file, content_type, at_least_bytes) in [
        ("swagger-ui-bundle.js", "text/javascript", 500_000),
        (
            "swagger-ui-standalone-preset.js",
            "text/javascript",
            100_000,
        ),
        ("swagger-ui.css", "text/css", 50_000),
    ] {
        let response = reqwest::get(env.api_url(&format!("/docs/{file}")))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{file}");
        assert_eq!(response.headers()["content-type"], content_type, "{file}");
        assert!(
            response.bytes().await.unwrap().len() > at_least_bytes,
            "{file}"
        );
    }
    env.finish().await;
}
