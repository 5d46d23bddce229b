//! `nats:`: the server, the JetStream stream that holds samples until the aggregator committed
//! them, and the durable consumer the aggregators share.

use serde::Deserialize;

use super::key_path::{KeyPath, Validate, key};
use crate::SettingsError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsSettings {
    /// Server URL (env `EXPORTER_NATS_URL`).
    pub url: String,
    /// First token of every subject (`<prefix>.v1.sample...`).
    pub subject_prefix: String,
    /// JetStream stream holding samples until the aggregator committed them.
    pub stream: String,
    /// Oldest a message may get in the stream before the server deletes it.
    pub stream_max_age_hours: u64,
    /// Size bound of the stream; when full, publishes are refused (collectors buffer and count).
    pub stream_max_bytes: i64,
    /// Durable consumer name shared by every aggregator instance.
    pub consumer: String,
    /// Seconds to wait for a JetStream ack before a publish counts as failed.
    pub publish_timeout_seconds: u64,
}

impl Default for NatsSettings {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            subject_prefix: "exporter".into(),
            stream: "EXPORTER_TELEMETRY".into(),
            stream_max_age_hours: 72,
            stream_max_bytes: 1024 * 1024 * 1024,
            consumer: "aggregator".into(),
            publish_timeout_seconds: 5,
        }
    }
}

/// One subject token (or stream or consumer name): letters, digits, `_` or `-`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Validate for NatsSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.url).check(!self.url.is_empty(), "must not be empty")?;
        key!(at, self.subject_prefix).check(
            is_token(&self.subject_prefix),
            "must be one subject token of letters, digits, `_` or `-`",
        )?;
        key!(at, self.stream).check(
            is_token(&self.stream),
            "must be letters, digits, `_` or `-`",
        )?;
        key!(at, self.consumer).check(
            is_token(&self.consumer),
            "must be letters, digits, `_` or `-`",
        )?;
        key!(at, self.stream_max_age_hours).in_range(self.stream_max_age_hours, 1, 24 * 365)?;
        key!(at, self.stream_max_bytes).check(
            self.stream_max_bytes >= 1024 * 1024,
            "must be at least 1048576 (1 MiB)",
        )?;
        key!(at, self.publish_timeout_seconds).in_range(self.publish_timeout_seconds, 1, 300)
    }
}
