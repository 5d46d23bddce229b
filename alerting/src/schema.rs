//! `settings/alerts.yaml`: alert rules, how notifications are grouped, and where they go.
//!
//! Kept apart from `system.yaml` because it changes more often (the aggregator reloads it on
//! SIGHUP or when the file changes) and because operators copy rule files between machines.
//! No secret belongs in this file: receivers name an environment variable or a 0600 file.
//!
//! Reading is two steps. Serde reads the file's shape into private mirror types (unknown keys
//! and bad values are refused with the key path, e.g. `rules[3].for`); then [`AlertRules::parse`]
//! turns each rule into the typed [`RuleSettings`], whose [`Condition`] is an enum: "exactly one
//! of `expr`, `absent`, `logs`" (and "exactly one of `source`, `process`") is the type itself,
//! checked once here with the rule's key in the message. Compiling a rule's expression, regexes
//! and templates is [`crate::rules`]; [`crate::load`] runs both for the aggregator and for
//! `exporter check`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use exporter_protocol::alert::Severity;
use exporter_settings::SettingsError;
use serde::Deserialize;

/// Categories a rule may have.
pub const CATEGORIES: &[&str] = &["system", "hardware", "trading", "market", "logs"];

/// The whole rules file, checked.
#[derive(Debug, Clone, Default)]
pub struct AlertRules {
    pub route: RouteSettings,
    pub receivers: Vec<ReceiverSettings>,
    pub rules: Vec<RuleSettings>,
}

/// Grouping and repetition, as in Alertmanager's route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteSettings {
    /// Labels whose values make a group; alerts of one group go out in one message.
    pub group_by: Vec<String>,
    /// How long a new group waits for more alerts before its first message.
    #[serde(deserialize_with = "exporter_settings::duration::deserialize_duration")]
    pub group_wait: Duration,
    /// How long a group waits before a message about new or changed alerts.
    #[serde(deserialize_with = "exporter_settings::duration::deserialize_duration")]
    pub group_interval: Duration,
    /// How often a firing, unacknowledged, unsilenced alert is sent again.
    #[serde(deserialize_with = "exporter_settings::duration::deserialize_duration")]
    pub repeat_interval: Duration,
}

impl Default for RouteSettings {
    fn default() -> Self {
        Self {
            group_by: vec!["alertname".into(), "host".into()],
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
        }
    }
}

/// Kind of a receiver; each has its module in [`crate::receivers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiverType {
    /// Alertmanager-compatible webhook JSON (version 4).
    Webhook,
    /// Slack incoming webhook (also Mattermost, Rocket.Chat, Discord's /slack endpoint).
    Slack,
    /// ntfy.sh or a self-hosted ntfy server: phone push.
    Ntfy,
    /// Telegram bot `sendMessage`.
    Telegram,
}

/// Where notifications go. Secrets (a Slack URL, a bot token) come from `*_env` (the name of an
/// environment variable) or `*_file` (a file with mode 0600), never from this file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverSettings {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ReceiverType,
    /// Webhook/Slack URL, ntfy server (default `https://ntfy.sh`), Telegram API base (default
    /// `https://api.telegram.org`). A URL that holds a secret belongs in `url_env` or `url_file`.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub url_env: Option<String>,
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// ntfy topic.
    #[serde(default)]
    pub topic: Option<String>,
    /// Telegram chat id.
    #[serde(default)]
    pub chat_id: Option<String>,
    /// Bearer token (ntfy access token, webhook), or the Telegram bot token.
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Send a message when an alert resolves (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// Alerts below this severity are not sent here.
    #[serde(default = "info")]
    pub min_severity: Severity,
    /// Only alerts of these categories (empty: all).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Seconds one delivery attempt may take.
    #[serde(default = "ten")]
    pub timeout_seconds: u64,
    /// Attempts before a message is given up (logged in the delivery log as failed).
    #[serde(default = "five")]
    pub max_attempts: u32,
    /// Also receives the always-firing `Watchdog` alert every
    /// `aggregator.deadman_interval_seconds` while ingest and alert evaluation are healthy, for
    /// an outside dead-man's service that pages when it stops coming (webhook receivers only;
    /// default false). See `crate::dispatch::watchdog`.
    #[serde(default)]
    pub watchdog: bool,
}

/// One alert rule.
#[derive(Debug, Clone)]
pub struct RuleSettings {
    /// Unique; becomes the `alertname` label.
    pub name: String,
    pub enabled: bool,
    pub severity: Severity,
    /// system, hardware, trading, market or logs.
    pub category: String,
    /// What the rule watches: one kind per rule.
    pub condition: Condition,
    /// How long the condition must hold before the alert fires (`for`; pending until then).
    pub for_duration: Duration,
    /// How long a firing alert keeps firing after the condition cleared (against flapping).
    pub keep_firing_for: Duration,
    /// Labels added to every alert of this rule.
    pub labels: BTreeMap<String, String>,
    /// Templates: `{{ value }}`, `{{ labels.host }}`, `{{ rule }}`, `{{ severity }}`.
    pub summary: String,
    pub description: String,
    /// When the market must be open for the rule to fire (`active_during`, default `always`).
    pub active_during: ActiveDuring,
}

/// `active_during:` when a rule may fire, by the exchange calendar: a rule about quotes or
/// fills should not fire on a closed market. Outside it, the rule's condition counts as false
/// (a firing alert resolves as when its condition clears). While the calendar is unknown (no
/// broker keys, or not fetched yet) the rule behaves as `always`; `exporter check` lists such
/// rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActiveDuring {
    /// Only during the regular session (09:30 to the close, New York time, on a trading day).
    RegularSession,
    /// During the pre-market, regular and after-hours sessions.
    ExtendedHours,
    /// Whatever the market does (the default).
    #[default]
    Always,
}

/// The kind of a rule, from the key that holds its condition (`expr`, `absent` or `logs`). A new
/// rule kind is a variant here, and the compiler points at every place that must handle it.
#[derive(Debug, Clone)]
pub enum Condition {
    /// `expr:` a threshold on a numeric series.
    Threshold(ThresholdSettings),
    /// `absent:` nothing arrived from a source or a process.
    Absent(AbsentSettings),
    /// `logs:` enough matching log lines within a window.
    Logs(LogRuleSettings),
}

impl Condition {
    /// The key that holds this condition in the file.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Threshold(_) => "expr",
            Self::Absent(_) => "absent",
            Self::Logs(_) => "logs",
        }
    }
}

/// Threshold on a numeric series with label matchers, PromQL-like:
/// `gpu.temperature_celsius{gpu="0"} > 85`, `filesystem.used_percent{mount=~"/data.*"} >= 90`.
#[derive(Debug, Clone)]
pub struct ThresholdSettings {
    pub expr: String,
    /// A firing alert resolves only once the value is back beyond this (hysteresis; below it
    /// for `>`/`>=`, above it for `<`/`<=`).
    pub resolve_threshold: Option<f64>,
    /// A series not reported for this long no longer matches.
    pub stale_after: Duration,
}

/// Fires when nothing arrived from a source for `after`.
#[derive(Debug, Clone)]
pub struct AbsentSettings {
    /// Whose silence counts (in the file: exactly one of `source`, `process`).
    pub of: AbsentOf,
    /// Only these hosts (exact names; empty: every host seen).
    pub hosts: Vec<String>,
    /// Silence longer than this is absence.
    pub after: Duration,
}

/// What an absence rule expects to hear from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbsentOf {
    /// `source:` a collector kind whose samples are expected (`system`, `hardware`, ...).
    Source(String),
    /// `process:` a process whose heartbeats are expected (`aggregator`, `api`, ...).
    Process(String),
}

/// Fires when at least `count` lines at `min_level` or above (from a component, matching a
/// pattern) arrived within `window`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogRuleSettings {
    #[serde(default = "error_level")]
    pub min_level: String,
    /// Regular expression on the component (absent: every component).
    #[serde(default)]
    pub component: Option<String>,
    /// Regular expression on the message (absent: every message).
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(deserialize_with = "exporter_settings::duration::deserialize_duration")]
    pub window: Duration,
}

fn yes() -> bool {
    true
}
fn info() -> Severity {
    Severity::Info
}
fn ten() -> u64 {
    10
}
fn five() -> u32 {
    5
}
fn five_minutes() -> Duration {
    Duration::from_secs(300)
}
fn error_level() -> String {
    "error".into()
}
fn one() -> u32 {
    1
}

/// The file as written: the shape serde checks, before the rules are typed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawFile {
    route: RouteSettings,
    receivers: Vec<ReceiverSettings>,
    rules: Vec<RawRule>,
}

/// A rule as written: one of `expr`, `absent`, `logs`, and the keys that go with them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(default = "yes")]
    enabled: bool,
    severity: Severity,
    category: String,
    #[serde(default)]
    expr: Option<String>,
    #[serde(default)]
    resolve_threshold: Option<f64>,
    #[serde(
        default = "five_minutes",
        deserialize_with = "exporter_settings::duration::deserialize_duration"
    )]
    stale_after: Duration,
    #[serde(default)]
    absent: Option<RawAbsent>,
    #[serde(default)]
    logs: Option<LogRuleSettings>,
    #[serde(
        default,
        rename = "for",
        deserialize_with = "exporter_settings::duration::deserialize_duration"
    )]
    for_duration: Duration,
    #[serde(
        default,
        deserialize_with = "exporter_settings::duration::deserialize_duration"
    )]
    keep_firing_for: Duration,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    active_during: ActiveDuring,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAbsent {
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    process: Option<String>,
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(deserialize_with = "exporter_settings::duration::deserialize_duration")]
    after: Duration,
}

/// A mistake: the key path (`rules[0].expr`) and what is wrong.
type Mistake = (String, String);

impl AlertRules {
    /// Reads and parses `path`; errors name the key path (`rules[3].for`).
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|(key, message)| SettingsError::Parse {
            path: path.to_owned(),
            key,
            message,
        })
    }

    /// Parses YAML text and checks the shape: unique rule and receiver names, one condition per
    /// rule, known categories, receiver fields their type needs.
    pub fn parse(text: &str) -> Result<Self, Mistake> {
        let deserializer = serde_yaml::Deserializer::from_str(text);
        let raw: RawFile = serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let key = err.path().to_string();
            (key, err.into_inner().to_string())
        })?;
        let mut names = HashSet::new();
        let rules = raw
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, rule)| {
                let key = |field: &str| format!("rules[{i}].{field}");
                if rule.name.trim().is_empty() {
                    return Err((key("name"), "must not be empty".to_owned()));
                }
                if !names.insert(rule.name.clone()) {
                    return Err((key("name"), format!("`{}` is used twice", rule.name)));
                }
                rule.typed()
                    .map_err(|(field, message)| (key(field), message))
            })
            .collect::<Result<Vec<_>, _>>()?;
        check_receivers(&raw.receivers)?;
        if raw.route.group_interval.is_zero() || raw.route.repeat_interval.is_zero() {
            return Err((
                "route.group_interval".into(),
                "group_interval and repeat_interval must be more than 0s".into(),
            ));
        }
        Ok(Self {
            route: raw.route,
            receivers: raw.receivers,
            rules,
        })
    }
}

impl RawRule {
    /// The typed rule, or the field (under `rules[i].`) that is wrong and why.
    fn typed(self) -> Result<RuleSettings, (&'static str, String)> {
        let fail = |field: &'static str, message: &str| Err((field, message.to_owned()));
        let given = [
            self.expr.is_some(),
            self.absent.is_some(),
            self.logs.is_some(),
        ];
        if given.iter().filter(|given| **given).count() != 1 {
            return fail("expr", "a rule needs exactly one of expr, absent, logs");
        }
        if !CATEGORIES.contains(&self.category.as_str()) {
            return Err((
                "category",
                format!(
                    "`{}` is not one of {}",
                    self.category,
                    CATEGORIES.join(", ")
                ),
            ));
        }
        let condition = match (self.expr, self.absent, self.logs) {
            (Some(expr), None, None) => Condition::Threshold(ThresholdSettings {
                expr,
                resolve_threshold: self.resolve_threshold,
                stale_after: self.stale_after,
            }),
            (None, Some(absent), None) => {
                let of = match (absent.source, absent.process) {
                    (Some(source), None) => AbsentOf::Source(source),
                    (None, Some(process)) => AbsentOf::Process(process),
                    _ => return fail("absent", "needs exactly one of source, process"),
                };
                if absent.after.is_zero() {
                    return fail("absent.after", "must be more than 0s");
                }
                Condition::Absent(AbsentSettings {
                    of,
                    hosts: absent.hosts,
                    after: absent.after,
                })
            }
            (None, None, Some(logs)) => {
                if logs.window.is_zero() {
                    return fail("logs.window", "must be more than 0s");
                }
                if logs.count == 0 {
                    return fail("logs.count", "must be at least 1");
                }
                Condition::Logs(logs)
            }
            _ => return fail("expr", "a rule needs exactly one of expr, absent, logs"),
        };
        if self.resolve_threshold.is_some() && !matches!(condition, Condition::Threshold(_)) {
            return fail("resolve_threshold", "only applies to expr rules");
        }
        Ok(RuleSettings {
            name: self.name,
            enabled: self.enabled,
            severity: self.severity,
            category: self.category,
            condition,
            for_duration: self.for_duration,
            keep_firing_for: self.keep_firing_for,
            labels: self.labels,
            summary: self.summary,
            description: self.description,
            active_during: self.active_during,
        })
    }
}

/// Unique names, and the fields each receiver type needs; no credentials in a plain `url`.
fn check_receivers(receivers: &[ReceiverSettings]) -> Result<(), Mistake> {
    let mut names = HashSet::new();
    for (i, receiver) in receivers.iter().enumerate() {
        let fail = |field: &str, message: &str| {
            Err((format!("receivers[{i}].{field}"), message.to_owned()))
        };
        if !names.insert(receiver.name.as_str()) {
            return fail("name", &format!("`{}` is used twice", receiver.name));
        }
        let has_url =
            receiver.url.is_some() || receiver.url_env.is_some() || receiver.url_file.is_some();
        let has_token = receiver.token_env.is_some() || receiver.token_file.is_some();
        match receiver.kind {
            ReceiverType::Webhook | ReceiverType::Slack if !has_url => {
                return fail("url", "needs url, url_env or url_file");
            }
            ReceiverType::Ntfy if receiver.topic.is_none() => {
                return fail("topic", "an ntfy receiver needs a topic");
            }
            ReceiverType::Telegram if receiver.chat_id.is_none() || !has_token => {
                return fail(
                    "chat_id",
                    "a telegram receiver needs chat_id and token_env or token_file",
                );
            }
            _ => {}
        }
        if receiver.kind == ReceiverType::Slack && receiver.url.is_some() {
            return fail(
                "url",
                "a Slack webhook URL is a secret: put it in url_env or url_file",
            );
        }
        if let Some(url) = &receiver.url
            && exporter_settings::url_authority(url).is_some_and(|a| a.contains('@'))
        {
            return fail(
                "url",
                "must not hold credentials: put a URL with a secret in url_env or url_file",
            );
        }
        if !(1..=20).contains(&receiver.max_attempts) {
            return fail("max_attempts", "must be 1 to 20");
        }
        if !(1..=120).contains(&receiver.timeout_seconds) {
            return fail("timeout_seconds", "must be 1 to 120");
        }
        if receiver.watchdog && receiver.kind != ReceiverType::Webhook {
            return fail(
                "watchdog",
                "only a webhook receiver takes the Watchdog: it comes every minute, for a dead-man's service (healthchecks.io, Uptime Kuma, an Alertmanager-style heartbeat), not a chat or a phone",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_rules_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../settings/alerts.yaml");
        let rules = AlertRules::load(&path).unwrap();
        assert!(rules.rules.len() >= 8, "{}", rules.rules.len());
    }

    #[test]
    fn mistakes_name_the_rule_and_key() {
        let two = "rules:\n- {name: a, severity: info, category: system, expr: 'x > 1', absent: {source: system, after: 5s}}\n";
        let (key, message) = AlertRules::parse(two).unwrap_err();
        assert_eq!(key, "rules[0].expr");
        assert!(message.contains("exactly one"), "{message}");
        let bad_for = "rules:\n- {name: a, severity: info, category: system, expr: 'x > 1', for: 5 minutes}\n";
        let (key, _) = AlertRules::parse(bad_for).unwrap_err();
        assert!(key.starts_with("rules[0]"), "{key}");
        let leak = "receivers:\n- {name: r, type: webhook, url: 'https://u:p@example.com/x'}\n";
        let (key, message) = AlertRules::parse(leak).unwrap_err();
        assert_eq!(key, "receivers[0].url");
        assert!(message.contains("url_env"), "{message}");
        let slack =
            "receivers:\n- {name: s, type: slack, url: 'https://hooks.example.com/services/x'}\n";
        let (key, message) = AlertRules::parse(slack).unwrap_err();
        assert_eq!(key, "receivers[0].url");
        assert!(message.contains("secret"), "{message}");
        let category = "rules:\n- {name: a, severity: info, category: weather, expr: 'x > 1'}\n";
        assert!(
            AlertRules::parse(category)
                .unwrap_err()
                .1
                .contains("weather")
        );
    }

    #[test]
    fn only_a_webhook_takes_the_watchdog_and_the_key_is_a_boolean() {
        let hook = "receivers:\n- {name: dms, type: webhook, url: 'http://127.0.0.1:1/x', watchdog: true}\n";
        let parsed = AlertRules::parse(hook).unwrap();
        assert!(parsed.receivers[0].watchdog);
        let plain = "receivers:\n- {name: p, type: webhook, url: 'http://127.0.0.1:1/x'}\n";
        assert!(!AlertRules::parse(plain).unwrap().receivers[0].watchdog);
        let chat = "receivers:\n- {name: s, type: ntfy, topic: t, watchdog: true}\n";
        let (key, message) = AlertRules::parse(chat).unwrap_err();
        assert_eq!(key, "receivers[0].watchdog");
        assert!(message.contains("webhook"), "{message}");
        let word = "receivers:\n- {name: dms, type: webhook, url: 'http://127.0.0.1:1/x', watchdog: often}\n";
        let (key, message) = AlertRules::parse(word).unwrap_err();
        assert!(
            key.contains("receivers[0]") && message.contains("bool"),
            "{key}: {message}"
        );
    }

    #[test]
    fn each_key_becomes_its_kind_and_misplaced_keys_are_named() {
        let text = "rules:\n\
            - {name: t, severity: info, category: system, expr: 'x > 1', resolve_threshold: 0.5, stale_after: 1m}\n\
            - {name: a, severity: info, category: system, absent: {process: api, after: 10s, hosts: [h]}}\n\
            - {name: l, severity: info, category: logs, logs: {window: 1m}}\n";
        let rules = AlertRules::parse(text).unwrap().rules;
        let keys: Vec<&str> = rules.iter().map(|r| r.condition.key()).collect();
        assert_eq!(keys, ["expr", "absent", "logs"]);
        let Condition::Threshold(t) = &rules[0].condition else {
            panic!("{:?}", rules[0].condition)
        };
        assert_eq!(
            (t.resolve_threshold, t.stale_after),
            (Some(0.5), Duration::from_secs(60))
        );
        let Condition::Absent(a) = &rules[1].condition else {
            panic!("{:?}", rules[1].condition)
        };
        assert_eq!(a.of, AbsentOf::Process("api".into()));
        let Condition::Logs(l) = &rules[2].condition else {
            panic!("{:?}", rules[2].condition)
        };
        assert_eq!((l.min_level.as_str(), l.count), ("error", 1));

        let none = "rules:\n- {name: a, severity: info, category: system}\n";
        assert_eq!(AlertRules::parse(none).unwrap_err().0, "rules[0].expr");
        let both = "rules:\n- {name: a, severity: info, category: system, absent: {source: s, process: p, after: 5s}}\n";
        assert_eq!(AlertRules::parse(both).unwrap_err().0, "rules[0].absent");
        let misplaced = "rules:\n- {name: a, severity: info, category: logs, logs: {window: 1m}, resolve_threshold: 1}\n";
        assert_eq!(
            AlertRules::parse(misplaced).unwrap_err().0,
            "rules[0].resolve_threshold"
        );
        let twice = "rules:\n- {name: a, severity: info, category: system, expr: 'x > 1'}\n- {name: a, severity: info, category: system, expr: 'x > 2'}\n";
        assert_eq!(AlertRules::parse(twice).unwrap_err().0, "rules[1].name");
        let unknown =
            "rules:\n- {name: a, severity: info, category: system, expr: 'x > 1', summery: x}\n";
        assert!(
            AlertRules::parse(unknown)
                .unwrap_err()
                .1
                .contains("summery")
        );
    }
}
