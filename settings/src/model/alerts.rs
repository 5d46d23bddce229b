//! `alerts:`: whether this aggregator evaluates rules, where the rules file is, how often, how
//! long alert history is kept.
//!
//! The rules file itself (`settings/alerts.yaml`: rules, route, receivers) is the alerting
//! crate's (`exporter_alerting::schema`): its types, checks and compilation live there, used by
//! both the aggregator and `exporter check`.

use std::path::PathBuf;

use serde::Deserialize;

use super::key_path::{KeyPath, Validate, key};
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

impl Validate for AlertsSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.evaluation_interval_seconds).in_range(
            self.evaluation_interval_seconds,
            1,
            300,
        )?;
        key!(at, self.watch_interval_seconds).in_range(self.watch_interval_seconds, 0, 3600)?;
        key!(at, self.notification_resolve_after_seconds).in_range(
            self.notification_resolve_after_seconds,
            1,
            30 * 86_400,
        )?;
        key!(at, self.retention_days).in_range(u64::from(self.retention_days), 1, 3650)
    }
}
