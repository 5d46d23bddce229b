//! The alert state machine: what is observed (latest series values, sample and heartbeat arrival,
//! matching log lines, notifications) and, at each evaluation, which alerts change state.
//!
//! Pure and clock-free: every call takes `now`, so tests drive time explicitly. One alert exists
//! per rule and label set (its fingerprint) from pending to resolved; a rule that fires again
//! after it resolved makes a new alert. Lifecycle, as in Prometheus:
//! - condition true → pending (or straight to firing when `for` is 0);
//! - pending for `for` → firing; pending and the condition cleared → inactive (never notified);
//! - firing and the condition cleared for `keep_firing_for` → resolved; with a
//!   `resolve_threshold`, "cleared" means back beyond that threshold (hysteresis).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use chrono::{DateTime, Duration, Utc};
use exporter_protocol::SeriesPoint;
use exporter_protocol::alert::{Alert, AlertEventKind, AlertState, Notification, Severity};
use exporter_protocol::logs::LogLine;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::rules::{Absent, Condition, Rule, render};

/// Rule name of alerts raised by the trading system's notifications.
pub const NOTIFICATION_RULE: &str = "notification";

/// Labels of a series instance (with `host`).
type Labels = BTreeMap<String, String>;

/// Most matching lines remembered per log rule, host and component: enough to count any
/// realistic threshold exactly, and a bound on memory during an error storm (the count then
/// reads as "at least" this many).
const MAX_LOG_HITS: usize = 10_000;

/// Matching-line times per (host, component), oldest first.
type LogHits = HashMap<(String, String), VecDeque<DateTime<Utc>>>;

/// One state change produced by [`Engine::evaluate`] or an observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub kind: AlertEventKind,
    pub time: DateTime<Utc>,
    pub alert: Alert,
}

/// Everything the engine knows.
#[derive(Debug)]
pub struct Engine {
    rules: Vec<Rule>,
    started_at: DateTime<Utc>,
    /// Latest value and arrival time of every series instance, by series name then labels.
    series: HashMap<String, HashMap<Labels, (f64, DateTime<Utc>)>>,
    /// Last sample arrival per (source, host).
    samples: HashMap<(String, String), DateTime<Utc>>,
    /// Last heartbeat per (process, host).
    heartbeats: HashMap<(String, String), DateTime<Utc>>,
    /// Matching lines per log rule (by rule name).
    log_hits: HashMap<String, LogHits>,
    /// Highest equity seen per host, for the derived drawdown series.
    equity_peaks: HashMap<String, f64>,
    /// Open (pending or firing) alerts by fingerprint.
    open: HashMap<String, Alert>,
    /// Restored alerts not seen active since the restart, with the end of their grace period.
    restored: HashMap<String, DateTime<Utc>>,
    /// Changes made outside `evaluate` (notifications), returned by the next `evaluate`.
    queued: Vec<Change>,
    /// A notification alert resolves after this long without a repeat.
    notification_resolve_after: Duration,
}

impl Engine {
    pub fn new(rules: Vec<Rule>, now: DateTime<Utc>, notification_resolve_after: Duration) -> Self {
        Self {
            rules,
            started_at: now,
            series: HashMap::new(),
            samples: HashMap::new(),
            heartbeats: HashMap::new(),
            log_hits: HashMap::new(),
            equity_peaks: HashMap::new(),
            open: HashMap::new(),
            restored: HashMap::new(),
            queued: Vec::new(),
            notification_resolve_after,
        }
    }

    /// Replaces the rules (a reload). Open alerts of rules that no longer exist resolve at the
    /// next evaluation (their condition cannot hold any more).
    pub fn set_rules(&mut self, rules: Vec<Rule>) {
        self.rules = rules;
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Open alerts, by fingerprint.
    pub fn open_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.open.values()
    }

    /// Takes back the open alerts stored before a restart, so they keep their ids.
    ///
    /// A restarted engine has seen nothing yet, so a restored alert is not cleared before its
    /// condition had a fair chance to be observed again (its rule's `stale_after` or window,
    /// else a minute); an absence alert's source is known again from when the alert last saw
    /// it, so a process still silent stays absent.
    pub fn restore(&mut self, alerts: Vec<Alert>) {
        for alert in alerts {
            if alert.state.is_final() {
                continue;
            }
            let rule = self.rules.iter().find(|r| r.name == alert.rule);
            let grace = match rule.map(|r| &r.condition) {
                Some(Condition::Threshold(t)) => t.stale_after,
                Some(Condition::Logs(l)) => l.window,
                _ => Duration::minutes(1),
            };
            if let Some(Condition::Absent(absent)) = rule.map(|r| &r.condition) {
                let silent = Duration::seconds(alert.value.unwrap_or(0.0).max(0.0) as i64);
                let last_heard = alert.last_active_at - silent;
                let host = alert.labels.get("host").cloned().unwrap_or_default();
                match absent {
                    Absent::Source { source, .. } => self
                        .samples
                        .entry((source.clone(), host))
                        .or_insert(last_heard),
                    Absent::Process { process, .. } => self
                        .heartbeats
                        .entry((process.clone(), host))
                        .or_insert(last_heard),
                };
            }
            self.restored
                .insert(alert.fingerprint.clone(), self.started_at + grace);
            self.open.insert(alert.fingerprint.clone(), alert);
        }
    }

    /// Updates the acknowledgement of an open alert (the API writes it; the runner reads it
    /// back). Returns true when it changed.
    pub fn set_acknowledged(
        &mut self,
        alert_id: Uuid,
        at: Option<DateTime<Utc>>,
        by: Option<String>,
    ) -> Option<Alert> {
        let alert = self.open.values_mut().find(|a| a.id == alert_id)?;
        if alert.acknowledged_at == at {
            return None;
        }
        alert.acknowledged_at = at;
        alert.acknowledged_by = by;
        Some(alert.clone())
    }

    /// A source was last heard of at `at` (seeds absence detection after a restart).
    pub fn seed_source(&mut self, source: &str, host: &str, at: DateTime<Utc>) {
        self.samples
            .entry((source.to_owned(), host.to_owned()))
            .or_insert(at);
    }

    /// The highest recorded equity of `host` (seeds the drawdown series after a restart).
    pub fn seed_equity_peak(&mut self, host: &str, equity: f64) {
        if equity.is_finite() && equity > 0.0 {
            let peak = self.equity_peaks.entry(host.to_owned()).or_insert(equity);
            *peak = peak.max(equity);
        }
    }

    /// A sample arrived: its series become the latest values.
    pub fn observe_sample(
        &mut self,
        source: &str,
        host: &str,
        points: &[SeriesPoint],
        now: DateTime<Utc>,
    ) {
        self.samples
            .insert((source.to_owned(), host.to_owned()), now);
        for point in points {
            if !point.value.is_finite() {
                continue;
            }
            self.observe_value(point.name, &point.labels, host, point.value, now);
            if point.name == "portfolio.equity" && point.value > 0.0 {
                let peak = self
                    .equity_peaks
                    .entry(host.to_owned())
                    .or_insert(point.value);
                *peak = peak.max(point.value);
                let drawdown = (*peak - point.value) / *peak * 100.0;
                self.observe_value(
                    "portfolio.drawdown_percent",
                    &point.labels,
                    host,
                    drawdown,
                    now,
                );
            }
        }
    }

    /// A derived or external value (e.g. today's realised P&L computed from the store).
    pub fn observe_value(
        &mut self,
        name: &str,
        labels: &BTreeMap<String, String>,
        host: &str,
        value: f64,
        now: DateTime<Utc>,
    ) {
        if !value.is_finite() {
            return;
        }
        let mut labels = labels.clone();
        labels.insert("host".to_owned(), host.to_owned());
        match self.series.get_mut(name) {
            Some(instances) => {
                instances.insert(labels, (value, now));
            }
            None => {
                self.series
                    .insert(name.to_owned(), HashMap::from([(labels, (value, now))]));
            }
        }
    }

    /// A process sent a heartbeat.
    pub fn observe_heartbeat(&mut self, process: &str, host: &str, now: DateTime<Utc>) {
        self.heartbeats
            .insert((process.to_owned(), host.to_owned()), now);
    }

    /// Log lines arrived: those matching a log rule are remembered for its window.
    pub fn observe_logs(&mut self, host: &str, lines: &[LogLine], now: DateTime<Utc>) {
        for rule in &self.rules {
            let Condition::Logs(condition) = &rule.condition else {
                continue;
            };
            for line in lines {
                let component = line.component.as_deref().unwrap_or("");
                let hit = line.level >= condition.min_level
                    && condition
                        .component
                        .as_ref()
                        .is_none_or(|re| re.is_match(component))
                    && condition
                        .pattern
                        .as_ref()
                        .is_none_or(|re| re.is_match(&line.message));
                if hit {
                    let times = self
                        .log_hits
                        .entry(rule.name.clone())
                        .or_default()
                        .entry((host.to_owned(), component.to_owned()))
                        .or_default();
                    if times.len() >= MAX_LOG_HITS.max(condition.count as usize) {
                        times.pop_front();
                    }
                    times.push_back(now);
                }
            }
        }
    }

    /// A notification of the trading system: fires an alert of its category at once (a repeat
    /// of the same category, title and labels updates the open alert), or resolves it when the
    /// notification says `resolved`.
    pub fn observe_notification(
        &mut self,
        notification: &Notification,
        host: Option<&str>,
        now: DateTime<Utc>,
    ) {
        let severity: Severity = notification.severity.parse().unwrap_or(Severity::Warning);
        let mut labels = notification.labels.clone();
        labels.insert("alertname".into(), notification.category.clone());
        labels.insert("category".into(), notification.category.clone());
        labels.insert("title".into(), notification.title.clone());
        if let Some(host) = host {
            labels.insert("host".into(), host.to_owned());
        }
        let fingerprint = fingerprint(NOTIFICATION_RULE, &labels);
        if notification.resolved {
            if let Some(mut alert) = self.open.remove(&fingerprint) {
                let kind = if alert.state == AlertState::Firing {
                    alert.state = AlertState::Resolved;
                    alert.resolved_at = Some(now);
                    AlertEventKind::Resolved
                } else {
                    alert.state = AlertState::Inactive;
                    AlertEventKind::Inactive
                };
                self.queued.push(Change {
                    kind,
                    time: now,
                    alert,
                });
            }
            return;
        }
        labels.insert("severity".into(), severity.as_str().to_owned());
        if let Some(alert) = self.open.get_mut(&fingerprint) {
            alert.value = Some(alert.value.unwrap_or(1.0) + 1.0);
            alert.last_active_at = now;
            alert
                .annotations
                .insert("description".into(), notification.message.clone());
            return;
        }
        let alert = Alert {
            id: Uuid::now_v7(),
            fingerprint: fingerprint.clone(),
            rule: NOTIFICATION_RULE.to_owned(),
            severity,
            category: notification.category.clone(),
            state: AlertState::Firing,
            labels,
            annotations: BTreeMap::from([
                ("summary".to_owned(), notification.title.clone()),
                ("description".to_owned(), notification.message.clone()),
            ]),
            value: Some(1.0),
            started_at: notification.time.unwrap_or(now).min(now),
            fired_at: Some(now),
            resolved_at: None,
            acknowledged_at: None,
            acknowledged_by: None,
            last_active_at: now,
        };
        self.open.insert(fingerprint, alert.clone());
        self.queued.push(Change {
            kind: AlertEventKind::Firing,
            time: now,
            alert,
        });
    }

    /// Evaluates every rule at `now`; returns the state changes in order.
    pub fn evaluate(&mut self, now: DateTime<Utc>) -> Vec<Change> {
        let mut changes = std::mem::take(&mut self.queued);
        let mut seen: HashSet<String> = HashSet::new();
        let rules = std::mem::take(&mut self.rules);
        for rule in &rules {
            for (labels, fingerprint, value, active) in self.instances(rule, now) {
                if active {
                    seen.insert(fingerprint.clone());
                }
                self.step(rule, fingerprint, labels, value, active, now, &mut changes);
            }
        }
        // Open alerts whose instance no longer exists: their condition is false.
        let orphans: Vec<String> = self
            .open
            .iter()
            .filter(|(fp, alert)| alert.rule != NOTIFICATION_RULE && !seen.contains(*fp))
            .map(|(fp, _)| fp.clone())
            .collect();
        for fp in orphans {
            let Some(alert) = self.open.get(&fp) else {
                continue;
            };
            let rule = rules.iter().find(|r| r.name == alert.rule);
            let keep = rule.map_or(Duration::zero(), |r| r.keep_firing_for);
            self.clear(&fp, keep, now, &mut changes);
        }
        // Notification alerts resolve by themselves after a quiet period.
        let quiet: Vec<String> = self
            .open
            .iter()
            .filter(|(_, a)| {
                a.rule == NOTIFICATION_RULE
                    && now - a.last_active_at >= self.notification_resolve_after
            })
            .map(|(fp, _)| fp.clone())
            .collect();
        for fp in quiet {
            self.clear(&fp, Duration::zero(), now, &mut changes);
        }
        self.rules = rules;
        self.prune(now);
        changes
    }

    /// The instances of a rule at `now`: labels, value, whether the condition holds.
    fn instances(
        &self,
        rule: &Rule,
        now: DateTime<Utc>,
    ) -> Vec<(Labels, String, Option<f64>, bool)> {
        let with_identity = |(labels, value, active): (Labels, Option<f64>, bool)| {
            let labels = alert_labels(rule, &labels);
            let fingerprint = fingerprint(&rule.name, &labels);
            (labels, fingerprint, value, active)
        };
        let instances: Vec<(Labels, Option<f64>, bool)> = match &rule.condition {
            Condition::Threshold(t) => {
                return self
                    .series
                    .get(&t.series)
                    .into_iter()
                    .flatten()
                    .filter(|(labels, (_, at))| {
                        now - *at <= t.stale_after && t.matchers.iter().all(|m| m.matches(labels))
                    })
                    .map(|(labels, (value, _))| {
                        let (labels, fp, _, _) = with_identity((labels.clone(), None, false));
                        let firing = self
                            .open
                            .get(&fp)
                            .is_some_and(|a| a.state == AlertState::Firing);
                        (labels, fp, Some(*value), t.active(*value, firing))
                    })
                    .collect();
            }
            Condition::Absent(absent) => {
                let (kind, name, hosts, after, last) = match absent {
                    Absent::Source {
                        source,
                        hosts,
                        after,
                    } => ("source", source, hosts, after, &self.samples),
                    Absent::Process {
                        process,
                        hosts,
                        after,
                    } => ("process", process, hosts, after, &self.heartbeats),
                };
                let mut candidates: BTreeMap<String, DateTime<Utc>> = last
                    .iter()
                    .filter(|((n, h), _)| n == name && (hosts.is_empty() || hosts.contains(h)))
                    .map(|((_, h), at)| (h.clone(), *at))
                    .collect();
                for host in hosts {
                    candidates.entry(host.clone()).or_insert(self.started_at);
                }
                candidates
                    .into_iter()
                    .map(|(host, at)| {
                        let silent = now - at;
                        let labels = BTreeMap::from([
                            ("host".to_owned(), host),
                            (kind.to_owned(), name.clone()),
                        ]);
                        (labels, Some(silent.num_seconds() as f64), silent > *after)
                    })
                    .collect()
            }
            Condition::Logs(condition) => {
                let mut counts: BTreeMap<(String, String), u32> = BTreeMap::new();
                for (key, times) in self.log_hits.get(&rule.name).into_iter().flatten() {
                    let count = times
                        .iter()
                        .rev()
                        .take_while(|at| now - **at <= condition.window)
                        .count() as u32;
                    if count > 0 {
                        counts.insert(key.clone(), count);
                    }
                }
                counts
                    .into_iter()
                    .map(|((host, component), count)| {
                        let labels = BTreeMap::from([
                            ("host".to_owned(), host),
                            ("component".to_owned(), component),
                        ]);
                        (labels, Some(f64::from(count)), count >= condition.count)
                    })
                    .collect()
            }
        };
        instances.into_iter().map(with_identity).collect()
    }

    /// Moves one instance's alert along the lifecycle.
    #[allow(clippy::too_many_arguments)]
    fn step(
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
    fn clear(
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

    /// Forgets log hits older than the longest window and series not seen for a day.
    fn prune(&mut self, now: DateTime<Utc>) {
        let windows: HashMap<&str, Duration> = self
            .rules
            .iter()
            .filter_map(|r| match &r.condition {
                Condition::Logs(c) => Some((r.name.as_str(), c.window)),
                _ => None,
            })
            .collect();
        self.log_hits.retain(|rule, keys| {
            let Some(window) = windows.get(rule.as_str()) else {
                return false;
            };
            keys.retain(|_, times| {
                while times.front().is_some_and(|at| now - *at > *window) {
                    times.pop_front();
                }
                !times.is_empty()
            });
            !keys.is_empty()
        });
        for instances in self.series.values_mut() {
            instances.retain(|_, (_, at)| now - *at <= Duration::days(1));
        }
        self.series.retain(|_, instances| !instances.is_empty());
    }
}

/// The labels an alert of `rule` gets for a series instance's `labels`.
fn alert_labels(rule: &Rule, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::compile;
    use exporter_protocol::logs::LogLevel;
    use exporter_settings::AlertRules;

    fn engine(yaml: &str) -> (Engine, DateTime<Utc>) {
        let rules = compile(&AlertRules::parse(yaml).unwrap()).unwrap();
        let t0 = "2026-11-25T03:00:00Z".parse().unwrap();
        (Engine::new(rules, t0, Duration::hours(1)), t0)
    }

    fn cpu(value: f64) -> Vec<SeriesPoint> {
        vec![SeriesPoint::plain("cpu.usage_percent", value)]
    }

    fn kinds(changes: &[Change]) -> Vec<&'static str> {
        changes.iter().map(|c| c.kind.as_str()).collect()
    }

    const CPU: &str = "rules:\n- name: HostCpuHigh\n  severity: warning\n  category: system\n  expr: cpu.usage_percent > 90\n  for: 5m\n  keep_firing_for: 2m\n  summary: 'CPU {{ value }}% on {{ labels.host }}'\n";

    #[test]
    fn for_holds_the_alert_back_until_the_condition_held_long_enough() {
        let (mut e, t0) = engine(CPU);
        let s = |m: i64| t0 + Duration::minutes(m);
        e.observe_sample("system", "gh200", &cpu(95.0), s(0));
        assert_eq!(kinds(&e.evaluate(s(0))), ["pending"]);
        for m in 1..5 {
            e.observe_sample("system", "gh200", &cpu(95.0), s(m));
            assert!(e.evaluate(s(m)).is_empty(), "minute {m}");
        }
        e.observe_sample("system", "gh200", &cpu(96.0), s(5));
        let changes = e.evaluate(s(5));
        assert_eq!(kinds(&changes), ["firing"]);
        let alert = &changes[0].alert;
        assert_eq!(alert.labels["host"], "gh200");
        assert_eq!(alert.labels["alertname"], "HostCpuHigh");
        assert_eq!(alert.annotations["summary"], "CPU 96% on gh200");
        assert_eq!(alert.started_at, s(0));
    }

    #[test]
    fn a_short_spike_goes_pending_then_inactive_and_is_never_firing() {
        let (mut e, t0) = engine(CPU);
        e.observe_sample("system", "gh200", &cpu(99.0), t0);
        assert_eq!(kinds(&e.evaluate(t0)), ["pending"]);
        let t1 = t0 + Duration::minutes(1);
        e.observe_sample("system", "gh200", &cpu(20.0), t1);
        assert_eq!(kinds(&e.evaluate(t1)), ["inactive"]);
        assert_eq!(e.open_alerts().count(), 0);
    }

    #[test]
    fn flapping_values_do_not_flap_the_alert() {
        let (mut e, t0) = engine(CPU);
        let mut all = Vec::new();
        // 10 minutes above, then 20 minutes alternating every 30 s above and below.
        for step in 0..60 {
            let now = t0 + Duration::seconds(30 * step);
            let value = if step < 20 || step % 2 == 0 {
                95.0
            } else {
                50.0
            };
            e.observe_sample("system", "gh200", &cpu(value), now);
            all.extend(e.evaluate(now));
        }
        assert_eq!(kinds(&all), ["pending", "firing"]);
        // Then it settles below: resolved once keep_firing_for passed.
        let mut later = Vec::new();
        for step in 60..70 {
            let now = t0 + Duration::seconds(30 * step);
            e.observe_sample("system", "gh200", &cpu(50.0), now);
            later.extend(e.evaluate(now));
        }
        assert_eq!(kinds(&later), ["resolved"]);
        assert_eq!(
            later[0].alert.id, all[1].alert.id,
            "same alert from pending to resolved"
        );
    }

    #[test]
    fn hysteresis_needs_the_value_back_below_the_resolve_threshold() {
        let yaml = "rules:\n- {name: Hot, severity: warning, category: hardware, expr: 'gpu.temperature_celsius > 85', resolve_threshold: 80}\n";
        let (mut e, t0) = engine(yaml);
        let temp = |v: f64| {
            vec![SeriesPoint::labelled(
                "gpu.temperature_celsius",
                "gpu",
                "0",
                v,
            )]
        };
        let mut all = Vec::new();
        for (i, v) in [86.0, 84.0, 82.0, 86.0, 81.0, 79.0].into_iter().enumerate() {
            let now = t0 + Duration::seconds(10 * i as i64);
            e.observe_sample("hardware", "gh200", &temp(v), now);
            all.extend(e.evaluate(now));
        }
        assert_eq!(kinds(&all), ["firing", "resolved"]);
        assert_eq!(all[1].alert.value, Some(79.0));
        assert_eq!(all[0].alert.labels["gpu"], "0");
    }

    #[test]
    fn firing_again_after_resolution_is_a_new_alert() {
        let yaml = "rules:\n- {name: Low, severity: info, category: system, expr: 'memory.used_percent > 90'}\n";
        let (mut e, t0) = engine(yaml);
        let mem = |v: f64| vec![SeriesPoint::plain("memory.used_percent", v)];
        let mut all = Vec::new();
        for (i, v) in [95.0, 50.0, 95.0].into_iter().enumerate() {
            let now = t0 + Duration::seconds(i as i64);
            e.observe_sample("system", "h", &mem(v), now);
            all.extend(e.evaluate(now));
        }
        assert_eq!(kinds(&all), ["firing", "resolved", "firing"]);
        assert_ne!(all[0].alert.id, all[2].alert.id);
        assert_eq!(all[0].alert.fingerprint, all[2].alert.fingerprint);
    }

    #[test]
    fn a_stale_series_stops_matching_and_its_alert_resolves() {
        let yaml = "rules:\n- {name: Xid, severity: critical, category: hardware, expr: 'gpu.xid > 0', stale_after: 1m, keep_firing_for: 5m}\n";
        let (mut e, t0) = engine(yaml);
        e.observe_sample(
            "hardware-event",
            "h",
            &[SeriesPoint::labelled("gpu.xid", "gpu", "0", 79.0)],
            t0,
        );
        assert_eq!(kinds(&e.evaluate(t0)), ["firing"]);
        assert!(
            e.evaluate(t0 + Duration::minutes(3)).is_empty(),
            "kept firing"
        );
        assert_eq!(kinds(&e.evaluate(t0 + Duration::minutes(6))), ["resolved"]);
    }

    #[test]
    fn absence_fires_when_a_source_goes_quiet_and_resolves_when_it_is_back() {
        let yaml = "rules:\n- {name: SystemAbsent, severity: critical, category: system, absent: {source: system, after: 30s}, summary: 'quiet {{ value }}s'}\n";
        let (mut e, t0) = engine(yaml);
        let s = |sec: i64| t0 + Duration::seconds(sec);
        for sec in (0..=20).step_by(5) {
            e.observe_sample("system", "gh200", &cpu(10.0), s(sec));
            assert!(e.evaluate(s(sec)).is_empty());
        }
        assert!(
            e.evaluate(s(45)).is_empty(),
            "25 s of silence is not absence yet"
        );
        let fired = e.evaluate(s(55));
        assert_eq!(kinds(&fired), ["firing"]);
        assert_eq!(fired[0].alert.labels["source"], "system");
        assert_eq!(fired[0].alert.annotations["summary"], "quiet 35s");
        assert!(e.evaluate(s(120)).is_empty());
        e.observe_sample("system", "gh200", &cpu(10.0), s(125));
        let back = e.evaluate(s(125));
        assert_eq!(kinds(&back), ["resolved"]);
        assert_eq!(back[0].alert.id, fired[0].alert.id);
    }

    #[test]
    fn heartbeat_absence_and_configured_hosts_never_seen() {
        let yaml = "rules:\n- {name: ApiAbsent, severity: critical, category: system, absent: {process: api, after: 10s, hosts: [gh200]}}\n";
        let (mut e, t0) = engine(yaml);
        assert!(e.evaluate(t0 + Duration::seconds(5)).is_empty());
        assert_eq!(kinds(&e.evaluate(t0 + Duration::seconds(11))), ["firing"]);
        e.observe_heartbeat("api", "gh200", t0 + Duration::seconds(12));
        assert_eq!(kinds(&e.evaluate(t0 + Duration::seconds(12))), ["resolved"]);
    }

    fn line(level: LogLevel, component: &str, message: &str) -> LogLine {
        LogLine {
            time: Utc::now(),
            level,
            component: Some(component.into()),
            message: message.into(),
            fields: Default::default(),
            source: "/var/log/x.log".into(),
            offset: None,
            truncated: false,
        }
    }

    #[test]
    fn log_rules_count_lines_per_component_within_the_window() {
        let yaml = "rules:\n- {name: Errors, severity: warning, category: logs, logs: {min_level: error, count: 3, window: 1m}}\n- {name: Halt, severity: critical, category: logs, logs: {min_level: info, pattern: 'strategy .* halted', count: 1, window: 5m}}\n";
        let (mut e, t0) = engine(yaml);
        let lines = [
            line(LogLevel::Error, "engine", "order failed"),
            line(LogLevel::Warning, "engine", "slow"),
            line(LogLevel::Critical, "engine", "broker down"),
            line(LogLevel::Error, "risk", "limit"),
        ];
        e.observe_logs("gh200", &lines, t0);
        assert!(e.evaluate(t0).is_empty(), "2 engine errors < 3");
        e.observe_logs(
            "gh200",
            &[line(LogLevel::Error, "engine", "again")],
            t0 + Duration::seconds(10),
        );
        let fired = e.evaluate(t0 + Duration::seconds(10));
        assert_eq!(kinds(&fired), ["firing"]);
        assert_eq!(fired[0].alert.labels["component"], "engine");
        assert_eq!(fired[0].alert.value, Some(3.0));
        e.observe_logs(
            "gh200",
            &[line(
                LogLevel::Info,
                "strategy",
                "strategy momo halted by risk",
            )],
            t0 + Duration::seconds(20),
        );
        assert_eq!(kinds(&e.evaluate(t0 + Duration::seconds(20))), ["firing"]);
        // The window slides past the first errors: resolved.
        let later = e.evaluate(t0 + Duration::seconds(75));
        assert_eq!(kinds(&later), ["resolved"]);
        assert_eq!(later[0].alert.rule, "Errors");
    }

    #[test]
    fn notifications_fire_at_once_repeat_into_one_alert_and_resolve() {
        let (mut e, t0) = engine("rules: []\n");
        let n = Notification {
            time: None,
            severity: "error".into(),
            category: "order_rejected".into(),
            title: "AAPL buy rejected".into(),
            message: "insufficient buying power".into(),
            labels: BTreeMap::from([("strategy".into(), "momo".into())]),
            resolved: false,
        };
        e.observe_notification(&n, Some("gh200"), t0);
        e.observe_notification(&n, Some("gh200"), t0 + Duration::seconds(1));
        let fired = e.evaluate(t0 + Duration::seconds(1));
        assert_eq!(kinds(&fired), ["firing"]);
        let alert = &fired[0].alert;
        assert_eq!(alert.category, "order_rejected");
        assert_eq!(alert.severity, Severity::Critical);
        assert_eq!(alert.labels["strategy"], "momo");
        assert_eq!(e.open_alerts().next().unwrap().value, Some(2.0));
        let done = Notification {
            resolved: true,
            ..n.clone()
        };
        e.observe_notification(&done, Some("gh200"), t0 + Duration::seconds(2));
        assert_eq!(kinds(&e.evaluate(t0 + Duration::seconds(2))), ["resolved"]);
        // Unresolved ones resolve after the quiet period.
        e.observe_notification(&n, Some("gh200"), t0 + Duration::seconds(3));
        assert_eq!(kinds(&e.evaluate(t0 + Duration::seconds(3))), ["firing"]);
        assert!(e.evaluate(t0 + Duration::minutes(30)).is_empty());
        assert_eq!(kinds(&e.evaluate(t0 + Duration::minutes(61))), ["resolved"]);
    }

    #[test]
    fn drawdown_is_derived_from_the_equity_peak() {
        let yaml = "rules:\n- {name: Drawdown, severity: critical, category: trading, expr: 'portfolio.drawdown_percent > 10'}\n";
        let (mut e, t0) = engine(yaml);
        e.seed_equity_peak("h", 100_000.0);
        let eq = |v: f64| vec![SeriesPoint::plain("portfolio.equity", v)];
        e.observe_sample("portfolio", "h", &eq(95_000.0), t0);
        assert!(e.evaluate(t0).is_empty());
        e.observe_sample("portfolio", "h", &eq(89_000.0), t0 + Duration::seconds(1));
        let fired = e.evaluate(t0 + Duration::seconds(1));
        assert_eq!(kinds(&fired), ["firing"]);
        assert!((fired[0].alert.value.unwrap() - 11.0).abs() < 1e-9);
    }

    #[test]
    fn a_restart_neither_resolves_nor_refires_what_still_holds() {
        let yaml = "rules:\n- {name: ApiAbsent, severity: critical, category: system, absent: {process: api, after: 10s}}\n- {name: Full, severity: critical, category: system, expr: 'filesystem.used_percent > 97', stale_after: 2m}\n";
        let (mut before, t0) = engine(yaml);
        before.observe_heartbeat("api", "h", t0);
        let disk = vec![SeriesPoint::labelled(
            "filesystem.used_percent",
            "mount_point",
            "/",
            99.0,
        )];
        before.observe_sample("system", "h", &disk, t0);
        let fired = before.evaluate(t0 + Duration::seconds(20));
        assert_eq!(kinds(&fired), ["firing", "firing"]);

        // The aggregator restarts 30 s later with the stored open alerts.
        let restart = t0 + Duration::seconds(50);
        let rules = compile(&AlertRules::parse(yaml).unwrap()).unwrap();
        let mut after = Engine::new(rules, restart, Duration::hours(1));
        after.restore(before.open_alerts().cloned().collect());
        assert!(
            after.evaluate(restart).is_empty(),
            "nothing resolves at the first evaluation"
        );
        after.observe_sample("system", "h", &disk, restart + Duration::seconds(5));
        assert!(after.evaluate(restart + Duration::seconds(5)).is_empty());
        // The API is still silent and the disk still full: both keep firing, same ids.
        after.observe_sample("system", "h", &disk, restart + Duration::minutes(5));
        assert!(after.evaluate(restart + Duration::minutes(5)).is_empty());
        let open: Vec<Uuid> = after.open_alerts().map(|a| a.id).collect();
        assert_eq!(open.len(), 2);
        assert!(fired.iter().all(|c| open.contains(&c.alert.id)));
        // The API comes back: resolved.
        after.observe_heartbeat("api", "h", restart + Duration::minutes(6));
        let back = after.evaluate(restart + Duration::minutes(6));
        assert_eq!(kinds(&back), ["resolved"]);
        assert_eq!(back[0].alert.rule, "ApiAbsent");
    }

    #[test]
    fn restored_alerts_keep_their_ids_and_removed_rules_resolve() {
        let (mut e, t0) = engine(CPU);
        e.observe_sample("system", "gh200", &cpu(99.0), t0);
        let first = e.evaluate(t0);
        let mut again = engine(CPU).0;
        again.restore(e.open_alerts().cloned().collect());
        again.observe_sample("system", "gh200", &cpu(99.0), t0 + Duration::minutes(6));
        let fired = again.evaluate(t0 + Duration::minutes(6));
        assert_eq!(kinds(&fired), ["firing"]);
        assert_eq!(fired[0].alert.id, first[0].alert.id);
        again.set_rules(Vec::new());
        let gone = again.evaluate(t0 + Duration::minutes(7));
        assert_eq!(kinds(&gone), ["resolved"]);
    }
}
