//! The dead-man's switch (issue 13, item 6), against the real binaries, NATS and PostgreSQL,
//! with local stand-ins for the outside services: the push-monitor ping
//! (`aggregator.deadman_url`) and the always-firing `Watchdog` alert for receivers with
//! `watchdog: true`. Both go out every `aggregator.deadman_interval_seconds` while ingest and
//! alert evaluation are healthy, and stop when ingest stops, so the outside service pages.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use exporter_tests::{StandIn, TestEnv, faults, get_json, poll_until};

/// Issue 13, item 6: the dead-man's switch pings a push monitor (a local stand-in) every
/// interval while ingest and alert evaluation are healthy, and stops when ingest stops
/// (PostgreSQL gone: the aggregator's writes fail), so the outside monitor pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_mans_switch_pings_while_healthy_and_stops_when_ingest_stops() {
    let monitor = StandIn::start().await;
    let env = TestEnv::new(
        "collectors:\n  heartbeat_interval_seconds: 1\n  self_metrics_interval_seconds: 1\n  system:\n    interval_seconds: 1\n",
    )
    .await;
    faults::add_settings(
        &env,
        "aggregator",
        &format!(
            "  deadman_url: {}/ping/test-token\n  deadman_interval_seconds: 1\n  lag_warn_seconds: 3\n",
            monitor.url()
        ),
    );
    let alerts = std::fs::read_to_string(&env.settings_path).unwrap()
        + "alerts:\n  evaluation_interval_seconds: 1\n";
    std::fs::write(&env.settings_path, alerts).unwrap();
    let aggregator = env.spawn("exporter-aggregator", &[]);
    let _collector = env.spawn("exporter-collector", &["system"]);
    let pinged = poll_until(Duration::from_secs(20), || async { monitor.count() >= 3 }).await;
    assert!(pinged, "{} pings\n{}", monitor.count(), aggregator.output());
    let ping = monitor.requests().pop().unwrap();
    assert_eq!(ping.path, "/ping/test-token");
    assert!(
        !aggregator.output().contains("test-token"),
        "the token is logged"
    );

    // Ingest stops: the aggregator's database is gone, samples pile up in the stream.
    env.allow_connections(false).await;
    let stopped = poll_until(Duration::from_secs(30), || async {
        aggregator.output().contains("not pinging")
    })
    .await;
    assert!(stopped, "{}", aggregator.output());
    let after_stop = monitor.count();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        monitor.count(),
        after_stop,
        "pings went on while ingest was stopped"
    );

    // Back: the pings resume.
    env.allow_connections(true).await;
    let resumed = poll_until(Duration::from_secs(60), || async {
        monitor.count() > after_stop
    })
    .await;
    assert!(resumed, "{}", aggregator.output());
    env.finish().await;
}

/// How many requests `hook` got on `path` whose first alert is named `alertname`.
fn named(hook: &StandIn, path: &str, alertname: &str) -> usize {
    hook.requests()
        .iter()
        .filter(|r| r.path == path && r.json["alerts"][0]["labels"]["alertname"] == alertname)
        .count()
}

/// Issue 13, item 6: the Watchdog. An opted-in webhook receives it at every interval, however
/// long the route's `repeat_interval`; a receiver that did not opt in never gets it; `/alerts`
/// does not list it; it stops while ingest is stopped (NATS killed) and comes back with NATS.
/// `exporter check` names the receivers that take it and refuses it on a phone receiver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_reaches_opted_in_receivers_every_interval_and_stops_when_ingest_stops() {
    let hook = StandIn::start().await;
    let mut env = TestEnv::new(
        "collectors:\n  heartbeat_interval_seconds: 1\n  self_metrics_interval_seconds: 1\n  system:\n    interval_seconds: 1\n\
         alerts:\n  evaluation_interval_seconds: 1\n  watch_interval_seconds: 0\n",
    )
    .await;
    faults::add_settings(&env, "aggregator", "  deadman_interval_seconds: 1\n");
    let rules_path = env.dir.path().join("alerts.yaml");
    let rules = |deadman_type: &str| {
        format!(
            "route: {{group_by: [alertname], group_wait: 200ms, group_interval: 1s, repeat_interval: 1h}}\n\
             receivers:\n\
             \x20 - {{name: deadman, type: {deadman_type}, url: '{url}/deadman', topic: t, watchdog: true, categories: [watchdog]}}\n\
             \x20 - {{name: phone, type: webhook, url: '{url}/phone'}}\n\
             rules:\n  - {{name: Always, severity: info, category: system, expr: 'cpu.usage_percent >= 0', summary: 'cpu {{{{ value }}}}'}}\n",
            url = hook.url()
        )
    };
    // `exporter check`: a phone (ntfy) receiver may not take it; a webhook may, and is named.
    std::fs::write(&rules_path, rules("ntfy")).unwrap();
    let check = |env: &TestEnv| {
        let out = env.run(
            "exporter",
            &["check"],
            &[("EXPORTER_API_KEY", &env.api_key)],
        );
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (ok, text) = check(&env);
    assert!(!ok && text.contains("receivers[0].watchdog"), "{text}");
    std::fs::write(&rules_path, rules("webhook").replace(", topic: t", "")).unwrap();
    let (_, text) = check(&env);
    assert!(
        text.contains("Watchdog goes to deadman every 1 s") && !text.contains("receivers[0]"),
        "{text}"
    );

    let aggregator = env.spawn("exporter-aggregator", &[]);
    let _collector = env.spawn("exporter-collector", &["system"]);
    let _api = env.spawn("exporter-api", &[]);
    let repeated = poll_until(Duration::from_secs(30), || async {
        named(&hook, "/deadman", "Watchdog") >= 3 && named(&hook, "/phone", "Always") >= 1
    })
    .await;
    assert!(
        repeated,
        "{} Watchdogs, {} Always\n{}",
        named(&hook, "/deadman", "Watchdog"),
        named(&hook, "/phone", "Always"),
        aggregator.output()
    );
    let deadman: Vec<_> = hook
        .requests()
        .into_iter()
        .filter(|r| r.path == "/deadman")
        .collect();
    // Only the Watchdog there (`categories: [watchdog]`), Alertmanager's way, the same alert.
    for request in &deadman {
        let body = &request.json;
        assert_eq!(body["status"], "firing", "{body}");
        let alert = &body["alerts"][0];
        assert_eq!(alert["labels"]["alertname"], "Watchdog", "{body}");
        assert_eq!(alert["labels"]["severity"], "none", "{body}");
        assert_eq!(alert["labels"]["host"], "test-host", "{body}");
        assert!(
            alert["annotations"]["summary"]
                .as_str()
                .is_some_and(|s| s.contains("always firing")),
            "{body}"
        );
        assert_eq!(
            alert["fingerprint"], deadman[0].json["alerts"][0]["fingerprint"],
            "{body}"
        );
    }
    assert_eq!(named(&hook, "/phone", "Watchdog"), 0, "not opted in");
    let (status, listed) = get_json(&env.api_url("/alerts?state=firing"), Some(&env.api_key)).await;
    assert_eq!(status, 200, "{listed}");
    let names: Vec<&str> = listed["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["rule"].as_str())
        .collect();
    assert!(
        names.contains(&"Always") && !names.contains(&"Watchdog"),
        "{names:?}"
    );

    // Ingest stops: NATS is gone, the lag cannot be read, nothing is stored.
    env.nats.kill();
    let stopped = poll_until(Duration::from_secs(40), || async {
        aggregator.output().contains("no Watchdog while")
    })
    .await;
    assert!(stopped, "{}", aggregator.output());
    let after_stop = named(&hook, "/deadman", "Watchdog");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        named(&hook, "/deadman", "Watchdog"),
        after_stop,
        "Watchdogs went on while ingest was stopped"
    );

    // NATS back: the Watchdog comes back by itself.
    env.nats.restart();
    let resumed = poll_until(Duration::from_secs(60), || async {
        named(&hook, "/deadman", "Watchdog") > after_stop
    })
    .await;
    assert!(resumed, "{}", aggregator.output());
    assert_eq!(named(&hook, "/phone", "Watchdog"), 0, "not opted in");
    env.finish().await;
}
