//! `collectors.notifications:`: the trading system's notifications file (JSONL) followed.

use std::path::PathBuf;

use serde::Deserialize;

use super::StartPosition;
use crate::SettingsError;
use crate::model::key_path::{KeyPath, Validate, key};

/// The trading system's notifications written to a JSONL file (they can also be published on
/// `<prefix>.v1.ingest.notification` directly; that needs no collector).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsCollectorSettings {
    pub enabled: bool,
    /// The JSONL file to follow; none: the collector is not started.
    pub file: Option<PathBuf>,
    /// Where the file starts when it is there at the very first start (a file that appears
    /// later is always read from its start).
    pub start_position: StartPosition,
    pub poll_interval_ms: u64,
}

impl Default for NotificationsCollectorSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            file: None,
            start_position: StartPosition::End,
            poll_interval_ms: 250,
        }
    }
}

impl Validate for NotificationsCollectorSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.poll_interval_ms).in_range(self.poll_interval_ms, 10, 60_000)
    }
}
