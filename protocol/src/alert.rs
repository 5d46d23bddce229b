//! Alerts and the trading system's notifications, as they cross the bus.
//!
//! - [`Notification`]: what the trading engine publishes itself on
//!   `<prefix>.v1.ingest.notification` (plain JSON, documented in docs/alerts.md), or what the
//!   `notifications` collector reads from its JSONL file and publishes as a [`NotificationBatch`]
//!   sample. Each becomes an alert of its category.
//! - [`AlertEvent`]: every alert state change the aggregator publishes on
//!   `<prefix>.v1.alert.<event>` (core NATS) and stores.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::series::{HasSeries, SeriesPoint};

/// Ingest subject kind of notifications (`<prefix>.v1.ingest.notification`).
pub const INGEST_NOTIFICATION: &str = "notification";
/// Collector kind (and sample kind) of the JSONL notification file follower.
pub const NOTIFICATIONS_KIND: &str = "notifications";

/// How urgent an alert is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "info" | "information" | "notice" => Ok(Self::Info),
            "warning" | "warn" => Ok(Self::Warning),
            "critical" | "crit" | "error" | "fatal" => Ok(Self::Critical),
            other => Err(format!(
                "unknown severity `{other}` (info, warning, critical)"
            )),
        }
    }
}

/// Where an alert state stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The condition holds, but not yet for the rule's `for`.
    Pending,
    /// The condition held long enough; notifications go out.
    Firing,
    /// The condition stopped holding (after `keep_firing_for`): a final state.
    Resolved,
    /// It was pending and the condition cleared before `for`: a final state, never notified.
    Inactive,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Firing => "firing",
            Self::Resolved => "resolved",
            Self::Inactive => "inactive",
        }
    }

    /// True for the states an alert never leaves.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Resolved | Self::Inactive)
    }
}

impl fmt::Display for AlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(Self::Pending),
            "firing" => Ok(Self::Firing),
            "resolved" => Ok(Self::Resolved),
            "inactive" => Ok(Self::Inactive),
            other => Err(format!(
                "unknown state `{other}` (pending, firing, resolved, inactive)"
            )),
        }
    }
}

/// One alert: a rule and one label set (its fingerprint), from pending to resolved. Firing again
/// after it resolved is a new alert with a new id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Alert {
    pub id: Uuid,
    /// Stable hash of the rule name and the labels: the de-duplication key.
    pub fingerprint: String,
    pub rule: String,
    pub severity: Severity,
    /// system, hardware, trading, market, logs (or a notification's own category).
    pub category: String,
    pub state: AlertState,
    /// The rule's labels and the series' labels (`host`, `gpu`, ...), plus `alertname`.
    pub labels: BTreeMap<String, String>,
    /// Rendered templates: `summary`, `description`.
    pub annotations: BTreeMap<String, String>,
    /// The value that made it fire (a threshold's value, a line count, seconds of absence).
    #[serde(default)]
    pub value: Option<f64>,
    /// When the condition was first seen (the pending start).
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub fired_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub acknowledged_by: Option<String>,
    /// Last time the condition was evaluated true.
    pub last_active_at: DateTime<Utc>,
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertEventKind {
    Pending,
    Firing,
    Resolved,
    Inactive,
    Acknowledged,
}

impl AlertEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Firing => "firing",
            Self::Resolved => "resolved",
            Self::Inactive => "inactive",
            Self::Acknowledged => "acknowledged",
        }
    }
}

/// Published on `<prefix>.v1.alert.<kind>` for every state change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertEvent {
    pub kind: AlertEventKind,
    pub time: DateTime<Utc>,
    pub alert: Alert,
}

/// One notification of the trading system (documented JSON; unknown fields are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// When it happened; defaults to when it was received.
    #[serde(default)]
    pub time: Option<DateTime<Utc>>,
    /// info, warning or critical (`error` reads as critical).
    pub severity: String,
    /// What kind of event: `order_rejected`, `strategy_halted`, `risk_limit`, ...
    pub category: String,
    pub title: String,
    #[serde(default)]
    pub message: String,
    /// Extra labels (`strategy`, `symbol`, ...); part of the alert's identity.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// True when the condition it reported is over: resolves the matching alert.
    #[serde(default)]
    pub resolved: bool,
}

impl Notification {
    /// Checks what serde cannot: a known severity, non-empty category and title, no NUL.
    pub fn validate(&self) -> Result<Severity, String> {
        let severity: Severity = self.severity.parse()?;
        if self.category.trim().is_empty() {
            return Err("`category` must not be empty".into());
        }
        if self.title.trim().is_empty() {
            return Err("`title` must not be empty".into());
        }
        let strings = [&self.severity, &self.category, &self.title, &self.message];
        if strings.iter().any(|s| s.contains('\0'))
            || self
                .labels
                .iter()
                .any(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err("a string contains a NUL character".into());
        }
        Ok(severity)
    }
}

/// Payload of the `notifications` collector's samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotificationBatch {
    pub notifications: Vec<Notification>,
}

impl HasSeries for NotificationBatch {
    fn series(&self) -> Vec<SeriesPoint> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_parse_and_validate() {
        let raw = r#"{"severity":"error","category":"order_rejected","title":"AAPL buy rejected",
            "message":"insufficient buying power","labels":{"strategy":"momo"},"extra":1}"#;
        let n: Notification = serde_json::from_str(raw).unwrap();
        assert_eq!(n.validate().unwrap(), Severity::Critical);
        let bad = Notification {
            severity: "loud".into(),
            ..n.clone()
        };
        assert!(bad.validate().unwrap_err().contains("loud"));
        let empty = Notification {
            title: " ".into(),
            ..n
        };
        assert!(empty.validate().unwrap_err().contains("title"));
    }
}

/// One label matcher of a silence, as in Alertmanager: `name` equals (or, with `is_regex`, fully
/// matches) `value`; `is_equal: false` negates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Matcher {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub is_regex: bool,
    #[serde(default = "default_true")]
    pub is_equal: bool,
}

fn default_true() -> bool {
    true
}

/// Largest compiled program one matcher's regex may take (the `regex` crate's size limit): a
/// pattern beyond it is refused when the silence is created, so no silence can make every
/// evaluation and every `GET /alerts` slow.
pub const MATCHER_REGEX_SIZE_LIMIT_BYTES: usize = 10 << 20;

/// Most distinct matcher regexes kept compiled; beyond it the cache starts over.
const MATCHER_REGEX_CACHE_ENTRIES: usize = 1024;

/// The anchored regex of a matcher value, compiled once per process and pattern: silences are
/// read again on every evaluation and every `GET /alerts`, and their matchers are checked
/// against every alert.
fn matcher_regex(value: &str) -> Result<std::sync::Arc<regex::Regex>, String> {
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock, Mutex};
    static CACHE: LazyLock<Mutex<HashMap<String, Arc<regex::Regex>>>> =
        LazyLock::new(Mutex::default);
    if let Some(regex) = CACHE
        .lock()
        .ok()
        .and_then(|cache| cache.get(value).cloned())
    {
        return Ok(regex);
    }
    let regex = regex::RegexBuilder::new(&format!("^(?:{value})$"))
        .size_limit(MATCHER_REGEX_SIZE_LIMIT_BYTES)
        .dfa_size_limit(MATCHER_REGEX_SIZE_LIMIT_BYTES)
        .build()
        .map(Arc::new)
        .map_err(|err| err.to_string())?;
    if let Ok(mut cache) = CACHE.lock() {
        if cache.len() >= MATCHER_REGEX_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(value.to_owned(), regex.clone());
    }
    Ok(regex)
}

impl Matcher {
    /// Checks the regex compiles (anchored, as Alertmanager does) within
    /// [`MATCHER_REGEX_SIZE_LIMIT_BYTES`].
    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() {
            return Err("a matcher needs a label name".into());
        }
        if self.is_regex {
            matcher_regex(&self.value)
                .map_err(|err| format!("matcher `{}`: invalid regex: {err}", self.name))?;
        }
        Ok(())
    }

    /// True when `labels` satisfy this matcher (a missing label reads as the empty string).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.name).map(String::as_str).unwrap_or("");
        let hit = if self.is_regex {
            matcher_regex(&self.value).is_ok_and(|re| re.is_match(value))
        } else {
            value == self.value
        };
        hit == self.is_equal
    }
}

/// A silence: while active, alerts whose labels satisfy every matcher send no notification
/// (they still fire, are stored and listed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Silence {
    pub id: Uuid,
    pub matchers: Vec<Matcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
    pub created_at: DateTime<Utc>,
    /// Set when it was deleted before its end.
    #[serde(default)]
    pub expired_at: Option<DateTime<Utc>>,
}

impl Silence {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.expired_at.is_none() && self.starts_at <= now && now < self.ends_at
    }

    /// True when active at `now` and every matcher holds for `labels`.
    pub fn silences(&self, labels: &BTreeMap<String, String>, now: DateTime<Utc>) -> bool {
        self.is_active(now) && self.matchers.iter().all(|m| m.matches(labels))
    }
}

#[cfg(test)]
mod silence_tests {
    use super::*;

    #[test]
    fn a_matcher_regex_is_compiled_once_and_a_huge_one_refused() {
        // A regex-heavy value a user may well write is accepted...
        let first = matcher_regex("[\\p{L}\\p{N}]{0,200}").unwrap();
        let again = matcher_regex("[\\p{L}\\p{N}]{0,200}").unwrap();
        assert!(std::sync::Arc::ptr_eq(&first, &again));
        let huge = Matcher {
            name: "alertname".into(),
            value: "[\\p{L}\\p{N}]{0,5000}".into(),
            is_regex: true,
            is_equal: true,
        };
        let err = huge.validate().unwrap_err();
        assert!(
            err.contains("invalid regex") && err.contains("size limit"),
            "{err}"
        );
    }

    #[test]
    fn silences_match_all_matchers_within_their_window() {
        let now = Utc::now();
        let silence = Silence {
            id: Uuid::now_v7(),
            matchers: vec![
                Matcher {
                    name: "alertname".into(),
                    value: "Gpu.*".into(),
                    is_regex: true,
                    is_equal: true,
                },
                Matcher {
                    name: "host".into(),
                    value: "lab".into(),
                    is_regex: false,
                    is_equal: false,
                },
            ],
            starts_at: now - chrono::Duration::minutes(1),
            ends_at: now + chrono::Duration::hours(1),
            created_by: "owner".into(),
            comment: String::new(),
            created_at: now,
            expired_at: None,
        };
        let labels = |name: &str, host: &str| {
            BTreeMap::from([
                ("alertname".to_owned(), name.to_owned()),
                ("host".to_owned(), host.to_owned()),
            ])
        };
        assert!(silence.silences(&labels("GpuHot", "gh200"), now));
        assert!(!silence.silences(&labels("GpuHot", "lab"), now));
        assert!(!silence.silences(&labels("HostCpuHigh", "gh200"), now));
        assert!(!silence.silences(&labels("GpuHot", "gh200"), now + chrono::Duration::hours(2)));
    }
}
