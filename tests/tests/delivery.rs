//! Alert notification delivery against local stand-ins for the services (axum on 127.0.0.1:0)
//! and the real PostgreSQL delivery log: the Alertmanager webhook payload, retries and
//! permanent failures, grouping of a burst, repeats that stop once acknowledged, silences, and
//! the Slack, ntfy and Telegram request shapes, with generated secrets that must show up in no
//! log line and no `alert_delivery` row; and that neither a reload nor a restart sends an alert
//! twice.
//!
//! The secret-leak check needs a process's whole log: `receivers_keep_their_secrets` runs the
//! `secrets_child` helper binary of this crate (the Slack, ntfy and Telegram checks) with
//! generated secrets and `RUST_LOG=debug`, and reads everything it wrote.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use exporter_protocol::alert::{AlertEventKind, Severity};
use exporter_store::delivery::DeliveryStatus;
use exporter_tests::delivery::{
    Dispatcher, Notice, acknowledged, alert, deliveries, firing, for_host, rand_u64, resolved,
    rules, secret_file, secrets, store,
};
use exporter_tests::{Recorded, Reply, StandIn, TestEnv, eventually};
use serde_json::Value;
use uuid::Uuid;

/// A scripted answer with a JSON content type, whatever `text` holds (as a real service may).
fn answer(status: u16, text: &str) -> Reply {
    Reply::status(status).body("application/json", text)
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
    let hook = StandIn::start().await;
    let base = hook.url();
    let plain = StandIn::start().await;
    let plain_base = plain.url();
    let token = format!("tok-{}", Uuid::new_v4().simple());
    let token_file = secret_file(env.dir.path(), "hook-token", &token);
    let yaml = format!(
        "route: {{group_by: [alertname, host], group_wait: 200ms, group_interval: 300ms, repeat_interval: 1h}}\n\
         receivers:\n\
         - {{name: am, type: webhook, url: '{base}/hook', token_file: {}}}\n\
         - {{name: plain, type: webhook, url: '{plain_base}/x'}}\n",
        token_file.display()
    );
    let handle = Dispatcher::start(&yaml, &store);

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

    let first = hook.received("the first webhook message", 0).await;
    assert_eq!(first.path, "/hook");
    assert_eq!(
        first.header("authorization"),
        Some(format!("Bearer {token}"))
    );
    let body = &first.json;
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
    let other = plain.received("the plain webhook message", 0).await;
    assert_eq!(other.header("authorization"), None);
    assert_eq!(other.json["receiver"], "plain");
    // A successful delivery marks the alerts as notified.
    eventually("last_notified_at set", Duration::from_secs(5), || async {
        let notified = store.last_notified(&[gpu0.id, gpu1.id]).await.unwrap();
        (notified.len() == 2).then_some(())
    })
    .await;

    // One resolves: still firing as a group, with the resolved alert's endsAt.
    let gpu0_resolved = resolved(&gpu0);
    handle.notify(firing(&gpu0_resolved));
    let second = hook.received("the resolution message", 1).await;
    // group_interval (300 ms) runs from when the first message was taken, a few ms before the
    // stand-in saw it.
    assert!(second.at - first.at >= Duration::from_millis(250));
    assert_eq!(second.json["status"], "firing");
    let alerts = second.json["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[1]["status"], "resolved");
    assert_eq!(
        time(&alerts[1]["endsAt"]),
        gpu0_resolved.resolved_at.unwrap()
    );
    // The last one resolves: the group is resolved.
    handle.notify(firing(&resolved(&gpu1)));
    let third = hook.received("the final message", 2).await;
    assert_eq!(third.json["status"], "resolved");
    assert_eq!(third.json["alerts"].as_array().unwrap().len(), 1);

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
    handle.stop().await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_is_retried_and_a_400_is_not() {
    let env = TestEnv::new("").await;
    let store = store(&env).await;
    let flaky = StandIn::scripted([answer(500, "oops"), answer(503, "busy")]).await;
    let flaky_base = flaky.url();
    let strict = StandIn::scripted([answer(400, r#"{"error":"bad payload"}"#)]).await;
    let strict_base = strict.url();
    // A long group_interval: only the delivery's own retries are in play.
    let yaml = format!(
        "route: {{group_wait: 100ms, group_interval: 1h, repeat_interval: 1h}}\n\
         receivers:\n\
         - {{name: flaky, type: webhook, url: '{flaky_base}/', max_attempts: 5}}\n\
         - {{name: strict, type: webhook, url: '{strict_base}/', max_attempts: 5}}\n"
    );
    let handle = Dispatcher::start(&yaml, &store);
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
    let seen = flaky.requests();
    assert_eq!(seen.len(), 3, "delivered once, after two failures");
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(100));
    assert!(seen[2].at - seen[1].at >= Duration::from_millis(200));
    assert_eq!(seen[0].json, seen[2].json, "the same message is retried");

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
    // The dispatcher's self-metrics (this process's registry) count each message's outcome.
    let notifications = |outcome: &str| {
        exporter_runtime::self_metrics::global()
            .counter(
                &exporter_protocol::self_metrics::NOTIFICATIONS,
                &[("receiver", "strict"), ("outcome", outcome)],
            )
            .get()
    };
    assert_eq!((notifications("failed"), notifications("sent")), (1, 0));
    handle.stop().await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_within_group_wait_becomes_one_message() {
    let env = TestEnv::new("").await;
    let store = store(&env).await;
    let hook = StandIn::start().await;
    let base = hook.url();
    let yaml = format!(
        "route: {{group_by: [alertname, host], group_wait: 300ms, group_interval: 1h, repeat_interval: 1h}}\n\
         receivers:\n- {{name: am, type: webhook, url: '{base}/'}}\n"
    );
    let handle = Dispatcher::start(&yaml, &store);
    let mut burst = Vec::new();
    for gpu in 0..5 {
        let mut a = alert("GpuHot", "gh200", Severity::Warning, &format!("GPU {gpu}"));
        a.labels.insert("gpu".into(), gpu.to_string());
        handle.notify(firing(&a));
        burst.push(a);
        // Part of the scenario: the burst is spread over part of group_wait.
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
    let burst_messages: Vec<Recorded> = hook
        .requests()
        .into_iter()
        .filter(|s| s.json["groupKey"] == r#"{alertname="GpuHot", host="gh200"}"#)
        .collect();
    assert_eq!(burst_messages.len(), 1, "one message for the burst");
    let ids: Vec<&str> = burst_messages[0].json["alerts"]
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
    assert_eq!(for_host(&hook, "lab").len(), 1);
    let rows = eventually("three rows", Duration::from_secs(5), || async {
        let rows = deliveries(&store, "am").await;
        (rows.len() >= 3).then_some(rows)
    })
    .await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().all(|r| r.status == DeliveryStatus::Sent));
    handle.stop().await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_until_acknowledged_and_silenced_alerts_send_nothing() {
    let env = TestEnv::new("").await;
    let store = store(&env).await;
    let hook = StandIn::start().await;
    let base = hook.url();
    let yaml = format!(
        "route: {{group_by: [alertname, host], group_wait: 100ms, group_interval: 200ms, repeat_interval: 500ms}}\n\
         receivers:\n- {{name: am, type: webhook, url: '{base}/'}}\n"
    );
    let handle = Dispatcher::start(&yaml, &store);
    let nagging = alert("DiskFull", "a", Severity::Warning, "/data 95 %");
    let quiet = alert("DiskFull", "c", Severity::Critical, "/data 99 %");
    handle.notify(firing(&nagging));
    handle.notify(Notice {
        alert: quiet.clone(),
        silenced: true,
    });
    // First message and two repeats, each about 500 ms apart.
    eventually("two repeats", Duration::from_secs(10), || async {
        (for_host(&hook, "a").len() >= 3).then_some(())
    })
    .await;
    let seen = for_host(&hook, "a");
    // repeat_interval runs from when a message was taken, a few ms before it arrived.
    assert!(seen[2].at - seen[1].at >= Duration::from_millis(450));
    assert_eq!(seen[2].json["alerts"][0]["exporter"]["acknowledged"], false);
    // Acknowledged right after a repeat: no further repeats.
    handle.notify(firing(&acknowledged(&nagging)));
    let at_ack = for_host(&hook, "a").len();
    // The clock: another group repeats twice (≥ 1.1 s) meanwhile.
    let sentinel = alert("DiskFull", "b", Severity::Warning, "/data 91 %");
    handle.notify(firing(&sentinel));
    eventually(
        "the sentinel's repeats",
        Duration::from_secs(10),
        || async { (for_host(&hook, "b").len() >= 3).then_some(()) },
    )
    .await;
    assert_eq!(
        for_host(&hook, "a").len(),
        at_ack,
        "an acknowledged alert does not repeat"
    );
    assert!(
        for_host(&hook, "c").is_empty(),
        "a silenced alert sends nothing"
    );
    // The acknowledged alert's resolution still goes out, marked resolved.
    handle.notify(firing(&resolved(&acknowledged(&nagging))));
    let last = eventually("the resolution", Duration::from_secs(10), || async {
        for_host(&hook, "a").get(at_ack).cloned()
    })
    .await;
    assert_eq!(last.json["status"], "resolved");
    assert_eq!(last.json["alerts"][0]["exporter"]["acknowledged"], true);
    // Resolving the silenced alert sends nothing either; nothing about it was logged.
    handle.notify(Notice {
        alert: resolved(&quiet),
        silenced: true,
    });
    let sentinel_count = for_host(&hook, "b").len();
    eventually(
        "one more sentinel repeat",
        Duration::from_secs(10),
        || async { (for_host(&hook, "b").len() > sentinel_count).then_some(()) },
    )
    .await;
    assert!(for_host(&hook, "c").is_empty());
    let rows = deliveries(&store, "am").await;
    assert!(rows.iter().all(|r| !r.alert_ids.contains(&quiet.id)));
    handle.stop().await;
    env.finish().await;
}

#[test]
fn receivers_keep_their_secrets() {
    let telegram = format!("{}:{}", rand_u64() % 1_000_000_000, Uuid::new_v4().simple());
    let slack = Uuid::new_v4().simple().to_string();
    let ntfy = format!("tk_{}", Uuid::new_v4().simple());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_secrets_child"))
        .env(secrets::TELEGRAM_TOKEN, &telegram)
        .env(secrets::SLACK_SECRET, &slack)
        .env(secrets::NTFY_TOKEN, &ntfy)
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
        log.contains(secrets::DONE),
        "the child did not run its checks:\n{log}"
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_and_restart_send_nothing_twice() {
    let env = TestEnv::new("").await;
    let store = store(&env).await;
    let one = StandIn::start().await;
    let one_base = one.url();
    let two = StandIn::start().await;
    let two_base = two.url();
    let route = "route: {group_by: [alertname, host], group_wait: 100ms, group_interval: 200ms, repeat_interval: 1h}\n";
    let handle = Dispatcher::start(
        &format!("{route}receivers:\n- {{name: one, type: webhook, url: '{one_base}/'}}\n"),
        &store,
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
    let sent = two.received("x sent to the new receiver", 0).await;
    assert_eq!(
        sent.json["alerts"][0]["exporter"]["alert_id"],
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
    handle.stop().await;

    // A restart: x was notified before (the store says so), y never was.
    eventually("x marked notified", Duration::from_secs(5), || async {
        (store.last_notified(&[x.id]).await.unwrap().len() == 1).then_some(())
    })
    .await;
    let three = StandIn::start().await;
    let three_base = three.url();
    let handle = Dispatcher::start(
        &format!("{route}receivers:\n- {{name: one, type: webhook, url: '{three_base}/'}}\n"),
        &store,
    );
    handle.restore(vec![firing(&x), firing(&y)]);
    let first = three.received("y sent after the restart", 0).await;
    assert_eq!(first.json["groupLabels"]["host"], "y");
    // x's resolution is owed and sent; its firing was not sent again.
    handle.notify(firing(&resolved(&x)));
    let second = three.received("x's resolution", 1).await;
    assert_eq!(second.json["groupLabels"]["host"], "x");
    assert_eq!(second.json["status"], "resolved");
    assert_eq!(three.count(), 2);
    handle.stop().await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_only_the_receiver_that_missed_an_alert_gets_it() {
    let env = TestEnv::new("").await;
    let store = store(&env).await;
    let ok = StandIn::start().await;
    let ok_base = ok.url();
    // Refuses the first message (a 400 is not retried): its delivery fails.
    let flaky = StandIn::scripted([answer(400, "bad request")]).await;
    let flaky_base = flaky.url();
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
    let handle = Dispatcher::start(&config, &store);
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
    handle.stop().await;

    // The aggregator restarts with x still firing.
    let handle = Dispatcher::start(&config, &store);
    handle.restore(vec![firing(&x)]);
    eventually(
        "the missed receiver told",
        Duration::from_secs(10),
        || async { (flaky.count() == 2).then_some(()) },
    )
    .await;
    // A quiet period, the check itself: a second message to `ok` would have come by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ok.count(), 1, "the receiver that had it is not told again");
    handle.stop().await;
    env.finish().await;
}
