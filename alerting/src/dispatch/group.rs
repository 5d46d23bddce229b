//! The clock-dependent half of notification delivery, kept pure so it can be tested with a
//! controlled clock: one [`GroupState`] per (receiver, group) decides *when* a message goes out
//! and *which* alerts it holds, Alertmanager's way plus acknowledgement:
//!
//! - a new group waits `group_wait` before its first message, so a burst becomes one message;
//! - after that, a change (an alert newly firing, or a notified alert resolving) goes out at most
//!   once per `group_interval`;
//! - with no change, the group is sent again every `repeat_interval` while at least one of its
//!   firing alerts is neither acknowledged nor silenced (acknowledged alerts stop nagging);
//! - silenced alerts are never sent; an alert that resolves before it was ever notified is never
//!   sent; resolved alerts leave the group once their resolution was delivered;
//! - one message per group at a time: while a delivery is in flight nothing else is sent, and a
//!   failed delivery is tried again (as a change) after `group_interval`.
//!
//! The dispatcher ([`super`]) owns the timers, the HTTP and the store; this file only
//! answers `next_due`, `take_flush` and `on_delivered` for instants it is given.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use exporter_protocol::alert::{Alert, AlertState};
use uuid::Uuid;

use crate::schema::RouteSettings;

/// The route's three durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupTiming {
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
}

impl From<&RouteSettings> for GroupTiming {
    fn from(route: &RouteSettings) -> Self {
        Self {
            group_wait: route.group_wait,
            group_interval: route.group_interval,
            repeat_interval: route.repeat_interval,
        }
    }
}

/// Why a message goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushReason {
    /// The group's first message, after `group_wait`.
    First,
    /// Something changed (or the last delivery failed), after `group_interval`.
    Change,
    /// Nothing changed; an unacknowledged alert still fires, after `repeat_interval`.
    Repeat,
}

/// One message's worth of alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Flush {
    pub reason: FlushReason,
    /// Firing first (critical first), then resolved; by label set within each.
    pub alerts: Vec<Alert>,
}

impl Flush {
    pub fn alert_ids(&self) -> Vec<Uuid> {
        self.alerts.iter().map(|a| a.id).collect()
    }
}

#[derive(Debug, Clone)]
struct Entry {
    alert: Alert,
    silenced: bool,
    /// Its firing reached the receiver (a delivered message held it as firing).
    notified: bool,
}

impl Entry {
    fn firing(&self) -> bool {
        self.alert.state == AlertState::Firing
    }

    /// Firing, unsilenced, never delivered: worth a message.
    fn is_new(&self) -> bool {
        self.firing() && !self.silenced && !self.notified
    }

    /// Resolved after it was notified, not silenced: its resolution is worth a message.
    fn owes_resolution(&self) -> bool {
        self.alert.state == AlertState::Resolved && self.notified && !self.silenced
    }

    /// Would be in a message now.
    fn sendable(&self) -> bool {
        (self.firing() && !self.silenced) || self.owes_resolution()
    }

    /// Keeps the group repeating.
    fn nags(&self) -> bool {
        self.firing() && !self.silenced && self.alert.acknowledged_at.is_none()
    }
}

#[derive(Debug, Clone, Default)]
struct InFlight {
    firing: HashSet<Uuid>,
    resolved: HashSet<Uuid>,
}

/// One group of one receiver.
#[derive(Debug, Clone)]
pub struct GroupState {
    key: String,
    labels: BTreeMap<String, String>,
    timing: GroupTiming,
    send_resolved: bool,
    entries: BTreeMap<Uuid, Entry>,
    /// Before the first message: when the first sendable alert arrived.
    wait_started: Option<Instant>,
    /// When the last message was taken (whether or not it was delivered).
    last_flush: Option<Instant>,
    /// The last delivery failed: send again after `group_interval` even without a change.
    failed: bool,
    in_flight: Option<InFlight>,
}

impl GroupState {
    pub fn new(
        key: String,
        labels: BTreeMap<String, String>,
        timing: GroupTiming,
        send_resolved: bool,
    ) -> Self {
        Self {
            key,
            labels,
            timing,
            send_resolved,
            entries: BTreeMap::new(),
            wait_started: None,
            last_flush: None,
            failed: false,
            in_flight: None,
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// Applies a reloaded route and receiver.
    pub fn reconfigure(&mut self, timing: GroupTiming, send_resolved: bool) {
        self.timing = timing;
        self.send_resolved = send_resolved;
        if !send_resolved {
            self.entries
                .retain(|_, e| e.alert.state != AlertState::Resolved);
        }
    }

    pub fn contains(&self, id: Uuid) -> bool {
        self.entries.contains_key(&id)
    }

    /// Alerts whose firing reached the receiver.
    pub fn notified_ids(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.entries
            .iter()
            .filter(|(_, e)| e.notified)
            .map(|(id, _)| *id)
    }

    /// Nothing left to track: the dispatcher may drop it.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.in_flight.is_none()
    }

    /// Drops the alerts `keep` says no to (a receiver's filters changed).
    pub fn retain(&mut self, mut keep: impl FnMut(&Alert) -> bool, now: Instant) {
        self.entries.retain(|_, e| keep(&e.alert));
        self.refresh(now);
    }

    /// An alert became firing, resolved, acknowledged, or its silence changed. Pending and
    /// inactive alerts are ignored.
    pub fn on_notice(&mut self, now: Instant, alert: &Alert, silenced: bool) {
        match alert.state {
            AlertState::Pending | AlertState::Inactive => return,
            AlertState::Firing => {
                let entry = self.entries.entry(alert.id).or_insert_with(|| Entry {
                    alert: alert.clone(),
                    silenced,
                    notified: false,
                });
                entry.alert = alert.clone();
                entry.silenced = silenced;
            }
            AlertState::Resolved => {
                let in_flight_firing = self
                    .in_flight
                    .as_ref()
                    .is_some_and(|f| f.firing.contains(&alert.id));
                match self.entries.get_mut(&alert.id) {
                    None => {}
                    Some(entry) => {
                        entry.alert = alert.clone();
                        entry.silenced = silenced;
                        // Never notified (and no message holding it in flight), silenced now,
                        // or the receiver wants no resolutions: it leaves without a word.
                        let unnotified = !entry.notified && !in_flight_firing;
                        if unnotified || silenced || !self.send_resolved {
                            self.entries.remove(&alert.id);
                        }
                    }
                }
            }
        }
        self.refresh(now);
    }

    /// Restores an alert known to have been notified before (a reload that regrouped).
    pub fn restore_notified(&mut self, now: Instant, alert: &Alert, silenced: bool) {
        if alert.state != AlertState::Firing {
            return;
        }
        self.entries.insert(
            alert.id,
            Entry {
                alert: alert.clone(),
                silenced,
                notified: true,
            },
        );
        self.last_flush.get_or_insert(now);
        self.refresh(now);
    }

    fn has_change(&self) -> bool {
        self.failed
            || self
                .entries
                .values()
                .any(|e| e.is_new() || e.owes_resolution())
    }

    fn refresh(&mut self, now: Instant) {
        if self.last_flush.is_none() {
            if self.has_change() {
                self.wait_started.get_or_insert(now);
            } else {
                self.wait_started = None;
            }
        }
    }

    /// When the next message is due (`None`: nothing to send until something changes).
    pub fn next_due(&self) -> Option<Instant> {
        if self.in_flight.is_some() {
            return None;
        }
        match self.last_flush {
            None => self
                .wait_started
                .filter(|_| self.has_change())
                .map(|t| t + self.timing.group_wait),
            Some(last) if self.has_change() => Some(last + self.timing.group_interval),
            Some(last) if self.entries.values().any(Entry::nags) => {
                Some(last + self.timing.repeat_interval)
            }
            Some(_) => None,
        }
    }

    pub fn due(&self, now: Instant) -> bool {
        self.next_due().is_some_and(|t| t <= now)
    }

    /// The message due at `now`, if any; the group is then in flight until
    /// [`GroupState::on_delivered`].
    pub fn take_flush(&mut self, now: Instant) -> Option<Flush> {
        if !self.due(now) {
            return None;
        }
        let reason = match self.last_flush {
            None => FlushReason::First,
            Some(_) if self.has_change() => FlushReason::Change,
            Some(_) => FlushReason::Repeat,
        };
        let mut alerts: Vec<&Entry> = self.entries.values().filter(|e| e.sendable()).collect();
        self.failed = false;
        if alerts.is_empty() {
            // Only a failed delivery's retry was pending, and nothing is left to say.
            self.refresh(now);
            return None;
        }
        alerts.sort_by(|a, b| {
            let resolved = |e: &Entry| e.alert.state == AlertState::Resolved;
            resolved(a)
                .cmp(&resolved(b))
                .then(b.alert.severity.cmp(&a.alert.severity))
                .then(a.alert.labels.cmp(&b.alert.labels))
        });
        let mut in_flight = InFlight::default();
        for entry in &alerts {
            if entry.firing() {
                in_flight.firing.insert(entry.alert.id);
            } else {
                in_flight.resolved.insert(entry.alert.id);
            }
        }
        let alerts = alerts.into_iter().map(|e| e.alert.clone()).collect();
        self.in_flight = Some(in_flight);
        self.last_flush = Some(now);
        self.wait_started = None;
        Some(Flush { reason, alerts })
    }

    /// The message taken last was delivered (`ok`) or given up.
    pub fn on_delivered(&mut self, now: Instant, ok: bool) {
        let Some(flight) = self.in_flight.take() else {
            return;
        };
        if ok {
            for id in &flight.firing {
                if let Some(entry) = self.entries.get_mut(id) {
                    entry.notified = true;
                    if entry.silenced && entry.alert.state == AlertState::Resolved {
                        self.entries.remove(id);
                    }
                }
            }
            for id in &flight.resolved {
                if self
                    .entries
                    .get(id)
                    .is_some_and(|e| e.alert.state == AlertState::Resolved)
                {
                    self.entries.remove(id);
                }
            }
        } else {
            self.failed = true;
            // A firing that never arrived: if it resolved meanwhile, it is never sent.
            for id in &flight.firing {
                if self
                    .entries
                    .get(id)
                    .is_some_and(|e| e.alert.state == AlertState::Resolved && !e.notified)
                {
                    self.entries.remove(id);
                }
            }
        }
        self.refresh(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use exporter_protocol::alert::Severity;

    const WAIT: Duration = Duration::from_secs(30);
    const INTERVAL: Duration = Duration::from_secs(300);
    const REPEAT: Duration = Duration::from_secs(3600);

    fn timing() -> GroupTiming {
        GroupTiming {
            group_wait: WAIT,
            group_interval: INTERVAL,
            repeat_interval: REPEAT,
        }
    }

    fn group() -> GroupState {
        GroupState::new(
            "{alertname=\"GpuHot\"}".into(),
            BTreeMap::new(),
            timing(),
            true,
        )
    }

    fn firing(gpu: u32) -> Alert {
        let now = Utc::now();
        Alert {
            id: Uuid::now_v7(),
            fingerprint: format!("fp{gpu}"),
            rule: "GpuHot".into(),
            severity: Severity::Critical,
            category: "hardware".into(),
            state: AlertState::Firing,
            labels: BTreeMap::from([
                ("alertname".to_owned(), "GpuHot".to_owned()),
                ("gpu".to_owned(), gpu.to_string()),
            ]),
            annotations: BTreeMap::new(),
            value: None,
            started_at: now,
            fired_at: Some(now),
            resolved_at: None,
            acknowledged_at: None,
            acknowledged_by: None,
            last_active_at: now,
        }
    }

    fn resolved(alert: &Alert) -> Alert {
        Alert {
            state: AlertState::Resolved,
            resolved_at: Some(Utc::now()),
            ..alert.clone()
        }
    }

    fn acked(alert: &Alert) -> Alert {
        Alert {
            acknowledged_at: Some(Utc::now()),
            acknowledged_by: Some("owner".into()),
            ..alert.clone()
        }
    }

    /// Takes the flush due at `now` and reports it delivered.
    fn send(g: &mut GroupState, now: Instant) -> Flush {
        let flush = g.take_flush(now).expect("a message is due");
        g.on_delivered(now, true);
        flush
    }

    #[test]
    fn group_wait_holds_a_burst_into_one_message() {
        let t0 = Instant::now();
        let mut g = group();
        for i in 0..5 {
            g.on_notice(t0 + Duration::from_secs(i), &firing(i as u32), false);
        }
        assert_eq!(g.next_due(), Some(t0 + WAIT));
        assert!(g.take_flush(t0 + WAIT - Duration::from_millis(1)).is_none());
        let flush = send(&mut g, t0 + WAIT);
        assert_eq!(flush.reason, FlushReason::First);
        assert_eq!(flush.alerts.len(), 5);
        // Nothing changed: the next message is the repeat.
        assert_eq!(g.next_due(), Some(t0 + WAIT + REPEAT));
    }

    #[test]
    fn group_interval_bounds_changes() {
        let t0 = Instant::now();
        let mut g = group();
        let a = firing(0);
        g.on_notice(t0, &a, false);
        let t1 = t0 + WAIT;
        send(&mut g, t1);
        // A new alert 1 s later waits for the interval, not the group_wait.
        let b = firing(1);
        g.on_notice(t1 + Duration::from_secs(1), &b, false);
        assert_eq!(g.next_due(), Some(t1 + INTERVAL));
        assert!(!g.due(t1 + INTERVAL - Duration::from_secs(1)));
        let flush = send(&mut g, t1 + INTERVAL);
        assert_eq!(flush.reason, FlushReason::Change);
        assert_eq!(flush.alerts.len(), 2, "the whole group goes out");
        // Resolving a notified alert is a change too; after that it leaves the group.
        let t2 = t1 + INTERVAL;
        g.on_notice(t2 + Duration::from_secs(5), &resolved(&a), false);
        assert_eq!(g.next_due(), Some(t2 + INTERVAL));
        let flush = send(&mut g, t2 + INTERVAL);
        assert_eq!(flush.alerts.len(), 2);
        assert_eq!(flush.alerts[1].state, AlertState::Resolved);
        assert!(!g.contains(a.id));
        assert!(g.contains(b.id));
    }

    #[test]
    fn repeat_interval_repeats_an_unacknowledged_alert() {
        let t0 = Instant::now();
        let mut g = group();
        g.on_notice(t0, &firing(0), false);
        send(&mut g, t0 + WAIT);
        let t1 = t0 + WAIT + REPEAT;
        assert!(!g.due(t1 - Duration::from_secs(1)));
        let flush = send(&mut g, t1);
        assert_eq!(flush.reason, FlushReason::Repeat);
        assert_eq!(g.next_due(), Some(t1 + REPEAT));
    }

    #[test]
    fn acknowledgement_stops_repeats_but_not_the_resolution() {
        let t0 = Instant::now();
        let mut g = group();
        let a = firing(0);
        g.on_notice(t0, &a, false);
        send(&mut g, t0 + WAIT);
        let a = acked(&a);
        g.on_notice(t0 + WAIT + Duration::from_secs(60), &a, false);
        assert_eq!(g.next_due(), None, "an acknowledged alert does not nag");
        // Another alert joins: the message holds both, the acknowledged one marked as such.
        let b = firing(1);
        let t1 = t0 + WAIT + Duration::from_secs(120);
        g.on_notice(t1, &b, false);
        let flush = send(&mut g, t0 + WAIT + INTERVAL);
        assert_eq!(flush.alerts.len(), 2);
        assert!(flush.alerts.iter().any(|x| x.acknowledged_at.is_some()));
        // b nags, so the group repeats (with a in it); once b is acknowledged too, it stops.
        assert!(g.next_due().is_some());
        g.on_notice(t1 + INTERVAL, &acked(&b), false);
        assert_eq!(g.next_due(), None);
        // The resolution of an acknowledged alert is still sent.
        let t2 = t1 + Duration::from_secs(1000);
        g.on_notice(t2, &resolved(&a), false);
        let flush = send(&mut g, t2);
        assert_eq!(flush.reason, FlushReason::Change);
        assert!(flush.alerts.iter().any(|x| x.state == AlertState::Resolved));
    }

    #[test]
    fn silenced_alerts_are_never_sent() {
        let t0 = Instant::now();
        let mut g = group();
        let a = firing(0);
        g.on_notice(t0, &a, true);
        assert_eq!(g.next_due(), None);
        assert!(g.take_flush(t0 + REPEAT).is_none());
        // A silenced alert sits beside a sent one without appearing in its messages.
        let b = firing(1);
        g.on_notice(t0 + REPEAT, &b, false);
        let flush = send(&mut g, t0 + REPEAT + WAIT);
        assert_eq!(flush.alerts, vec![b.clone()]);
        // Unsilenced, it is new: out after the interval.
        g.on_notice(t0 + REPEAT + WAIT + Duration::from_secs(1), &a, false);
        let flush = send(&mut g, t0 + REPEAT + WAIT + INTERVAL);
        assert_eq!(flush.alerts.len(), 2);
        // Silenced again and resolved: the resolution is not sent either.
        let t1 = t0 + REPEAT + WAIT + INTERVAL + Duration::from_secs(1);
        g.on_notice(t1, &resolved(&a), true);
        assert!(!g.contains(a.id));
    }

    #[test]
    fn resolved_before_notified_is_never_sent() {
        let t0 = Instant::now();
        let mut g = group();
        let a = firing(0);
        g.on_notice(t0, &a, false);
        g.on_notice(t0 + Duration::from_secs(5), &resolved(&a), false);
        assert!(g.is_empty());
        assert_eq!(g.next_due(), None);
    }

    #[test]
    fn a_failed_delivery_is_retried_after_the_interval() {
        let t0 = Instant::now();
        let mut g = group();
        let a = firing(0);
        g.on_notice(t0, &a, false);
        let flush = g.take_flush(t0 + WAIT).unwrap();
        assert_eq!(g.next_due(), None, "one message at a time");
        g.on_delivered(t0 + WAIT, false);
        assert_eq!(g.next_due(), Some(t0 + WAIT + INTERVAL));
        let again = send(&mut g, t0 + WAIT + INTERVAL);
        assert_eq!(again.alerts, flush.alerts);
        assert_eq!(g.next_due(), Some(t0 + WAIT + INTERVAL + REPEAT));
    }

    #[test]
    fn a_resolution_during_delivery_follows_the_firing() {
        let t0 = Instant::now();
        let mut g = group();
        let a = firing(0);
        g.on_notice(t0, &a, false);
        g.take_flush(t0 + WAIT).unwrap();
        g.on_notice(t0 + WAIT, &resolved(&a), false);
        g.on_delivered(t0 + WAIT + Duration::from_secs(1), true);
        let flush = send(&mut g, t0 + WAIT + INTERVAL);
        assert_eq!(flush.alerts[0].state, AlertState::Resolved);
        assert!(g.is_empty());
    }

    #[test]
    fn without_send_resolved_a_resolution_just_leaves() {
        let t0 = Instant::now();
        let mut g = GroupState::new("k".into(), BTreeMap::new(), timing(), false);
        let a = firing(0);
        g.on_notice(t0, &a, false);
        send(&mut g, t0 + WAIT);
        g.on_notice(t0 + WAIT + Duration::from_secs(1), &resolved(&a), false);
        assert!(g.is_empty());
    }
}
