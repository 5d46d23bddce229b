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
//!
//! This file holds the engine's state and what it observes; `evaluate.rs` finds each rule's
//! instances and whether their condition holds; `lifecycle.rs` moves one alert along the states
//! above and gives it its labels and fingerprint.

mod evaluate;
mod lifecycle;

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use exporter_protocol::SeriesPoint;
use exporter_protocol::alert::{Alert, AlertEventKind, AlertState, Notification, Severity};
use exporter_protocol::logs::LogLine;
use uuid::Uuid;

pub use lifecycle::fingerprint;

use crate::rules::{Absent, Condition, Rule};

/// Rule name of alerts raised by the trading system's notifications.
pub const NOTIFICATION_RULE: &str = "notification";

/// The portfolio collector's equity series, from which [`DRAWDOWN_SERIES`] is derived.
pub const EQUITY_SERIES: &str = exporter_protocol::brokerage::PORTFOLIO_EQUITY.name;
/// Derived: percent below the highest equity recorded (`exporter_trading::drawdown_percent`).
pub const DRAWDOWN_SERIES: &str = exporter_protocol::brokerage::PORTFOLIO_DRAWDOWN_PERCENT.name;
/// Derived by the runner: realised P&L of today's trading day
/// (`exporter_trading::realised_pnl_on`), observed with [`Engine::observe_value`].
pub const REALISED_PNL_TODAY_SERIES: &str =
    exporter_protocol::brokerage::TRADING_REALIZED_PNL_TODAY.name;

/// The market collector's last price per symbol, whose age [`QUOTE_AGE_SERIES`] is.
pub const QUOTE_PRICE_SERIES: &str = exporter_protocol::market::MARKET_PRICE.name;
/// Derived at each evaluation: seconds since each symbol's last quote arrived
/// ([`Engine::derive_quote_ages`]).
pub const QUOTE_AGE_SERIES: &str = "market.quote_age_seconds";
/// Derived by the runner: symbols whose position the trading system reports differently from
/// the broker (while both are fresh).
pub const POSITIONS_MISMATCHED_SERIES: &str = "trading.positions_mismatched";
/// Derived by the runner while the trading system is up: seconds since the last fill, or since
/// today's regular open when that is later.
pub const SECONDS_SINCE_FILL_SERIES: &str = "trading.seconds_since_fill";
/// Derived by the runner: today's realised P&L in percent of the previous close's equity.
pub const PNL_TODAY_PERCENT_SERIES: &str = "trading.pnl_today_percent";

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
    /// The exchange calendar, for rules with `active_during`; `None` while unknown.
    market: Option<exporter_trading::MarketCalendar>,
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
            market: None,
        }
    }

    /// Sets the exchange calendar that `active_during` is judged by (`None`: unknown, every
    /// rule behaves as `always`).
    pub fn set_market_calendar(&mut self, calendar: Option<exporter_trading::MarketCalendar>) {
        self.market = calendar;
    }

    /// Whether a rule with `active_during` may fire at `now`: always when the calendar is
    /// unknown or does not cover `now`.
    pub fn market_allows(
        &self,
        active_during: crate::schema::ActiveDuring,
        now: DateTime<Utc>,
    ) -> bool {
        use crate::schema::ActiveDuring;
        use exporter_trading::Session;
        let Some(session) = self.market.as_ref().and_then(|m| m.session_at(now)) else {
            return true;
        };
        match active_during {
            ActiveDuring::Always => true,
            ActiveDuring::RegularSession => session == Session::Regular,
            ActiveDuring::ExtendedHours => session.is_extended_or_regular(),
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
    /// back). Returns the alert when its acknowledgement changed; `None` when no open alert has
    /// this id or nothing changed.
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
            if point.name == EQUITY_SERIES && point.value > 0.0 {
                let peak = self
                    .equity_peaks
                    .entry(host.to_owned())
                    .or_insert(point.value);
                *peak = peak.max(point.value);
                if let Some(drawdown) = exporter_trading::drawdown_percent(*peak, point.value) {
                    self.observe_value(DRAWDOWN_SERIES, &point.labels, host, drawdown, now);
                }
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

    /// Sets [`QUOTE_AGE_SERIES`] of every symbol with a quote: `now` minus its last arrival.
    /// Re-derived at every evaluation, so a quote that stopped coming keeps ageing (the price
    /// series itself goes stale and matches nothing).
    pub fn derive_quote_ages(&mut self, now: DateTime<Utc>) {
        let ages: HashMap<Labels, (f64, DateTime<Utc>)> = self
            .series
            .get(QUOTE_PRICE_SERIES)
            .into_iter()
            .flatten()
            .map(|(labels, (_, at))| {
                let age = (now - *at).num_milliseconds() as f64 / 1000.0;
                (labels.clone(), (age.max(0.0), now))
            })
            .collect();
        if !ages.is_empty() {
            self.series.insert(QUOTE_AGE_SERIES.to_owned(), ages);
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
}

#[cfg(test)]
mod tests;
