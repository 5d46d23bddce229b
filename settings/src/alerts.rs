//! `settings/alerts.yaml`: alert rules, how notifications are grouped, and where they go.
//!
//! Kept apart from `system.yaml` because it changes more often (the aggregator reloads it on
//! SIGHUP or when the file changes) and because operators copy rule files between machines.
//! Types and shape checks live here; compiling a rule (its expression, regexes, templates) is
//! the aggregator's job (`exporter_aggregator::alerts::rules`), and `exporter check` runs both.
//! No secret belongs in this file: receivers name an environment variable or a 0600 file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use exporter_protocol::alert::Severity;
use serde::{Deserialize, Deserializer};

use crate::SettingsError;

/// Default rules file: beside `system.yaml` (a relative path is resolved against the settings
/// file's directory, as Prometheus does for `rule_files`).
pub const DEFAULT_RULES_PATH: &str = "alerts.yaml";

/// The `alerts:` section of `system.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsSettings {
    /// Evaluate rules in this aggregator. With several aggregators, leave it on in one only.
    pub enabled: bool,
    /// The rules file, relative to the directory of `system.yaml` (env `EXPORTER_ALERTS`, which
    /// is relative to the working directory). See [`crate::Settings::alert_rules_path`].
    pub rules_file: PathBuf,
    /// Seconds between rule evaluations (1 to 300).
    pub evaluation_interval_seconds: u64,
    /// Seconds between checks of the rules file for changes (0: only on SIGHUP).
    pub watch_interval_seconds: u64,
    /// A notification alert resolves by itself after this long without a repeat.
    pub notification_resolve_after_seconds: u64,
    /// Days resolved alerts, transitions and the delivery log are kept.
    pub retention_days: u32,
}

impl Default for AlertsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            rules_file: PathBuf::from(DEFAULT_RULES_PATH),
            evaluation_interval_seconds: 5,
            watch_interval_seconds: 10,
            notification_resolve_after_seconds: 3600,
            retention_days: 90,
        }
    }
}

/// The whole rules file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
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
    #[serde(deserialize_with = "duration")]
    pub group_wait: Duration,
    /// How long a group waits before a message about new or changed alerts.
    #[serde(deserialize_with = "duration")]
    pub group_interval: Duration,
    /// How often a firing, unacknowledged, unsilenced alert is sent again.
    #[serde(deserialize_with = "duration")]
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

/// Kind of a receiver.
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
    /// Webhook/Slack URL, ntfy server (default https://ntfy.sh), Telegram API base (default
    /// https://api.telegram.org). A URL that holds a secret belongs in `url_env` or `url_file`.
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

/// One alert rule: exactly one of `expr`, `absent`, `logs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    /// Unique; becomes the `alertname` label.
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub severity: Severity,
    /// system, hardware, trading, market or logs.
    pub category: String,
    /// Threshold on a numeric series with label matchers, PromQL-like:
    /// `gpu.temperature_celsius{gpu="0"} > 85`, `filesystem.used_percent{mount=~"/data.*"} >= 90`.
    #[serde(default)]
    pub expr: Option<String>,
    /// For `expr`: a firing alert resolves only once the value is back beyond this (hysteresis;
    /// below it for `>`/`>=`, above it for `<`/`<=`).
    #[serde(default)]
    pub resolve_threshold: Option<f64>,
    /// For `expr`: a series not reported for this long no longer matches.
    #[serde(default = "five_minutes", deserialize_with = "duration")]
    pub stale_after: Duration,
    #[serde(default)]
    pub absent: Option<AbsentSettings>,
    #[serde(default)]
    pub logs: Option<LogRuleSettings>,
    /// How long the condition must hold before the alert fires (pending until then).
    #[serde(default, rename = "for", deserialize_with = "duration")]
    pub for_duration: Duration,
    /// How long a firing alert keeps firing after the condition cleared (against flapping).
    #[serde(default, deserialize_with = "duration")]
    pub keep_firing_for: Duration,
    /// Labels added to every alert of this rule.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Templates: `{{ value }}`, `{{ labels.host }}`, `{{ rule }}`, `{{ severity }}`.
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub description: String,
}

fn five_minutes() -> Duration {
    Duration::from_secs(300)
}

/// Fires when nothing arrived from a source for `after`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbsentSettings {
    /// Collector kind whose samples are expected (`system`, `hardware`, `portfolio`, ...).
    #[serde(default)]
    pub source: Option<String>,
    /// Or a process whose heartbeats are expected (`aggregator`, `api`, `collector-system`).
    #[serde(default)]
    pub process: Option<String>,
    /// Only these hosts (exact names; empty: every host seen).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Silence longer than this is absence.
    #[serde(deserialize_with = "duration")]
    pub after: Duration,
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
    #[serde(deserialize_with = "duration")]
    pub window: Duration,
}

fn error_level() -> String {
    "error".into()
}
fn one() -> u32 {
    1
}

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
    pub fn parse(text: &str) -> Result<Self, (String, String)> {
        let deserializer = serde_yaml::Deserializer::from_str(text);
        let rules: Self = serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let key = err.path().to_string();
            (key, err.into_inner().to_string())
        })?;
        rules.check()?;
        Ok(rules)
    }

    fn check(&self) -> Result<(), (String, String)> {
        let fail = |key: String, message: &str| Err((key, message.to_owned()));
        let mut names = std::collections::HashSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let key = |field: &str| format!("rules[{i}].{field}");
            if rule.name.trim().is_empty() {
                return fail(key("name"), "must not be empty");
            }
            if !names.insert(rule.name.as_str()) {
                return fail(key("name"), &format!("`{}` is used twice", rule.name));
            }
            let conditions = [
                rule.expr.is_some(),
                rule.absent.is_some(),
                rule.logs.is_some(),
            ];
            if conditions.iter().filter(|c| **c).count() != 1 {
                return fail(
                    key("expr"),
                    "a rule needs exactly one of expr, absent, logs",
                );
            }
            if !CATEGORIES.contains(&rule.category.as_str()) {
                return fail(
                    key("category"),
                    &format!(
                        "`{}` is not one of {}",
                        rule.category,
                        CATEGORIES.join(", ")
                    ),
                );
            }
            if let Some(absent) = &rule.absent {
                if absent.source.is_some() == absent.process.is_some() {
                    return fail(key("absent"), "needs exactly one of source, process");
                }
                if absent.after.is_zero() {
                    return fail(key("absent.after"), "must be more than 0s");
                }
            }
            if let Some(logs) = &rule.logs {
                if logs.window.is_zero() {
                    return fail(key("logs.window"), "must be more than 0s");
                }
                if logs.count == 0 {
                    return fail(key("logs.count"), "must be at least 1");
                }
            }
            if rule.resolve_threshold.is_some() && rule.expr.is_none() {
                return fail(key("resolve_threshold"), "only applies to expr rules");
            }
        }
        let mut receivers = std::collections::HashSet::new();
        for (i, receiver) in self.receivers.iter().enumerate() {
            let key = |field: &str| format!("receivers[{i}].{field}");
            if !receivers.insert(receiver.name.as_str()) {
                return fail(key("name"), &format!("`{}` is used twice", receiver.name));
            }
            let has_url =
                receiver.url.is_some() || receiver.url_env.is_some() || receiver.url_file.is_some();
            let has_token = receiver.token_env.is_some() || receiver.token_file.is_some();
            match receiver.kind {
                ReceiverType::Webhook | ReceiverType::Slack if !has_url => {
                    return fail(key("url"), "needs url, url_env or url_file");
                }
                ReceiverType::Ntfy if receiver.topic.is_none() => {
                    return fail(key("topic"), "an ntfy receiver needs a topic");
                }
                ReceiverType::Telegram if receiver.chat_id.is_none() || !has_token => {
                    return fail(
                        key("chat_id"),
                        "a telegram receiver needs chat_id and token_env or token_file",
                    );
                }
                _ => {}
            }
            if receiver.kind == ReceiverType::Slack && receiver.url.is_some() {
                return fail(
                    key("url"),
                    "a Slack webhook URL is a secret: put it in url_env or url_file",
                );
            }
            if let Some(url) = &receiver.url
                && url_has_credentials(url)
            {
                return fail(
                    key("url"),
                    "must not hold credentials: put a URL with a secret in url_env or url_file",
                );
            }
            if !(1..=20).contains(&receiver.max_attempts) {
                return fail(key("max_attempts"), "must be 1 to 20");
            }
            if !(1..=120).contains(&receiver.timeout_seconds) {
                return fail(key("timeout_seconds"), "must be 1 to 120");
            }
        }
        if self.route.group_interval.is_zero() || self.route.repeat_interval.is_zero() {
            return fail(
                "route.group_interval".into(),
                "group_interval and repeat_interval must be more than 0s",
            );
        }
        Ok(())
    }
}

/// Categories a rule may have.
pub const CATEGORIES: &[&str] = &["system", "hardware", "trading", "market", "logs"];

fn url_has_credentials(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    authority.contains('@')
}

/// Reads `30s`, `5m`, `1h`, `2d`, `500ms`, `1h30m` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let bad = || format!("`{text}` is not a duration (e.g. 30s, 5m, 1h, 1h30m, 500ms, 2d)");
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let too_long = || format!("`{text}` is too long a duration");
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let seconds_per = match unit {
            "ms" => {
                total = total
                    .checked_add(Duration::from_millis(number))
                    .ok_or_else(too_long)?;
                continue;
            }
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        let seconds = number.checked_mul(seconds_per).ok_or_else(too_long)?;
        total = total
            .checked_add(Duration::from_secs(seconds))
            .ok_or_else(too_long)?;
    }
    Ok(total)
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Seconds(seconds) => Ok(Duration::from_secs(seconds)),
        Raw::Text(text) => parse_duration(&text).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_every_unit() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert!(
            parse_duration("999999999999999999d")
                .unwrap_err()
                .contains("too long")
        );
    }

    #[test]
    fn the_shipped_rules_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts.yaml");
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
}
