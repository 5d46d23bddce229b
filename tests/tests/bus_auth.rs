//! The managed, authenticated bus as an attacker on the same host meets it: `exporter up` with
//! `nats.managed.enabled` runs its own nats-server with one user per role. Without credentials
//! nothing connects; with a collector's credentials a fill, a notification, a supervisor status,
//! an RPC answer and deleting the stream all fail and change nothing; the trading engine's
//! credentials publish a fill (stored) and nothing else. The whole system works through it.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use async_nats::jetstream;
use exporter_tests::{TestEnv, eventually, free_port, get_json};
use futures::StreamExt;
use serde_json::json;

const STREAM: &str = "EXPORTER_TELEMETRY";

struct Bus {
    url: String,
    credentials: std::path::PathBuf,
}

impl Bus {
    /// A client logged in as `user`, replies on its own inbox prefix (as the processes do).
    async fn client(&self, user: &str, inbox: &str) -> async_nats::Client {
        let password = std::fs::read_to_string(self.credentials.join(user)).unwrap();
        async_nats::ConnectOptions::with_user_and_password(
            user.to_owned(),
            password.trim().to_owned(),
        )
        .custom_inbox_prefix(inbox)
        .connect(&self.url)
        .await
        .unwrap_or_else(|err| panic!("{user} connects: {err}"))
    }
}

fn jetstream_of(client: &async_nats::Client) -> jetstream::Context {
    let mut js = jetstream::new(client.clone());
    js.set_timeout(Duration::from_secs(2));
    js
}

/// Whether a JetStream publish of `body` on `subject` is acknowledged.
async fn stored(js: &jetstream::Context, subject: &str, body: &serde_json::Value) -> bool {
    match js
        .publish(subject.to_owned(), serde_json::to_vec(body).unwrap().into())
        .await
    {
        Ok(ack) => ack.await.is_ok(),
        Err(_) => false,
    }
}

async fn fill_count(env: &TestEnv) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM fill")
        .fetch_one(&env.pool)
        .await
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_each_role_s_own_subjects_pass_on_the_managed_bus() {
    let env = TestEnv::new("").await;
    let port = free_port();
    let settings = std::fs::read_to_string(&env.settings_path).unwrap();
    let settings = settings.replacen(
        "nats:\n",
        &format!("nats:\n  managed:\n    enabled: true\n    port: {port}\n"),
        1,
    );
    std::fs::write(&env.settings_path, settings).unwrap();
    let mut up = env.spawn("exporter", &["up"]);

    // The whole path works through the authenticated bus: a system sample is stored and served.
    env.stored_sample("system").await;
    let (status, _) = get_json(&env.api_url("/metrics/system"), Some(&env.api_key)).await;
    assert_eq!(status, 200, "{}", up.output());
    assert!(
        !up.output().contains("the NATS bus is unauthenticated"),
        "no process runs unauthenticated:\n{}",
        up.output()
    );

    let bus = Bus {
        url: format!("nats://127.0.0.1:{port}"),
        credentials: env.dir.path().join("state/nats/credentials"),
    };
    // No credentials: no connection at all.
    let anonymous = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(&bus.url)
        .await;
    assert!(anonymous.is_err(), "an anonymous client is refused");

    let supervisor = bus.client("supervisor", "_INBOX_supervisor").await;
    let mut statuses = supervisor
        .subscribe("exporter.v1.status.supervisor.>")
        .await
        .unwrap();
    let api = bus.client("api", "_INBOX_api").await;
    let attacker = bus
        .client("collector-system", "_INBOX_collector_system")
        .await;
    let attacker_js = jetstream_of(&attacker);
    let fills_before = fill_count(&env).await;

    let forged_fill = json!({"id": "forged-1", "symbol": "NVDA", "side": "sell", "quantity": "1000",
        "price": "0.01", "time": "2026-02-04T15:00:00Z"});
    assert!(!stored(&attacker_js, "exporter.v1.ingest.fill", &forged_fill).await);
    let forged_note =
        json!({"level": "critical", "message": "forged", "time": "2026-02-04T15:00:00Z"});
    assert!(
        !stored(
            &attacker_js,
            "exporter.v1.ingest.notification",
            &forged_note
        )
        .await
    );
    // Another collector's subject is refused too.
    assert!(
        !stored(
            &attacker_js,
            "exporter.v1.sample.hardware.test-host",
            &json!({})
        )
        .await
    );
    attacker
        .publish(
            "exporter.v1.status.supervisor.test-host",
            r#"{"forged": true, "tunnels": [{"url": "https://audit-attacker.example"}]}"#.into(),
        )
        .await
        .unwrap();
    // The attacker tries to answer the market RPCs: it never even receives a request.
    let mut stolen = attacker
        .subscribe("exporter.v1.rpc.market.quote")
        .await
        .unwrap();
    attacker.flush().await.unwrap();
    let _ = tokio::time::timeout(
        Duration::from_secs(3),
        api.request(
            "exporter.v1.rpc.market.quote",
            r#"{"symbol":"NVDA"}"#.into(),
        ),
    )
    .await;
    let delete = attacker_js.delete_stream(STREAM).await;
    assert!(delete.is_err(), "a collector cannot delete the stream");

    // Nothing changed: no forged status arrived, no request was stolen, the stream is there.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut real_reports = 0;
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, statuses.next()).await {
        assert!(
            !String::from_utf8_lossy(&message.payload).contains("audit-attacker"),
            "a forged status reached a subscriber"
        );
        real_reports += 1;
    }
    assert!(
        real_reports > 0,
        "the supervisor's own reports still arrive"
    );
    let got = tokio::time::timeout(Duration::from_millis(500), stolen.next()).await;
    assert!(
        !matches!(got, Ok(Some(_))),
        "the attacker received an RPC request"
    );
    let stream = jetstream_of(&supervisor).get_stream(STREAM).await;
    assert!(stream.is_ok(), "the stream still exists");

    // The trading engine may publish a fill, and nothing else.
    let engine = bus.client("engine", "_INBOX").await;
    let engine_js = jetstream_of(&engine);
    let fill = json!({"id": "engine-1", "symbol": "MSFT", "side": "buy", "quantity": "1",
        "price": "300", "fee": "1", "time": "2026-02-04T15:00:00Z", "strategy": "momentum"});
    assert!(stored(&engine_js, "exporter.v1.ingest.fill", &fill).await);
    assert!(
        !stored(
            &engine_js,
            "exporter.v1.sample.system.test-host",
            &json!({})
        )
        .await
    );
    assert!(engine_js.delete_stream(STREAM).await.is_err());
    eventually(
        "the engine's fill stored",
        Duration::from_secs(20),
        || async { (fill_count(&env).await == fills_before + 1).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        fill_count(&env).await,
        fills_before + 1,
        "only the engine's fill, none of the attacker's"
    );

    up.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(
        up.wait_exit(Duration::from_secs(30)).unwrap().success(),
        "{}",
        up.output()
    );
    env.finish().await;
}
