//! Alerting end to end, as the owner lives it: a collector stops under the supervisor's watch,
//! an absence alert fires, `/alerts` lists it, the phone (a local webhook receiver) gets one
//! notification, the owner acknowledges it so it stops nagging, and when the collector comes
//! back the alert resolves.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::Method;
use axum::routing::post;
use exporter_tests::{StandIn, TestEnv, children_of, eventually, get_json, publish_json};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// A webhook receiver (the phone): `POST /hook` answers 200 "ok".
async fn receiver() -> StandIn {
    StandIn::serve(axum::Router::new().route("/hook", post(|| async { "ok" }))).await
}

/// The JSON bodies posted to the receiver's `/hook`.
fn bodies(hook: &StandIn) -> Vec<Value> {
    hook.requests()
        .into_iter()
        .filter(|r| r.method == Method::POST && r.path == "/hook")
        .map(|r| r.json)
        .collect()
}

/// Messages of `status` naming `alertname`.
fn messages(hook: &StandIn, status: &str, alertname: &str) -> usize {
    bodies(hook)
        .iter()
        .filter(|m| {
            m["status"] == status
                && m["alerts"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|a| a["labels"]["alertname"] == alertname))
        })
        .count()
}

/// Waits (up to `limit`, naming `what`) until exactly one message of `status` names
/// `alertname`.
async fn one_message(hook: &StandIn, what: &str, limit: Duration, status: &str, alertname: &str) {
    eventually(what, limit, || async {
        (messages(hook, status, alertname) == 1).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_collector_fires_one_notification_until_acknowledged_and_resolves() {
    let hook = receiver().await;
    let hook_url = hook.url();
    let env = TestEnv::new(
        "collectors:\n  heartbeat_interval_seconds: 1\n  system:\n    interval_seconds: 1\n  hardware:\n    enabled: false\n\
         market:\n  enabled: false\n\
         alerts:\n  evaluation_interval_seconds: 1\n  watch_interval_seconds: 0\n",
    )
    .await;
    std::fs::write(
        env.dir.path().join("alerts.yaml"),
        format!(
            "route: {{group_by: [alertname], group_wait: 200ms, group_interval: 1s, repeat_interval: 3s}}\n\
             receivers:\n  - {{name: phone, type: webhook, url: '{hook_url}/hook'}}\n\
             rules:\n  - name: SystemCollectorAbsent\n    severity: critical\n    category: system\n    \
             absent: {{source: system, after: 3s}}\n    summary: 'No system samples from {{{{ labels.host }}}} for {{{{ value }}}}s'\n"
        ),
    )
    .unwrap();
    let mut up = env.spawn("exporter", &["up"]);
    let key = env.api_key.clone();

    env.first_host_sample("/metrics/system").await;
    let (collector, _) = eventually("the system collector", Duration::from_secs(10), || async {
        children_of(up.pid())
            .into_iter()
            .find(|(_, cmd)| cmd.contains("exporter-collector system"))
    })
    .await;

    // Stopped (frozen): alive for the supervisor, silent on the bus.
    kill(Pid::from_raw(collector), Signal::SIGSTOP).unwrap();
    let alert = eventually(
        "the absence alert firing in /alerts",
        Duration::from_secs(20),
        || async {
            let (status, body) = get_json(
                &env.api_url("/alerts?state=firing&category=system"),
                Some(&key),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            body["alerts"]
                .as_array()?
                .iter()
                .find(|a| a["rule"] == "SystemCollectorAbsent")
                .cloned()
        },
    )
    .await;
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["labels"]["host"], "test-host");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("No system samples from test-host for ")
    );
    let id = alert["id"].as_str().unwrap().to_owned();
    // Alert counts are details: only a caller with the key sees them.
    let (_, health) = get_json(&env.api_url("/health"), Some(&env.api_key)).await;
    assert_eq!(health["alerts"]["firing_critical"], 1, "{health}");
    assert_eq!(health["alerts"]["unacknowledged"], 1, "{health}");

    eventually(
        "the firing notification",
        Duration::from_secs(10),
        || async { (messages(&hook, "firing", "SystemCollectorAbsent") >= 1).then_some(()) },
    )
    .await;
    let response = reqwest::Client::new()
        .post(env.api_url(&format!("/alerts/{id}/acknowledge?user=owner")))
        .header("X-API-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Two repeat intervals later, still the one notification: acknowledged alerts do not nag
    // (the quiet period is what is checked).
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        messages(&hook, "firing", "SystemCollectorAbsent"),
        1,
        "{:?}",
        bodies(&hook)
    );
    let (_, body) = get_json(&env.api_url("/alerts?state=firing"), Some(&key)).await;
    assert!(
        body["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id.as_str() && a["acknowledged_by"] == "owner"),
        "still firing, acknowledged: {body}"
    );

    kill(Pid::from_raw(collector), Signal::SIGCONT).unwrap();
    eventually("the alert resolved", Duration::from_secs(20), || async {
        let (_, body) = get_json(&env.api_url(&format!("/alerts/{id}")), Some(&key)).await;
        (body["state"] == "resolved").then_some(())
    })
    .await;
    one_message(
        &hook,
        "the resolved notification",
        Duration::from_secs(10),
        "resolved",
        "SystemCollectorAbsent",
    )
    .await;
    assert_eq!(
        messages(&hook, "firing", "SystemCollectorAbsent"),
        1,
        "exactly one firing notification"
    );

    // Every transition is stored in order.
    let kinds: Vec<String> = sqlx::query_scalar(
        "SELECT kind FROM alert_transition WHERE alert_id = $1::uuid ORDER BY transition_id",
    )
    .bind(&id)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(kinds, ["firing", "acknowledged", "resolved"]);
    // The row of a send is written once its answer is in: poll rather than race it.
    let delivered_rows = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM alert_delivery WHERE status = 'sent'")
            .fetch_one(&env.pool)
            .await
            .unwrap()
    };
    eventually(
        "both sends in the delivery log",
        Duration::from_secs(10),
        || async { (delivered_rows().await >= 2).then_some(()) },
    )
    .await;
    assert_eq!(
        delivered_rows().await,
        2,
        "one firing and one resolved message in the delivery log"
    );

    kill(Pid::from_raw(-up.pid()), Signal::SIGINT).unwrap();
    up.wait_exit(Duration::from_secs(30));
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_rule_stops_the_aggregator_and_check_names_it() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    std::fs::write(
        env.dir.path().join("alerts.yaml"),
        "rules:\n- {name: Hot, severity: warning, category: hardware, expr: 'gpu.temperature_celsius >> 5'}\n",
    )
    .unwrap();
    let check = env.run(
        "exporter",
        &["check"],
        &[("EXPORTER_API_KEY", &env.api_key)],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(!check.status.success(), "{text}");
    assert!(text.contains("alert rule `Hot` (rules[0].expr)"), "{text}");

    let mut aggregator = env.spawn("exporter-aggregator", &[]);
    let status = aggregator.wait_exit(Duration::from_secs(30)).unwrap();
    assert!(!status.success());
    assert!(
        aggregator.output().contains("rules[0].expr"),
        "{}",
        aggregator.output()
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_reload_when_the_file_changes_and_a_broken_edit_keeps_them() {
    let env =
        TestEnv::new("alerts:\n  evaluation_interval_seconds: 1\n  watch_interval_seconds: 1\n")
            .await;
    let rules = env.dir.path().join("alerts.yaml");
    std::fs::write(&rules, "rules: []\n").unwrap();
    let nats = async_nats::connect(env.nats.url()).await.unwrap();
    let mut events = nats.subscribe("exporter.v1.alert.>").await.unwrap();
    let mut aggregator = env.spawn("exporter-aggregator", &[]);
    let mut collector = env.spawn("exporter-collector", &["system"]);
    env.stored_sample("system").await;

    // A new rule appears in the file: picked up without a restart, and fires.
    std::fs::write(
        &rules,
        "rules:\n- {name: Always, severity: info, category: system, expr: 'cpu.usage_percent >= 0', summary: 'cpu {{ value }}'}\n",
    )
    .unwrap();
    eventually("the new rule firing", Duration::from_secs(20), || async {
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM alert WHERE rule = 'Always'")
                .fetch_optional(&env.pool)
                .await
                .unwrap();
        (state.as_deref() == Some("firing")).then_some(())
    })
    .await;
    use futures::StreamExt;
    let event = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.subject.as_str(), "exporter.v1.alert.firing");
    let event: Value = serde_json::from_slice(&event.payload).unwrap();
    assert_eq!(event["alert"]["rule"], "Always");
    assert_eq!(event["alert"]["labels"]["host"], "test-host");

    // A broken edit is refused; the running rule stays and the aggregator keeps going.
    std::fs::write(&rules, "rules:\n- {name: Always, severity: loud}\n").unwrap();
    eventually("the refusal logged", Duration::from_secs(20), || async {
        aggregator
            .output()
            .contains("alert rules not reloaded")
            .then_some(())
    })
    .await;
    assert!(aggregator.alive());
    let state: String = sqlx::query_scalar("SELECT state FROM alert WHERE rule = 'Always'")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(state, "firing");

    // Removing the rule resolves its alert.
    std::fs::write(&rules, "rules: []\n").unwrap();
    eventually(
        "the alert of the removed rule resolved",
        Duration::from_secs(20),
        || async {
            let state: String = sqlx::query_scalar("SELECT state FROM alert WHERE rule = 'Always'")
                .fetch_one(&env.pool)
                .await
                .unwrap();
            (state == "resolved").then_some(())
        },
    )
    .await;
    collector.kill();
    aggregator.kill();
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_become_alerts_and_a_silence_holds_their_delivery() {
    let hook = receiver().await;
    let hook_url = hook.url();
    let env = TestEnv::new("alerts:\n  evaluation_interval_seconds: 1\n").await;
    std::fs::write(
        env.dir.path().join("alerts.yaml"),
        format!(
            "route: {{group_by: [alertname], group_wait: 100ms, group_interval: 1s, repeat_interval: 1h}}\n\
             receivers:\n  - {{name: phone, type: webhook, url: '{hook_url}/hook'}}\n\
             rules: []\n"
        ),
    )
    .unwrap();
    env.migrate().await;
    sqlx::query(
        "INSERT INTO silence (silence_id, matchers, starts_at, ends_at, created_by, comment) \
         VALUES ($1, $2, now() - interval '1 minute', now() + interval '1 hour', 'owner', 'known issue')",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(serde_json::json!([{"name": "category", "value": "order_rejected"}]))
    .execute(&env.pool)
    .await
    .unwrap();
    let mut aggregator = env.spawn("exporter-aggregator", &[]);
    let js = env.jetstream().await;
    let publish = |body: Value| {
        let js = js.clone();
        async move { publish_json(&js, "exporter.v1.ingest.notification", &body).await }
    };
    publish(
        serde_json::json!({"severity": "error", "category": "order_rejected",
        "title": "AAPL buy rejected", "message": "insufficient buying power",
        "labels": {"strategy": "momo"}}),
    )
    .await;
    publish(
        serde_json::json!({"severity": "warning", "category": "strategy_halted",
        "title": "momo halted", "message": "daily loss limit", "labels": {"strategy": "momo"}}),
    )
    .await;
    publish(serde_json::json!({"severity": "warning", "category": "no_title"})).await;

    let alerts: Vec<(String, String, String)> = eventually(
        "both notifications as firing alerts",
        Duration::from_secs(20),
        || async {
            let rows: Vec<(String, String, String)> =
                sqlx::query_as("SELECT category, severity, state FROM alert ORDER BY category")
                    .fetch_all(&env.pool)
                    .await
                    .unwrap();
            (rows.len() == 2).then_some(rows)
        },
    )
    .await;
    assert_eq!(
        alerts,
        [
            ("order_rejected".into(), "critical".into(), "firing".into()),
            ("strategy_halted".into(), "warning".into(), "firing".into()),
        ]
    );
    one_message(
        &hook,
        "the unsilenced one delivered",
        Duration::from_secs(10),
        "firing",
        "strategy_halted",
    )
    .await;
    // The silenced one fired and is stored, but nothing was sent for it (a quiet period, the
    // check itself: it would have gone out with the other).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        messages(&hook, "firing", "order_rejected"),
        0,
        "{:?}",
        bodies(&hook)
    );

    publish(
        serde_json::json!({"severity": "info", "category": "strategy_halted",
        "title": "momo halted", "labels": {"strategy": "momo"}, "resolved": true}),
    )
    .await;
    one_message(
        &hook,
        "resolved by the trading system",
        Duration::from_secs(20),
        "resolved",
        "strategy_halted",
    )
    .await;
    // The notification and the stored state come from the same evaluation; the row may land a
    // moment after the webhook got its message.
    eventually(
        "the alert stored as resolved",
        Duration::from_secs(10),
        || async {
            let state: Option<String> =
                sqlx::query_scalar("SELECT state FROM alert WHERE category = 'strategy_halted'")
                    .fetch_one(&env.pool)
                    .await
                    .ok();
            (state.as_deref() == Some("resolved")).then_some(())
        },
    )
    .await;
    let reason: String = sqlx::query_scalar("SELECT reason FROM dead_letter")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert!(reason.contains("title"), "{reason}");
    aggregator.kill();
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_lines_in_a_followed_file_fire_a_log_rule_per_component() {
    let logs = tempfile::tempdir().unwrap();
    let env = TestEnv::new(&format!(
        "collectors:\n  heartbeat_interval_seconds: 1\n  logs:\n    enabled: true\n    \
         files:\n      - path: \"{dir}/*.log\"\n    start_position: beginning\n    \
         batch_max_wait_ms: 50\n    poll_interval_ms: 50\n\
         alerts:\n  evaluation_interval_seconds: 1\n",
        dir = logs.path().display()
    ))
    .await;
    std::fs::write(
        env.dir.path().join("alerts.yaml"),
        "rules:\n  - name: BrokerErrors\n    severity: critical\n    category: logs\n    \
         logs: {min_level: error, pattern: 'broker', count: 3, window: 1m}\n    \
         summary: '{{ value }} broker errors from {{ labels.component }}'\n",
    )
    .unwrap();
    env.migrate().await;
    let mut aggregator = env.spawn("exporter-aggregator", &[]);
    // Log rules see lines on the live bus: only those published after the engine subscribed.
    env.heartbeat("aggregator").await;
    let mut collector = env.spawn("exporter-collector", &["logs"]);
    let file = logs.path().join("engine.log");
    let mut text = String::new();
    for i in 0..3 {
        text.push_str(&format!(
            "2026-11-25 03:00:0{i},000 - trading.engine - ERROR - broker connection lost ({i})\n"
        ));
        // Noise that must not count: another level, another message.
        text.push_str("2026-11-25 03:00:05,000 - trading.engine - WARNING - broker slow\n");
        text.push_str("2026-11-25 03:00:06,000 - trading.risk - ERROR - limit recalculated\n");
    }
    std::fs::write(&file, text).unwrap();

    let (summary, component): (String, String) =
        eventually("the log rule firing", Duration::from_secs(30), || async {
            sqlx::query_as(
                "SELECT annotations->>'summary', labels->>'component' FROM alert \
                 WHERE rule = 'BrokerErrors' AND state = 'firing'",
            )
            .fetch_optional(&env.pool)
            .await
            .unwrap()
        })
        .await;
    assert_eq!(component, "trading.engine");
    assert_eq!(summary, "3 broker errors from trading.engine");
    // The lines themselves are in /logs' table, parsed.
    let errors: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM log_line WHERE level = 5 AND component = 'trading.engine'",
    )
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(errors, 3);
    collector.kill();
    aggregator.kill();
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_events_stream_to_an_open_page() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let mut api = env.spawn("exporter-api", &[]);
    // No aggregator here, so no stream: /health answers 503, which is enough to know it runs.
    eventually("the API", Duration::from_secs(20), || async {
        matches!(get_json(&env.api_url("/health"), None).await.0, 200 | 503).then_some(())
    })
    .await;
    let (status, _) = get_json(&env.api_url("/alerts/stream"), None).await;
    assert_eq!(status, 401, "the stream needs the key like every route");

    let mut response = reqwest::Client::new()
        .get(env.api_url("/alerts/stream"))
        .header("X-API-Key", &env.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let nats = async_nats::connect(env.nats.url()).await.unwrap();
    let id = uuid::Uuid::now_v7();
    let event = serde_json::json!({"kind": "firing", "time": "2026-11-25T03:00:00Z", "alert": {
        "id": id, "fingerprint": "f", "rule": "GpuHot", "severity": "warning", "category": "hardware",
        "state": "firing", "labels": {"host": "gh200"}, "annotations": {}, "value": 91.0,
        "started_at": "2026-11-25T03:00:00Z", "last_active_at": "2026-11-25T03:00:00Z"}});
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            // Published until the subscription behind the open stream has seen one.
            nats.publish(
                "exporter.v1.alert.firing",
                serde_json::to_vec(&event).unwrap().into(),
            )
            .await
            .unwrap();
            if let Ok(Ok(Some(chunk))) =
                tokio::time::timeout(Duration::from_millis(300), response.chunk()).await
            {
                seen.push_str(&String::from_utf8_lossy(&chunk));
                if seen.contains(&id.to_string()) {
                    return;
                }
            }
        }
    })
    .await;
    assert!(found.is_ok(), "no event in: {seen}");
    assert!(seen.contains("event: firing"), "{seen}");
    assert!(seen.contains("\"rule\":\"GpuHot\""), "{seen}");
    api.kill();
    env.finish().await;
}

/// A Unix-socket stand-in in front of PostgreSQL that a test can take away and bring back, as
/// when the database restarts: while it is down, connecting fails and open connections break.
struct PgProxy {
    dir: tempfile::TempDir,
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl PgProxy {
    fn start() -> Self {
        let proxy = Self {
            dir: tempfile::tempdir().unwrap(),
            tasks: Arc::default(),
        };
        proxy.up();
        proxy
    }

    /// The server's own socket, from the test database URL's `host=` (default
    /// /var/run/postgresql).
    fn upstream() -> std::path::PathBuf {
        let admin = exporter_tests::admin_database_url();
        let dir = admin
            .split(['?', '&'])
            .find_map(|part| part.strip_prefix("host="))
            .unwrap_or("/var/run/postgresql")
            .to_owned();
        std::path::Path::new(&dir).join(".s.PGSQL.5432")
    }

    fn url(&self, database: &str) -> String {
        format!(
            "postgres://localhost/{database}?host={}",
            self.dir.path().display()
        )
    }

    fn up(&self) {
        let path = self.dir.path().join(".s.PGSQL.5432");
        let _ = std::fs::remove_file(&path);
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let connection = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::UnixStream::connect(Self::upstream()).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(connection.abort_handle());
            }
        });
        self.tasks.lock().unwrap().push(accept.abort_handle());
    }

    fn down(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
        let _ = std::fs::remove_file(self.dir.path().join(".s.PGSQL.5432"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgresql_away_alerts_still_go_out_and_are_stored_when_it_is_back() {
    let hook = receiver().await;
    let hook_url = hook.url();
    let env = TestEnv::new(
        "collectors:\n  heartbeat_interval_seconds: 1\n  system:\n    interval_seconds: 1\n\
         alerts:\n  evaluation_interval_seconds: 1\n",
    )
    .await;
    std::fs::write(
        env.dir.path().join("alerts.yaml"),
        format!(
            "route: {{group_by: [alertname], group_wait: 100ms, group_interval: 1s, repeat_interval: 1h}}\n\
             receivers:\n  - {{name: phone, type: webhook, url: '{hook_url}/hook'}}\n\
             rules:\n  - {{name: SystemCollectorAbsent, severity: critical, category: system, \
             absent: {{source: system, after: 3s}}}}\n"
        ),
    )
    .unwrap();
    env.migrate().await;
    let proxy = PgProxy::start();
    let url = proxy.url(&env.database);
    let key = env.api_key.clone();
    let env_vars = [
        ("EXPORTER_DATABASE_URL", url.as_str()),
        ("EXPORTER_API_KEY", key.as_str()),
    ];
    let mut aggregator = env.spawn_with("exporter-aggregator", &[], &env_vars);
    let mut collector = env.spawn("exporter-collector", &["system"]);
    env.stored_sample("system").await;

    // PostgreSQL goes away for the aggregator, then the collector dies.
    proxy.down();
    collector.kill();
    one_message(
        &hook,
        "the firing notification, with PostgreSQL away",
        Duration::from_secs(30),
        "firing",
        "SystemCollectorAbsent",
    )
    .await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM alert")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(
        stored, 0,
        "nothing could be stored while PostgreSQL was away"
    );
    assert!(aggregator.alive(), "{}", aggregator.output());

    // It comes back: the transition kept in memory is written.
    proxy.up();
    let state: String = eventually("the alert stored", Duration::from_secs(30), || async {
        sqlx::query_scalar("SELECT state FROM alert WHERE rule = 'SystemCollectorAbsent'")
            .fetch_optional(&env.pool)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(state, "firing");
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM alert_transition ORDER BY transition_id")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(kinds, ["firing"]);
    assert_eq!(
        messages(&hook, "firing", "SystemCollectorAbsent"),
        1,
        "sent once"
    );
    aggregator.kill();
    proxy.down();
    env.finish().await;
}
