//! Evaluation: which instances each rule has at `now` (series values, silences, log counts)
//! and whether its condition holds; then each instance is moved along the lifecycle.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use exporter_protocol::alert::AlertState;

use super::lifecycle::{alert_labels, fingerprint};
use super::{Change, Engine, Labels, NOTIFICATION_RULE};
use crate::rules::{Absent, Condition, Rule};

impl Engine {
    /// Evaluates every rule at `now`; returns the state changes in order.
    pub fn evaluate(&mut self, now: DateTime<Utc>) -> Vec<Change> {
        let mut changes = std::mem::take(&mut self.queued);
        let mut seen: HashSet<String> = HashSet::new();
        let rules = std::mem::take(&mut self.rules);
        for rule in &rules {
            // Outside the sessions the rule is active in, its condition counts as false.
            let market_open = self.market_allows(rule.active_during, now);
            for (labels, fingerprint, value, active) in self.instances(rule, now) {
                let active = active && market_open;
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
