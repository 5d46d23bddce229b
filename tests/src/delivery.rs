//! The alert dispatcher on its own, as the delivery tests drive it: alerts built here, a
//! dispatcher started from an alerts file's `route` and `receivers`, short retry delays, and the
//! delivery log read back per receiver. Shared by `tests/delivery.rs` and the `secrets_child`
//! helper binary, which must run the same checks in a process of its own.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
pub use exporter_alerting::dispatch::Notice;
use exporter_alerting::dispatch::{self, DispatchHandle, DispatchOptions};
use exporter_protocol::alert::{Alert, AlertState, Severity};
use exporter_runtime::Shutdown;
use exporter_store::Store;
use exporter_store::delivery::DeliveryRecord;
use uuid::Uuid;

use crate::TestEnv;
use crate::stand_in::{Recorded, StandIn};

/// A firing alert `name` on `host` with a fresh id and fingerprint.
pub fn alert(name: &str, host: &str, severity: Severity, summary: &str) -> Alert {
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

/// A random number (for fingerprints and generated tokens).
pub fn rand_u64() -> u64 {
    let id = Uuid::new_v4();
    u64::from_le_bytes(id.as_bytes()[..8].try_into().unwrap())
}

/// `alert`, resolved now.
pub fn resolved(alert: &Alert) -> Alert {
    Alert {
        state: AlertState::Resolved,
        resolved_at: Some(Utc::now()),
        ..alert.clone()
    }
}

/// `alert`, acknowledged now by `owner`.
pub fn acknowledged(alert: &Alert) -> Alert {
    Alert {
        acknowledged_at: Some(Utc::now()),
        acknowledged_by: Some("owner".into()),
        ..alert.clone()
    }
}

/// The notice of `alert`, not silenced.
pub fn firing(alert: &Alert) -> Notice {
    Notice {
        alert: alert.clone(),
        silenced: false,
    }
}

/// Short retry delays, so that retries happen within a test.
fn options() -> DispatchOptions {
    DispatchOptions {
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_millis(400),
        external_url: "http://exporter.test:8000".into(),
    }
}

/// Parses an alerts file holding only `route` and `receivers`, as the aggregator would.
pub fn rules(yaml: &str) -> exporter_alerting::AlertRules {
    exporter_alerting::AlertRules::parse(yaml)
        .unwrap_or_else(|(key, message)| panic!("{key}: {message}\n{yaml}"))
}

/// The env's store, with the schema applied.
pub async fn store(env: &TestEnv) -> Store {
    let store = Store::connect(&env.settings().database).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// A running dispatcher: its handle (through `Deref`) and what stops it.
#[derive(Debug)]
pub struct Dispatcher {
    handle: DispatchHandle,
    task: tokio::task::JoinHandle<()>,
    shutdown: Shutdown,
}

impl Dispatcher {
    /// Starts a dispatcher for the `route` and `receivers` in `yaml`, logging to `store`.
    pub fn start(yaml: &str, store: &Store) -> Self {
        let rules = rules(yaml);
        let shutdown = Shutdown::new();
        let (handle, task) = dispatch::spawn(
            rules.route,
            rules.receivers,
            Some(store.clone()),
            options(),
            shutdown.clone(),
        )
        .unwrap();
        Self {
            handle,
            task,
            shutdown,
        }
    }

    /// Shuts it down and waits until it has stopped.
    pub async fn stop(self) {
        self.shutdown.trigger();
        self.task.await.unwrap();
    }
}

impl std::ops::Deref for Dispatcher {
    type Target = DispatchHandle;

    fn deref(&self) -> &DispatchHandle {
        &self.handle
    }
}

/// A 0600 file holding `secret`.
pub fn secret_file(dir: &Path, name: &str, secret: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// The delivery log rows of `receiver`, oldest first.
pub async fn deliveries(store: &Store, receiver: &str) -> Vec<DeliveryRecord> {
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

/// The requests `hook` got whose webhook payload is about `host`'s group.
pub fn for_host(hook: &StandIn, host: &str) -> Vec<Recorded> {
    hook.requests()
        .into_iter()
        .filter(|s| s.json["groupLabels"]["host"] == host)
        .collect()
}

/// How `receivers_keep_their_secrets` hands its generated secrets to the `secrets_child`
/// binary, and how the child says it ran every check.
pub mod secrets {
    /// The Telegram bot token (`<id>:<secret>`), also read by the receiver as `token_env`.
    pub const TELEGRAM_TOKEN: &str = "DELIVERY_TELEGRAM_TOKEN";
    /// The secret last segment of the Slack webhook URL.
    pub const SLACK_SECRET: &str = "DELIVERY_SLACK_SECRET";
    /// The ntfy access token.
    pub const NTFY_TOKEN: &str = "DELIVERY_NTFY_TOKEN";
    /// The child's last line once every check passed.
    pub const DONE: &str = "secrets child: every check passed";
}
