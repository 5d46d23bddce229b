//! `type: webhook`: Alertmanager's webhook JSON (version 4), so anything written for
//! Alertmanager receives it (bearer token when configured). The exporter's own fields sit under
//! `exporter`.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use exporter_protocol::alert::{Alert, AlertState};
use serde_json::{Value, json};

use crate::message::Message;

/// Alertmanager's "zero time": `endsAt` of an alert still firing.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The labels a receiver sees: the alert's, plus `severity` and `category` when the rule did
/// not set them (Alertmanager routes and templates conventionally use `severity`).
fn wire_labels(alert: &Alert) -> BTreeMap<String, String> {
    let mut labels = alert.labels.clone();
    labels
        .entry("severity".into())
        .or_insert_with(|| alert.severity.as_str().to_owned());
    labels
        .entry("category".into())
        .or_insert_with(|| alert.category.clone());
    labels
}

/// Pairs every map shares with the same value.
fn common(maps: &[BTreeMap<String, String>]) -> BTreeMap<String, String> {
    let Some((first, rest)) = maps.split_first() else {
        return BTreeMap::new();
    };
    first
        .iter()
        .filter(|(k, v)| rest.iter().all(|m| m.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Alertmanager webhook JSON, version 4.
pub fn webhook_payload(message: &Message, external_url: &str) -> Value {
    let external_url = external_url.trim_end_matches('/');
    let labels: Vec<_> = message.alerts.iter().map(wire_labels).collect();
    let annotations: Vec<_> = message
        .alerts
        .iter()
        .map(|a| a.annotations.clone())
        .collect();
    let alerts: Vec<Value> = message
        .alerts
        .iter()
        .zip(&labels)
        .map(|(alert, labels)| {
            let resolved = alert.state == AlertState::Resolved;
            let ends_at = match (resolved, alert.resolved_at) {
                (true, Some(at)) => rfc3339(at),
                (true, None) => rfc3339(alert.last_active_at),
                (false, _) => ZERO_TIME.to_owned(),
            };
            json!({
                "status": if resolved { "resolved" } else { "firing" },
                "labels": labels,
                "annotations": alert.annotations,
                "startsAt": rfc3339(alert.fired_at.unwrap_or(alert.started_at)),
                "endsAt": ends_at,
                "generatorURL": if message.watchdog {
                    format!("{external_url}/health")
                } else {
                    format!("{external_url}/alerts/{}", alert.id)
                },
                "fingerprint": alert.fingerprint,
                "exporter": {
                    "alert_id": alert.id,
                    "rule": alert.rule,
                    "severity": alert.severity,
                    "category": alert.category,
                    "value": alert.value.filter(|v| v.is_finite()),
                    "acknowledged": alert.acknowledged_at.is_some(),
                    "acknowledged_at": alert.acknowledged_at.map(rfc3339),
                    "acknowledged_by": alert.acknowledged_by,
                    "watchdog": message.watchdog,
                },
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": message.group_key,
        "truncatedAlerts": 0,
        "status": message.status(),
        "receiver": message.receiver,
        "groupLabels": message.group_labels,
        "commonLabels": common(&labels),
        "commonAnnotations": common(&annotations),
        "externalURL": external_url,
        "alerts": alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::fixtures::{alert, message};
    use exporter_protocol::alert::Severity;

    #[test]
    fn webhook_payload_follows_alertmanager_v4() {
        let firing = alert("GpuHot", "gh200", Severity::Critical, AlertState::Firing);
        let mut resolved = alert("GpuHot", "gh200", Severity::Critical, AlertState::Resolved);
        resolved.labels.insert("gpu".into(), "1".into());
        let body = webhook_payload(&message(vec![firing.clone(), resolved]), "http://x:8000/");
        assert_eq!(body["version"], "4");
        assert_eq!(body["status"], "firing");
        assert_eq!(body["externalURL"], "http://x:8000");
        assert_eq!(body["groupLabels"]["alertname"], "GpuHot");
        assert_eq!(body["commonLabels"]["host"], "gh200");
        assert!(body["commonLabels"].get("gpu").is_none());
        assert_eq!(body["alerts"][0]["endsAt"], ZERO_TIME);
        assert_eq!(body["alerts"][0]["labels"]["severity"], "critical");
        assert_eq!(body["alerts"][1]["status"], "resolved");
        assert_ne!(body["alerts"][1]["endsAt"], ZERO_TIME);
        assert_eq!(
            body["alerts"][0]["generatorURL"],
            format!("http://x:8000/alerts/{}", firing.id)
        );
    }
}
