//! The unit the dispatcher hands to a receiver: one group's alerts for one receiver. Shared by
//! [`crate::dispatch`] (which builds it) and [`crate::receivers`] (which renders it), so
//! neither imports the other's internals.

use std::collections::BTreeMap;

use exporter_protocol::alert::{Alert, AlertState, Severity};

/// One message for one receiver: a group's alerts that passed the receiver's filters.
#[derive(Debug, Clone)]
pub struct Message {
    pub receiver: String,
    /// `{alertname="HostDown", host="gh200"}`.
    pub group_key: String,
    /// The `group_by` labels and their values.
    pub group_labels: BTreeMap<String, String>,
    /// Firing (possibly acknowledged) and resolved alerts, in display order.
    pub alerts: Vec<Alert>,
    /// The always-firing `Watchdog` (`crate::dispatch::watchdog`), not an alert of the engine:
    /// its links point at `/health`, since `/alerts` does not list it.
    pub watchdog: bool,
}

impl Message {
    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.alerts
            .iter()
            .filter(|a| a.state != AlertState::Resolved)
    }

    /// `firing` when any alert fires, else `resolved` (Alertmanager's group status).
    pub fn status(&self) -> &'static str {
        if self.firing().next().is_some() {
            "firing"
        } else {
            "resolved"
        }
    }

    /// `[FIRING:2] GpuHot gh200` or `[RESOLVED] GpuHot gh200`.
    pub fn title(&self) -> String {
        let firing = self.firing().count();
        let what = if self.group_labels.is_empty() {
            "alerts".to_owned()
        } else {
            self.group_labels
                .values()
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        };
        if firing > 0 {
            format!("[FIRING:{firing}] {what}")
        } else {
            format!("[RESOLVED] {what}")
        }
    }

    /// The highest severity among firing alerts (none when all resolved).
    pub fn worst_firing(&self) -> Option<Severity> {
        self.firing().map(|a| a.severity).max()
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Alerts and messages for the receivers' tests.

    use std::collections::BTreeMap;

    use chrono::Utc;
    use exporter_protocol::alert::{Alert, AlertState, Severity};
    use uuid::Uuid;

    use super::Message;

    pub fn alert(name: &str, host: &str, severity: Severity, state: AlertState) -> Alert {
        let now = Utc::now();
        Alert {
            id: Uuid::now_v7(),
            fingerprint: format!("fp-{name}-{host}"),
            rule: name.into(),
            severity,
            category: "system".into(),
            state,
            labels: BTreeMap::from([
                ("alertname".to_owned(), name.to_owned()),
                ("host".to_owned(), host.to_owned()),
            ]),
            annotations: BTreeMap::from([(
                "summary".to_owned(),
                format!("{name} on {host} <b>&</b>"),
            )]),
            value: Some(1.0),
            started_at: now,
            fired_at: Some(now),
            resolved_at: (state == AlertState::Resolved).then_some(now),
            acknowledged_at: None,
            acknowledged_by: None,
            last_active_at: now,
        }
    }

    pub fn message(alerts: Vec<Alert>) -> Message {
        Message {
            receiver: "r1".into(),
            group_key: "{alertname=\"GpuHot\", host=\"gh200\"}".into(),
            group_labels: BTreeMap::from([
                ("alertname".to_owned(), "GpuHot".to_owned()),
                ("host".to_owned(), "gh200".to_owned()),
            ]),
            alerts,
            watchdog: false,
        }
    }
}
