//! The lifecycle of one alert (pending → firing → resolved, or pending → inactive) and its
//! identity: the labels it gets from its rule and the fingerprint of those labels.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use exporter_protocol::alert::{Alert, AlertEventKind, AlertState};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Change, Engine, Labels};
use crate::rules::{Rule, render};

impl Engine {
    /// Moves one instance's alert along the lifecycle.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn step(
        &mut self,
        rule: &Rule,
        fingerprint: String,
        labels: BTreeMap<String, String>,
        value: Option<f64>,
        active: bool,
        now: DateTime<Utc>,
        changes: &mut Vec<Change>,
    ) {
        if !active {
            if self.open.contains_key(&fingerprint) {
                if let Some(alert) = self.open.get_mut(&fingerprint) {
                    alert.value = value;
                }
                self.clear(&fingerprint, rule.keep_firing_for, now, changes);
            }
            return;
        }
        let annotations = |labels: &Labels| {
            BTreeMap::from([
                (
                    "summary".to_owned(),
                    render(&rule.summary, value, labels, rule),
                ),
                (
                    "description".to_owned(),
                    render(&rule.description, value, labels, rule),
                ),
            ])
        };
        self.restored.remove(&fingerprint);
        match self.open.get_mut(&fingerprint) {
            Some(alert) => {
                if alert.value != value || alert.annotations.is_empty() {
                    alert.annotations = annotations(&alert.labels);
                }
                alert.value = value;
                alert.last_active_at = now;
                if alert.state == AlertState::Pending && now - alert.started_at >= rule.for_duration
                {
                    alert.state = AlertState::Firing;
                    alert.fired_at = Some(now);
                    changes.push(Change {
                        kind: AlertEventKind::Firing,
                        time: now,
                        alert: alert.clone(),
                    });
                }
            }
            None => {
                let firing = rule.for_duration <= Duration::zero();
                let alert = Alert {
                    id: Uuid::now_v7(),
                    fingerprint: fingerprint.clone(),
                    rule: rule.name.clone(),
                    severity: rule.severity,
                    category: rule.category.clone(),
                    state: if firing {
                        AlertState::Firing
                    } else {
                        AlertState::Pending
                    },
                    annotations: annotations(&labels),
                    labels,
                    value,
                    started_at: now,
                    fired_at: firing.then_some(now),
                    resolved_at: None,
                    acknowledged_at: None,
                    acknowledged_by: None,
                    last_active_at: now,
                };
                changes.push(Change {
                    kind: if firing {
                        AlertEventKind::Firing
                    } else {
                        AlertEventKind::Pending
                    },
                    time: now,
                    alert: alert.clone(),
                });
                self.open.insert(fingerprint, alert);
            }
        }
    }

    /// The condition of an open alert is false at `now`.
    pub(super) fn clear(
        &mut self,
        fingerprint: &str,
        keep_firing_for: Duration,
        now: DateTime<Utc>,
        changes: &mut Vec<Change>,
    ) {
        let Some(alert) = self.open.get(fingerprint) else {
            return;
        };
        if self
            .restored
            .get(fingerprint)
            .is_some_and(|until| now < *until)
        {
            return;
        }
        self.restored.remove(fingerprint);
        let done = match alert.state {
            AlertState::Pending => Some(AlertState::Inactive),
            AlertState::Firing if now - alert.last_active_at >= keep_firing_for => {
                Some(AlertState::Resolved)
            }
            _ => None,
        };
        if let Some(state) = done
            && let Some(mut alert) = self.open.remove(fingerprint)
        {
            alert.state = state;
            let kind = if state == AlertState::Resolved {
                alert.resolved_at = Some(now);
                AlertEventKind::Resolved
            } else {
                AlertEventKind::Inactive
            };
            changes.push(Change {
                kind,
                time: now,
                alert,
            });
        }
    }
}

/// The labels an alert of `rule` gets for a series instance's `labels`.
pub(super) fn alert_labels(
    rule: &Rule,
    labels: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut labels = labels.clone();
    labels.extend(rule.labels.clone());
    labels.insert("alertname".into(), rule.name.clone());
    labels.insert("severity".into(), rule.severity.as_str().to_owned());
    labels.insert("category".into(), rule.category.clone());
    labels
}

/// Stable identity of a rule and label set: the first 16 bytes of SHA-256, hex.
pub fn fingerprint(rule: &str, labels: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(rule.as_bytes());
    for (key, value) in labels {
        hasher.update([0xff]);
        hasher.update(key.as_bytes());
        hasher.update([0xfe]);
        hasher.update(value.as_bytes());
    }
    hex::encode(&hasher.finalize()[..16])
}
