//! The secret-leak check's child process, run only by `receivers_keep_their_secrets` in
//! `tests/delivery.rs`: with the secrets that test generated (in its environment) it sends
//! alerts to Slack, ntfy and Telegram stand-ins and a dead Slack URL, checks each request's
//! shape and the delivery log, and logs at debug level, so that the parent can read this
//! process's whole log for the secrets. A failed check panics (a non-zero exit); the last line
//! on success is [`secrets::DONE`].

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use exporter_protocol::alert::Severity;
use exporter_store::delivery::DeliveryStatus;
use exporter_tests::delivery::{
    Dispatcher, acknowledged, alert, deliveries, firing, secret_file, secrets, store,
};
use exporter_tests::{Reply, StandIn, TestEnv, eventually};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    exporter_runtime::logging::init(&exporter_settings::LoggingSettings::default());
    let telegram_token = std::env::var(secrets::TELEGRAM_TOKEN).unwrap();
    let slack_secret = std::env::var(secrets::SLACK_SECRET).unwrap();
    let ntfy_token = std::env::var(secrets::NTFY_TOKEN).unwrap();
    let env = TestEnv::new("").await;
    let store = store(&env).await;
    let slack = StandIn::start().await;
    let slack_base = slack.url();
    let ntfy = StandIn::start().await;
    let ntfy_base = ntfy.url();
    // Telegram's flood control first: 429 with parameters.retry_after (1 s).
    let telegram = StandIn::scripted([Reply::status(429).body(
        "application/json",
        r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}"#,
    )])
    .await;
    let telegram_base = telegram.url();
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
         - {{name: bot, type: telegram, url: '{telegram_base}', chat_id: '-100123', token_env: {telegram_env}}}\n",
        slack = slack_file.display(),
        dead = dead_file.display(),
        ntfy_file = ntfy_file.display(),
        telegram_env = secrets::TELEGRAM_TOKEN,
    );
    let handle = Dispatcher::start(&yaml, &store);
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

    let slack_seen = slack.received("the Slack message", 0).await;
    assert_eq!(slack_seen.path, slack_path);
    assert_eq!(slack_seen.header("authorization"), None);
    let body = &slack_seen.json;
    assert_eq!(body["text"], "[FIRING:2] GpuHot gh200");
    let attachment = &body["attachments"][0];
    assert_eq!(attachment["color"], "#d63232");
    assert_eq!(attachment["title"], "[FIRING:2] GpuHot gh200");
    assert_eq!(
        attachment["text"],
        "[FIRING] critical: GPU 0 at 91 °C &lt;throttling&gt; &amp; rising (host gh200)\n\
         [ACK] warning: GPU 1 at 80 °C (host gh200)"
    );

    let ntfy_seen = ntfy.received("the ntfy message", 0).await;
    assert_eq!(ntfy_seen.path, "/");
    assert_eq!(
        ntfy_seen.header("authorization"),
        Some(format!("Bearer {ntfy_token}"))
    );
    let body = &ntfy_seen.json;
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
        let seen = telegram.requests();
        (seen.len() >= 2).then_some(seen)
    })
    .await;
    assert!(
        telegram_seen[1].at - telegram_seen[0].at >= Duration::from_secs(1),
        "retry_after honoured"
    );
    let seen = &telegram_seen[1];
    assert_eq!(seen.path, format!("/bot{telegram_token}/sendMessage"));
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.json["chat_id"], "-100123");
    assert_eq!(seen.json["parse_mode"], "HTML");
    assert_eq!(seen.json["disable_web_page_preview"], true);
    assert_eq!(
        seen.json["text"],
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
    handle.stop().await;
    env.finish().await;
    println!("{}", secrets::DONE);
}
