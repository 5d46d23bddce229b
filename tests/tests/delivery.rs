//! Alert notification delivery against local stand-ins for the services (axum on 127.0.0.1:0)
//! and the real PostgreSQL delivery log: the Alertmanager webhook payload, retries and
//! permanent failures, grouping of a burst, repeats that stop once acknowledged, silences, and
//! the Slack, ntfy and Telegram request shapes, with generated secrets that must show up in no
//! log line and no `alert_delivery` row; and that neither a reload nor a restart sends an alert
//! twice.
//!
//! The secret-leak check needs the process's whole log: `receivers_keep_their_secrets` runs
//! this test binary again (only `receivers_keep_their_secrets_child`, which does nothing unless
//! `DELIVERY_CHILD` is set) with `RUST_LOG=debug`, and reads everything the child wrote.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, VecDeque};
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use exporter_alerting::dispatch::{self, DispatchHandle, DispatchOptions, Notice};
use exporter_protocol::alert::{Alert, AlertEventKind, AlertState, Severity};
use exporter_runtime::Shutdown;
use exporter_store::Store;
use exporter_store::delivery::{DeliveryRecord, DeliveryStatus};
use exporter_tests::{TestEnv, eventually};
use serde_json::Value;
use uuid::Uuid;

/// One request a stand-in received.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    path: String,
    authorization: Option<String>,
    body: Value,
}

/// A stand-in service: records every request and answers from a script (then 200).
#[derive(Debug, Clone, Default)]
struct StandIn {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<(u16, String)>>>,
}

impl StandIn {
    /// Starts one on 127.0.0.1:0; returns it and its base URL.
    async fn start(script: &[(u16, &str)]) -> (Self, String) {
        let stand_in = Self::default();
        stand_in
            .script
            .lock()
            .unwrap()
            .extend(script.iter().map(|(s, b)| (*s, (*b).to_owned())));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(stand_in.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (stand_in, format!("http://127.0.0.1:{port}"))
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Requests whose webhook payload is about `host`'s group.
    fn for_host(&self, host: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.body["groupLabels"]["host"] == host)
            .collect()
    }
}

async fn answer(
    State(stand_in): State<StandIn>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    stand_in.seen.lock().unwrap().push(Seen {
        at: Instant::now(),
        path: uri.path().to_owned(),
        authorization: headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let (status, text) = stand_in
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or((200, r#"{"ok":true}"#.to_owned()));
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        text,
    )
        .into_response()
}

fn alert(name: &str, host: &str, severity: Severity, summary: &str) -> Alert {
    let now = Utc::now();
    let labels = BTreeMap::from([
        ("alertname".to_owned(), name.to_owned()),
        ("host".to_owned(), host.to_owned()),
    ]);
    Alert {
        id: Uuid::now_v7(),
        fingerprint: format!("{:016x}", rand_u64()),
        rule: name.to_owned(),
        severity,
        category: "hardware".into(),
        state: AlertState::Firing,
        labels,
        annotations: BTreeMap::from([("summary".to_owned(), summary.to_owned())]),
        value: Some(91.0),
        started_at: now - chrono::Duration::seconds(60),
        fired_at: Some(now),
        resolved_at: None,
        acknowledged_at: None,
        acknowledged_by: None,
        last_active_at: now,
    }
}

fn rand_u64() -> u64 {
    let id = Uuid::new_v4();
    u64::from_le_bytes(id.as_bytes()[..8].try_into().unwrap())
}

fn resolved(alert: &Alert) -> Alert {
    Alert {
        state: AlertState::Resolved,
        resolved_at: Some(Utc::now()),
        ..alert.clone()
    }
}

fn acknowledged(alert: &Alert) -> Alert {
    Alert {
        acknowledged_at: Some(Utc::now()),
        acknowledged_by: Some("owner".into()),
        ..alert.clone()
    }
}

fn firing(alert: &Alert) -> Notice {
    Notice {
        alert: alert.clone(),
        silenced: false,
    }
}

fn options() -> DispatchOptions {
    DispatchOptions {
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_millis(400),
        external_url: "http://exporter.test:8000".into(),
    }
}

/// Parses an alerts file holding only `route` and `receivers`, as the aggregator would.
fn rules(yaml: &str) -> exporter_alerting::AlertRules {
    exporter_alerting::AlertRules::parse(yaml)
        .unwrap_or_else(|(key, message)| panic!("{key}: {message}\n{yaml}"))
}

async fn store(env: &TestEnv) -> Store {
    let store = Store::connect(&env.settings().database).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// Starts a dispatcher for `yaml`.
fn start(
    yaml: &str,
    store: &Store,
    shutdown: &Shutdown,
) -> (DispatchHandle, tokio::task::JoinHandle<()>) {
    let rules = rules(yaml);
    dispatch::spawn(
        rules.route,
        rules.receivers,
        Some(store.clone()),
        options(),
        shutdown.clone(),
    )
    .unwrap()
}

/// A 0600 file holding `secret`.
fn secret_file(dir: &std::path::Path, name: &str, secret: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

async fn deliveries(store: &Store, receiver: &str) -> Vec<DeliveryRecord> {
    let mut rows: Vec<DeliveryRecord> = store
        .recent_deliveries(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.receiver == receiver)
        .collect();
    rows.reverse();
    rows
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_payload_is_alertmanager_v4_with_the_bearer_token() {
    let env = TestEnv::new("").await;
    let store = store(&env).await;
    let (hook, base) = StandIn::start(&[]).await;
    let (plain, plain_base) = StandIn::start(&[]).await;
    let token = format!("tok-{}", Uuid::new_v4().simple());
    let token_file = secret_file(env.dir.path(), "hook-token", &token);
    let yaml = format!(
        "route: {{group_by: [alertname, host], group_wait: 200ms, group_interval: 300ms, repeat_interval: 1h}}\n\
         receivers:\n\
         - {{name: am, type: webhook, url: '{base}/hook', token_file: {}}}\n\
         - {{name: plain, type: webhook, url: '{plain_base}/x'}}\n",
        token_file.display()
    );
    let shutdown = Shutdown::new();
    let (handle, task) = start(&yaml, &store, &shutdown);

    let mut gpu0 = alert("GpuHot", "gh200", Severity::Critical, "GPU 0 at 91 °C");
    gpu0.labels.insert("gpu".into(), "0".into());
    let mut gpu1 = alert("GpuHot", "gh200", Severity::Critical, "GPU 1 at 92 °C");
    gpu1.labels.insert("gpu".into(), "1".into());
    gpu1.annotations.insert("description".into(), "hot".into());
    let now = Utc::now();
    store
        .record_alert_events(&[
            (AlertEventKind::Firing, now, &gpu0),
            (AlertEventKind::Firing, now, &gpu1),
        ])
        .await
        .unwrap();
    handle.notify(firing(&gpu0));
    handle.notify(firing(&gpu1));

    let first = eventually(
        "the first webhook message",
        Duration::from_secs(10),
        || async { hook.seen().first().cloned() },
    )
    .await;
    assert_eq!(first.path, "/hook");
    assert_eq!(first.authorization, Some(format!("Bearer {token}")));
    let body = &first.body;
    assert_eq!(body["version"], "4");
    assert_eq!(body["groupKey"], r#"{alertname="GpuHot", host="gh200"}"#);
    assert_eq!(body["truncatedAlerts"], 0);
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "am");
    assert_eq!(
        body["groupLabels"],
        serde_json::json!({"alertname": "GpuHot", "host": "gh200"})
    );
    assert_eq!(body["commonLabels"]["alertname"], "GpuHot");
    assert_eq!(body["commonLabels"]["host"], "gh200");
    assert_eq!(body["commonLabels"]["severity"], "critical");
    assert!(
        body["commonLabels"].get("gpu").is_none(),
        "gpu differs: {body}"
    );
    assert!(body["commonAnnotations"].as_object().unwrap().is_empty());
    assert_eq!(body["externalURL"], "http://exporter.test:8000");
    let alerts = body["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    for (sent, alert) in alerts.iter().zip([&gpu0, &gpu1]) {
        assert_eq!(sent["status"], "firing");
        assert_eq!(sent["labels"]["gpu"], alert.labels["gpu"]);
        assert_eq!(sent["labels"]["alertname"], "GpuHot");
        assert_eq!(sent["annotations"]["summary"], alert.annotations["summary"]);
        assert_eq!(time(&sent["startsAt"]), alert.fired_at.unwrap());
        assert_eq!(sent["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(
            sent["generatorURL"],
            format!("http://exporter.test:8000/alerts/{}", alert.id)
        );
        assert_eq!(sent["fingerprint"], alert.fingerprint.as_str());
        assert_eq!(sent["exporter"]["alert_id"], alert.id.to_string());
        assert_eq!(sent["exporter"]["acknowledged"], false);
    }
    // Without a token there is no Authorization header.
    let other = eventually(
        "the plain webhook message",
        Duration::from_secs(10),
        || async { plain.seen().first().cloned() },
    )
    .await;
    assert_eq!(other.authorization, None);
    assert_eq!(other.body["receiver"], "plain");
    // A successful delivery marks the alerts as notified.
    eventually("last_notified_at set", Duration::from_secs(5), || async {
        let notified = store.last_notified(&[gpu0.id, gpu1.id]).await.unwrap();
        (notified.len() == 2).then_some(())
    })
    .await;

    // One resolves: still firing as a group, with the resolved alert's endsAt.
    let gpu0_resolved = resolved(&gpu0);
    handle.notify(firing(&gpu0_resolved));
    let second = eventually(
        "the resolution message",
        Duration::from_secs(10),
        || async { hook.seen().get(1).cloned() },
    )
    .await;
    // group_interval (300 ms) runs from when the first message was taken, a few ms before the
    // stand-in saw it.
    assert!(second.at - first.at >= Duration::from_millis(250));
    assert_eq!(second.body["status"], "firing");
    let alerts = second.body["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[1]["status"], "resolved");
    assert_eq!(
        time(&alerts[1]["endsAt"]),
        gpu0_resolved.resolved_at.unwrap()
    );
    // The last one resolves: the group is resolved.
    handle.notify(firing(&resolved(&gpu1)));
    let third = eventually("the final message", Duration::from_secs(10), || async {
        hook.seen().get(2).cloned()
    })
    .await;
    assert_eq!(third.body["status"], "resolved");
    assert_eq!(third.body["alerts"].as_array().unwrap().len(), 1);

    let rows = eventually("three rows", Duration::from_secs(5), || async {
        let rows = deliveries(&store, "am").await;
        (rows.len() >= 3).then_some(rows)
    })
    .await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().all(|r| r.status == DeliveryStatus::Sent
        && r.attempt == 1
        && r.http_status == Some(200)
        && r.group_key == r#"{alertname="GpuHot", host="gh200"}"#));
    assert_eq!(rows[0].alert_ids.len(), 2);
    shutdown.trigger();
    task.await.unwrap();
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_is_retried_and_a_400_is_not() {
    let env = TestEnv::new("").await;
    let store = store(&env).await;
    let (flaky, flaky_base) = StandIn::start(&[(500, "oops"), (503, "busy")]).await;
    let (strict, strict_base) = StandIn::start(&[(400, r#"{"error":"bad payload"}"#)]).await;
    // A long group_interval: only the delivery's own retries are in play.
    let yaml = format!(
        "route: {{group_wait: 100ms, group_interval: 1h, repeat_interval: 1h}}\n\
         receivers:\n\
         - {{name: flaky, type: webhook, url: '{flaky_base}/', max_attempts: 5}}\n\
         - {{name: strict, type: webhook, url: '{strict_base}/', max_attempts: 5}}\n"
    );
    let shutdown = Shutdown::new();
    let (handle, task) = start(&yaml, &store, &shutdown);
    let a = alert("HostDown", "gh200", Severity::Critical, "gh200 is down");
    handle.notify(firing(&a));

    // 500, 503 (retried after 100 ms, then 200 ms), then delivered.
    let rows = eventually("flaky delivered", Duration::from_secs(10), || async {
        let rows = deliveries(&store, "flaky").await;
        rows.iter()
            .any(|r| r.status == DeliveryStatus::Sent)
            .then_some(rows)
    })
    .await;
    let summary: Vec<(DeliveryStatus, i32, Option<i32>)> = rows
        .iter()
        .map(|r| (r.status, r.attempt, r.http_status))
        .collect();
    assert_eq!(
        summary,
        [
            (DeliveryStatus::Retrying, 1, Some(500)),
            (DeliveryStatus::Retrying, 2, Some(503)),
            (DeliveryStatus::Sent, 3, Some(200)),
        ]
    );
    assert!(
        rows[0].error.as_deref().unwrap().contains("500"),
        "{rows:?}"
    );
    assert!(rows.iter().all(|r| r.alert_ids == [a.id]));
    let seen = flaky.seen();
    assert_eq!(seen.len(), 3, "delivered once, after two failures");
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(100));
    assert!(seen[2].at - seen[1].at >= Duration::from_millis(200));
    assert_eq!(seen[0].body, seen[2].body, "the same message is retried");

    // The 400 failed at once; by now (300 ms of backoff later) a retry would have come.
    let rows = deliveries(&store, "strict").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].status, DeliveryStatus::Failed);
    assert_eq!(rows[0].http_status, Some(400));
    assert!(
        rows[0].error.as_deref().unwrap().contains("bad payload"),
        "{rows:?}"
    );
    assert_eq!(strict.count(), 1);
    shutdown.trigger();
    task.await.unwrap();
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_within_group_wait_becomes_one_message() {
    let env = TestEnv::new("").await;
    let store = store(&env).await;
    let (hook, base) = StandIn::start(&[]).await;
    let yaml = format!(
        "route: {{group_by: [alertname, host], group_wait: 300ms, group_interval: 1h, repeat_interval: 1h}}\n\
         receivers:\n- {{name: am, type: webhook, url: '{base}/'}}\n"
    );
    let shutdown = Shutdown::new();
    let (handle, task) = start(&yaml, &store, &shutdown);
    let mut burst = Vec::new();
    for gpu in 0..5 {
        let mut a = alert("GpuHot", "gh200", Severity::Warning, &format!("GPU {gpu}"));
        a.labels.insert("gpu".into(), gpu.to_string());
        handle.notify(firing(&a));
        burst.push(a);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Another group in the same burst is a message of its own.
    let other = alert("GpuHot", "lab", Severity::Warning, "GPU 0");
    handle.notify(firing(&other));
    eventually("both groups sent", Duration::from_secs(10), || async {
        (hook.count() >= 2).then_some(())
    })
    .await;
    // A later alert of a third group arrives group_wait (300 ms) after it is noticed: by then
    // any second message about the burst would have come too.
    handle.notify(firing(&alert(
        "HostDown",
        "gh200",
        Severity::Critical,
        "down",
    )));
    eventually("the later group sent", Duration::from_secs(10), || async {
        (hook.count() >= 3).then_some(())
    })
    .await;
    let burst_messages: Vec<Seen> = hook
        .seen()
        .into_iter()
        .filter(|s| s.body["groupKey"] == r#"{alertname="GpuHot", host="gh200"}"#)
        .collect();
    assert_eq!(burst_messages.len(), 1, "one message for the burst");
    let ids: Vec<&str> = burst_messages[0].body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["exporter"]["alert_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 5);
    for a in &burst {
        assert!(ids.contains(&a.id.to_string().as_str()));
    }
    assert_eq!(hook.count(), 3);
    assert_eq!(hook.for_host("lab").len(), 1);
    let rows = eventually("three rows", Duration::from_secs(5), || async {
        let rows = deliveries(&store, "am").await;
        (rows.len() >= 3).then_some(rows)
    })
    .await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().all(|r| r.status == DeliveryStatus::Sent));
    shutdown.trigger();
    task.await.unwrap();
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_until_acknowledged_and_silenced_alerts_send_nothing() {
    let env = TestEnv::new("").await;
    let store = store(&env).await;
    let (hook, base) = StandIn::start(&[]).await;
    let yaml = format!(
        "route: {{group_by: [alertname, host], group_wait: 100ms, group_interval: 200ms, repeat_interval: 500ms}}\n\
         receivers:\n- {{name: am, type: webhook, url: '{base}/'}}\n"
    );
    let shutdown = Shutdown::new();
    let (handle, task) = start(&yaml, &store, &shutdown);
    let nagging = alert("DiskFull", "a", Severity::Warning, "/data 95 %");
    let quiet = alert("DiskFull", "c", Severity::Critical, "/data 99 %");
    handle.notify(firing(&nagging));
    handle.notify(Notice {
        alert: quiet.clone(),
        silenced: true,
    });
    // First message and two repeats, each about 500 ms apart.
    eventually("two repeats", Duration::from_secs(10), || async {
        (hook.for_host("a").len() >= 3).then_some(())
    })
    .await;
    let seen = hook.for_host("a");
    // repeat_interval runs from when a message was taken, a few ms before it arrived.
    assert!(seen[2].at - seen[1].at >= Duration::from_millis(450));
    assert_eq!(seen[2].body["alerts"][0]["exporter"]["acknowledged"], false);
    // Acknowledged right after a repeat: no further repeats.
    handle.notify(firing(&acknowledged(&nagging)));
    let at_ack = hook.for_host("a").len();
    // The clock: another group repeats twice (≥ 1.1 s) meanwhile.
    let sentinel = alert("DiskFull", "b", Severity::Warning, "/data 91 %");
    handle.notify(firing(&sentinel));
    eventually(
        "the sentinel's repeats",
        Duration::from_secs(10),
        || async { (hook.for_host("b").len() >= 3).then_some(()) },
    )
    .await;
    assert_eq!(
        hook.for_host("a").len(),
        at_ack,
        "an acknowledged alert does not repeat"
    );
    assert!(
        hook.for_host("c").is_empty(),
        "a silenced alert sends nothing"
    );
    // The acknowledged alert's resolution still goes out, marked resolved.
    handle.notify(firing(&resolved(&acknowledged(&nagging))));
    let last = eventually("the resolution", Duration::from_secs(10), || async {
        hook.for_host("a").get(at_ack).cloned()
    })
    .await;
    assert_eq!(last.body["status"], "resolved");
    assert_eq!(last.body["alerts"][0]["exporter"]["acknowledged"], true);
    // Resolving the silenced alert sends nothing either; nothing about it was logged.
    handle.notify(Notice {
        alert: resolved(&quiet),
        silenced: true,
    });
    let sentinel_count = hook.for_host("b").len();
    eventually(
        "one more sentinel repeat",
        Duration::from_secs(10),
        || async { (hook.for_host("b").len() > sentinel_count).then_some(()) },
    )
    .await;
    assert!(hook.for_host("c").is_empty());
    let rows = deliveries(&store, "am").await;
    assert!(rows.iter().all(|r| !r.alert_ids.contains(&quiet.id)));
    shutdown.trigger();
    task.await.unwrap();
    env.finish().await;
}

/// Secrets the parent generates and hands to the child through its environment.
const CHILD: &str = "DELIVERY_CHILD";
const TELEGRAM_TOKEN: &str = "DELIVERY_TELEGRAM_TOKEN";
const SLACK_SECRET: &str = "DELIVERY_SLACK_SECRET";
const NTFY_TOKEN: &str = "DELIVERY_NTFY_TOKEN";

#[test]
fn receivers_keep_their_secrets() {
    let telegram = format!("{}:{}", rand_u64() % 1_000_000_000, Uuid::new_v4().simple());
    let slack = Uuid::new_v4().simple().to_string();
    let ntfy = format!("tk_{}", Uuid::new_v4().simple());
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "receivers_keep_their_secrets_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, "1")
        .env(TELEGRAM_TOKEN, &telegram)
        .env(SLACK_SECRET, &slack)
        .env(NTFY_TOKEN, &ntfy)
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the child failed:\n{log}");
    assert!(
        log.contains("1 passed"),
        "the child test did not run:\n{log}"
    );
    // The log is there, and detailed (debug), and says what happened...
    assert!(
        log.contains("alert notification delivered"),
        "no delivery logged:\n{log}"
    );
    assert!(
        log.contains("retrying") && log.contains("giving up"),
        "no retry or failure logged:\n{log}"
    );
    // ...without any secret.
    let (_, telegram_secret) = telegram.split_once(':').unwrap();
    for secret in [telegram.as_str(), telegram_secret, &slack, &ntfy] {
        assert!(
            !log.contains(secret),
            "a secret leaked into the log:\n{log}"
        );
    }
}

/// Run only by `receivers_keep_their_secrets` (with `DELIVERY_CHILD` set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_keep_their_secrets_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    exporter_runtime::logging::init(&exporter_settings::LoggingSettings::default());
    let telegram_token = std::env::var(TELEGRAM_TOKEN).unwrap();
    let slack_secret = std::env::var(SLACK_SECRET).unwrap();
    let ntfy_token = std::env::var(NTFY_TOKEN).unwrap();
    let env = TestEnv::new("").await;
    let store = store(&env).await;
    let (slack, slack_base) = StandIn::start(&[]).await;
    let (ntfy, ntfy_base) = StandIn::start(&[]).await;
    // Telegram's flood control first: 429 with parameters.retry_after (1 s).
    let (telegram, telegram_base) = StandIn::start(&[(
        429,
        r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}"#,
    )])
    .await;
    let slack_path = format!("/services/T0000/B0000/{slack_secret}");
    let slack_file = secret_file(
        env.dir.path(),
        "slack-url",
        &format!("{slack_base}{slack_path}"),
    );
    // Nothing listens there: connection refused, retried, then given up.
    let dead_port = exporter_tests::free_port();
    let dead_file = secret_file(
        env.dir.path(),
        "dead-url",
        &format!("http://127.0.0.1:{dead_port}{slack_path}"),
    );
    let ntfy_file = secret_file(env.dir.path(), "ntfy-token", &ntfy_token);
    let yaml = format!(
        "route: {{group_by: [alertname, host], group_wait: 100ms, group_interval: 1h, repeat_interval: 1h}}\n\
         receivers:\n\
         - {{name: chat, type: slack, url_file: {slack}}}\n\
         - {{name: dead, type: slack, url_file: {dead}, max_attempts: 2, timeout_seconds: 2}}\n\
         - {{name: phone, type: ntfy, url: '{ntfy_base}', topic: gh200-alerts, token_file: {ntfy_file}}}\n\
         - {{name: bot, type: telegram, url: '{telegram_base}', chat_id: '-100123', token_env: {TELEGRAM_TOKEN}}}\n",
        slack = slack_file.display(),
        dead = dead_file.display(),
        ntfy_file = ntfy_file.display(),
    );
    let shutdown = Shutdown::new();
    let (handle, task) = start(&yaml, &store, &shutdown);
    let hot = alert(
        "GpuHot",
        "gh200",
        Severity::Critical,
        "GPU 0 at 91 °C <throttling> & rising",
    );
    let mut warm = alert("GpuHot", "gh200", Severity::Warning, "GPU 1 at 80 °C");
    warm.labels.insert("gpu".into(), "1".into());
    handle.notify(firing(&hot));
    handle.notify(firing(&acknowledged(&warm)));

    let slack_seen = eventually("the Slack message", Duration::from_secs(10), || async {
        slack.seen().first().cloned()
    })
    .await;
    assert_eq!(slack_seen.path, slack_path);
    assert_eq!(slack_seen.authorization, None);
    let body = &slack_seen.body;
    assert_eq!(body["text"], "[FIRING:2] GpuHot gh200");
    let attachment = &body["attachments"][0];
    assert_eq!(attachment["color"], "#d63232");
    assert_eq!(attachment["title"], "[FIRING:2] GpuHot gh200");
    assert_eq!(
        attachment["text"],
        "[FIRING] critical: GPU 0 at 91 °C &lt;throttling&gt; &amp; rising (host gh200)\n\
         [ACK] warning: GPU 1 at 80 °C (host gh200)"
    );

    let ntfy_seen = eventually("the ntfy message", Duration::from_secs(10), || async {
        ntfy.seen().first().cloned()
    })
    .await;
    assert_eq!(ntfy_seen.path, "/");
    assert_eq!(
        ntfy_seen.authorization,
        Some(format!("Bearer {ntfy_token}"))
    );
    let body = &ntfy_seen.body;
    assert_eq!(body["topic"], "gh200-alerts");
    assert_eq!(body["title"], "[FIRING:2] GpuHot gh200");
    assert_eq!(body["priority"], 5);
    assert_eq!(body["tags"], serde_json::json!(["rotating_light"]));
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("[FIRING] critical: GPU 0 at 91 °C <throttling> & rising (host gh200)\n"),
        "{body}"
    );

    let telegram_seen = eventually("the Telegram retry", Duration::from_secs(10), || async {
        let seen = telegram.seen();
        (seen.len() >= 2).then_some(seen)
    })
    .await;
    assert!(
        telegram_seen[1].at - telegram_seen[0].at >= Duration::from_secs(1),
        "retry_after honoured"
    );
    let seen = &telegram_seen[1];
    assert_eq!(seen.path, format!("/bot{telegram_token}/sendMessage"));
    assert_eq!(seen.authorization, None);
    assert_eq!(seen.body["chat_id"], "-100123");
    assert_eq!(seen.body["parse_mode"], "HTML");
    assert_eq!(seen.body["disable_web_page_preview"], true);
    assert_eq!(
        seen.body["text"],
        "<b>[FIRING:2] GpuHot gh200</b>\n\
         [FIRING] critical: GPU 0 at 91 °C &lt;throttling&gt; &amp; rising (host gh200)\n\
         [ACK] warning: GPU 1 at 80 °C (host gh200)"
    );

    let dead = eventually(
        "the dead receiver given up",
        Duration::from_secs(15),
        || async {
            let rows = deliveries(&store, "dead").await;
            rows.iter()
                .any(|r| r.status == DeliveryStatus::Failed)
                .then_some(rows)
        },
    )
    .await;
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(dead[0].status, DeliveryStatus::Retrying);
    assert!(dead[0].http_status.is_none());
    assert!(!dead[0].error.as_deref().unwrap_or("").is_empty());
    let bot = eventually("the bot delivered", Duration::from_secs(5), || async {
        let rows = deliveries(&store, "bot").await;
        (rows.len() == 2).then_some(rows)
    })
    .await;
    assert_eq!(bot[0].http_status, Some(429));
    assert_eq!(bot[1].status, DeliveryStatus::Sent);

    // No row holds a secret, in any column.
    let rows: Vec<String> = sqlx::query_scalar("SELECT row_to_json(d)::text FROM alert_delivery d")
        .fetch_all(&env.pool)
        .await
        .unwrap();
    assert!(rows.len() >= 6, "{rows:?}");
    let (_, bare_token) = telegram_token.split_once(':').unwrap();
    for row in &rows {
        for secret in [
            telegram_token.as_str(),
            bare_token,
            &slack_secret,
            &ntfy_token,
        ] {
            assert!(!row.contains(secret), "a secret in the delivery log: {row}");
        }
    }
    shutdown.trigger();
    task.await.unwrap();
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_and_restart_send_nothing_twice() {
    let env = TestEnv::new("").await;
    let store = store(&env).await;
    let (one, one_base) = StandIn::start(&[]).await;
    let (two, two_base) = StandIn::start(&[]).await;
    let route = "route: {group_by: [alertname, host], group_wait: 100ms, group_interval: 200ms, repeat_interval: 1h}\n";
    let shutdown = Shutdown::new();
    let (handle, task) = start(
        &format!("{route}receivers:\n- {{name: one, type: webhook, url: '{one_base}/'}}\n"),
        &store,
        &shutdown,
    );
    let x = alert("HostDown", "x", Severity::Critical, "x is down");
    let y = alert("HostDown", "y", Severity::Critical, "y is down");
    store
        .record_alert_events(&[
            (AlertEventKind::Firing, Utc::now(), &x),
            (AlertEventKind::Firing, Utc::now(), &y),
        ])
        .await
        .unwrap();
    handle.notify(firing(&x));
    eventually("x sent", Duration::from_secs(10), || async {
        (one.count() == 1).then_some(())
    })
    .await;

    // A receiver added by a reload hears of what fires; the one that stays is not told again.
    let both = rules(&format!(
        "{route}receivers:\n- {{name: one, type: webhook, url: '{one_base}/'}}\n- {{name: two, type: webhook, url: '{two_base}/'}}\n"
    ));
    handle.reload(both.route, both.receivers).unwrap();
    let sent = eventually(
        "x sent to the new receiver",
        Duration::from_secs(10),
        || async { two.seen().first().cloned() },
    )
    .await;
    assert_eq!(
        sent.body["alerts"][0]["exporter"]["alert_id"],
        x.id.to_string()
    );
    assert_eq!(one.count(), 1);
    // A reload with a missing secret changes nothing and says why.
    let broken = rules(&format!(
        "{route}receivers:\n- {{name: three, type: slack, url_env: DELIVERY_TEST_UNSET_{}}}\n",
        Uuid::new_v4().simple()
    ));
    let err = handle
        .reload(broken.route, broken.receivers)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("three") && err.contains("DELIVERY_TEST_UNSET_"),
        "{err}"
    );
    assert!(handle.is_running());
    shutdown.trigger();
    task.await.unwrap();

    // A restart: x was notified before (the store says so), y never was.
    eventually("x marked notified", Duration::from_secs(5), || async {
        (store.last_notified(&[x.id]).await.unwrap().len() == 1).then_some(())
    })
    .await;
    let (three, three_base) = StandIn::start(&[]).await;
    let shutdown = Shutdown::new();
    let (handle, task) = start(
        &format!("{route}receivers:\n- {{name: one, type: webhook, url: '{three_base}/'}}\n"),
        &store,
        &shutdown,
    );
    handle.restore(vec![firing(&x), firing(&y)]);
    let first = eventually(
        "y sent after the restart",
        Duration::from_secs(10),
        || async { three.seen().first().cloned() },
    )
    .await;
    assert_eq!(first.body["groupLabels"]["host"], "y");
    // x's resolution is owed and sent; its firing was not sent again.
    handle.notify(firing(&resolved(&x)));
    let second = eventually("x's resolution", Duration::from_secs(10), || async {
        three.seen().get(1).cloned()
    })
    .await;
    assert_eq!(second.body["groupLabels"]["host"], "x");
    assert_eq!(second.body["status"], "resolved");
    assert_eq!(three.count(), 2);
    shutdown.trigger();
    task.await.unwrap();
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_only_the_receiver_that_missed_an_alert_gets_it() {
    let env = TestEnv::new("").await;
    let store = store(&env).await;
    let (ok, ok_base) = StandIn::start(&[]).await;
    // Refuses the first message (a 400 is not retried): its delivery fails.
    let (flaky, flaky_base) = StandIn::start(&[(400, "bad request")]).await;
    let config = format!(
        "route: {{group_by: [alertname], group_wait: 100ms, group_interval: 200ms, repeat_interval: 1h}}\n\
         receivers:\n- {{name: ok, type: webhook, url: '{ok_base}/'}}\n\
         - {{name: flaky, type: webhook, url: '{flaky_base}/'}}\n"
    );
    let x = alert("EngineDown", "gh200", Severity::Critical, "engine down");
    store
        .record_alert_events(&[(AlertEventKind::Firing, Utc::now(), &x)])
        .await
        .unwrap();
    let shutdown = Shutdown::new();
    let (handle, task) = start(&config, &store, &shutdown);
    handle.notify(firing(&x));
    eventually("one sent, one failed", Duration::from_secs(10), || async {
        let failed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM alert_delivery WHERE receiver = 'flaky' AND status = 'failed'",
        )
        .fetch_one(&env.pool)
        .await
        .unwrap();
        (ok.count() == 1 && failed == 1).then_some(())
    })
    .await;
    shutdown.trigger();
    task.await.unwrap();

    // The aggregator restarts with x still firing.
    let shutdown = Shutdown::new();
    let (handle, task) = start(&config, &store, &shutdown);
    handle.restore(vec![firing(&x)]);
    eventually(
        "the missed receiver told",
        Duration::from_secs(10),
        || async { (flaky.count() == 2).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ok.count(), 1, "the receiver that had it is not told again");
    shutdown.trigger();
    task.await.unwrap();
    env.finish().await;
}
