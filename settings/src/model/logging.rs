//! `logging:`: how every binary writes its own log lines (text or JSON, and the default filter).

use serde::Deserialize;

use super::key_path::{KeyPath, Validate};
use crate::SettingsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingSettings {
    pub format: LogFormat,
    /// Default filter when `RUST_LOG` is not set, e.g. `info` or `info,exporter_aggregator=debug`.
    pub level: String,
}

impl Default for LoggingSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

impl Validate for LoggingSettings {
    /// Nothing to check beyond the types: the filter is parsed where the subscriber starts.
    fn validate(&self, _at: &KeyPath) -> Result<(), SettingsError> {
        Ok(())
    }
}
