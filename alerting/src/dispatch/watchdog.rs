//! The `Watchdog`: Alertmanager's always-firing alert (labels `alertname=Watchdog`,
//! `severity=none`), for receivers with `watchdog: true`. Every alert leaves from the box being
//! watched, so an outside dead-man's service (healthchecks.io, Uptime Kuma, an Alertmanager-style
//! heartbeat) is told "all is well" every `aggregator.deadman_interval_seconds`, and pages when
//! that stops: the box, NATS, PostgreSQL writes, ingest or alert evaluation stopped.
//!
//! The aggregator's dead-man's loop (`exporter_aggregator::deadman`) decides when all is well
//! and calls [`super::DispatchHandle::watchdog`]; the dispatcher then sends one message to each
//! opted-in receiver. It is not an alert of the engine: it is never stored, listed in `/alerts`,
//! published on NATS, silenced, grouped or held back by `repeat_interval` (that would stop the
//! cadence the outside service counts on), and it passes the receiver's severity and category
//! filters. One attempt per interval, at most one in flight per receiver: the next interval is
//! the retry, and a slow receiver never piles messages up.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use exporter_protocol::alert::{Alert, AlertState, Severity};
use exporter_runtime::{RetryPolicy, Shutdown};
use uuid::Uuid;

use super::delivery::{self, Delivery, Outcome};
use crate::message::Message;
use crate::receivers::Receiver;

/// The alert's name, as in Alertmanager's default rules.
pub const ALERTNAME: &str = "Watchdog";
/// Its category (no rule has it, so a receiver with `categories: [watchdog]` gets only this).
pub const CATEGORY: &str = "watchdog";
/// The group key its messages carry.
pub const GROUP_KEY: &str = "{alertname=\"Watchdog\"}";

/// The Watchdog of `host`, firing since `since` (the dispatcher keeps one per process, so its
/// id and fingerprint stay the same from one message to the next).
pub fn alert(host: &str, since: DateTime<Utc>) -> Alert {
    Alert {
        id: Uuid::now_v7(),
        fingerprint: format!("watchdog-{host}"),
        rule: ALERTNAME.to_owned(),
        severity: Severity::Info,
        category: CATEGORY.to_owned(),
        state: AlertState::Firing,
        labels: BTreeMap::from([
            ("alertname".to_owned(), ALERTNAME.to_owned()),
            ("severity".to_owned(), "none".to_owned()),
            ("host".to_owned(), host.to_owned()),
        ]),
        annotations: BTreeMap::from([
            (
                "summary".to_owned(),
                "An alert that is always firing, on purpose: an outside dead-man's service pages when it stops arriving".to_owned(),
            ),
            (
                "description".to_owned(),
                format!(
                    "Sent while ingest and alert evaluation on {host} are healthy. It stops when the box, NATS, PostgreSQL writes, ingest or the aggregator stop: page when none came for a few intervals. Nothing to act on while it arrives."
                ),
            ),
        ]),
        value: None,
        started_at: since,
        fired_at: Some(since),
        resolved_at: None,
        acknowledged_at: None,
        acknowledged_by: None,
        last_active_at: Utc::now(),
    }
}

/// The message for `receiver`.
pub fn message(receiver: &str, alert: &Alert) -> Message {
    Message {
        receiver: receiver.to_owned(),
        group_key: GROUP_KEY.to_owned(),
        group_labels: BTreeMap::from([("alertname".to_owned(), ALERTNAME.to_owned())]),
        alerts: vec![Alert {
            last_active_at: Utc::now(),
            ..alert.clone()
        }],
        watchdog: true,
    }
}

/// One attempt to `receiver`; true when it took it. Failures are logged (the outside service
/// will page if they go on); nothing goes to the delivery log, which is about alerts.
pub async fn send(
    receiver: Arc<Receiver>,
    client: reqwest::Client,
    message: Message,
    external_url: Arc<str>,
    shutdown: Shutdown,
) -> bool {
    if shutdown.is_triggered() {
        return false;
    }
    let name = receiver.name.clone();
    let job = Delivery {
        receiver,
        message,
        client,
        store: None,
        retry: RetryPolicy::SERVICE,
        external_url,
    };
    match delivery::attempt(&job).await {
        Outcome::Sent { status } => {
            tracing::debug!(receiver = %name, http_status = status, "Watchdog delivered");
            true
        }
        Outcome::Retry { status, error, .. } | Outcome::Fail { status, error } => {
            tracing::warn!(
                receiver = %name,
                http_status = status,
                %error,
                "Watchdog not delivered; sent again at the next interval (the dead-man's service pages if this goes on)"
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receivers::webhook::webhook_payload;

    #[test]
    fn the_watchdog_follows_alertmanagers_convention_and_links_to_health() {
        let since = Utc::now();
        let watchdog = alert("gh200", since);
        let body = webhook_payload(&message("dms", &watchdog), "http://x:8000");
        assert_eq!(body["status"], "firing");
        assert_eq!(body["groupLabels"]["alertname"], "Watchdog");
        let sent = &body["alerts"][0];
        assert_eq!(sent["labels"]["alertname"], "Watchdog");
        assert_eq!(sent["labels"]["severity"], "none");
        assert_eq!(sent["labels"]["host"], "gh200");
        assert_eq!(sent["labels"]["category"], "watchdog");
        assert_eq!(sent["endsAt"], "0001-01-01T00:00:00Z");
        assert_eq!(sent["generatorURL"], "http://x:8000/health");
        assert_eq!(sent["exporter"]["watchdog"], true);
        assert!(
            sent["annotations"]["summary"]
                .as_str()
                .unwrap()
                .contains("always firing")
        );
        // The same alert from one message to the next.
        let again = webhook_payload(&message("dms", &watchdog), "http://x:8000");
        assert_eq!(again["alerts"][0]["fingerprint"], sent["fingerprint"]);
        assert_eq!(again["alerts"][0]["startsAt"], sent["startsAt"]);
    }
}
