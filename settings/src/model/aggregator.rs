//! `aggregator:`: how samples are batched into transactions, how long JetStream waits for the
//! ack, how long each tier of points is kept (`retention`), and how long log lines and ingested
//! message ids are kept.

use serde::Deserialize;

use super::key_path::{KeyPath, Validate, key};
use crate::SettingsError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AggregatorSettings {
    /// Most messages written in one transaction.
    pub batch_max_messages: usize,
    /// Longest one pull waits for its first message (a batch is then written with what is
    /// already there, never held back to fill).
    pub batch_max_wait_ms: u64,
    /// Seconds JetStream waits for an ack before redelivering.
    pub ack_wait_seconds: u64,
    /// Days each tier of points is kept (whole partitions past their age are dropped).
    pub retention: TierRetentionSettings,
    /// Days of log lines and of the ids of ingested messages kept (was part of
    /// `retention_days`, which now maps to `retention.raw_days`).
    pub log_retention_days: u32,
}

/// `aggregator.retention`: days kept per tier. A sample older than every tier is refused by the
/// decoder; one older than the raw tier goes straight into the roll-ups that still keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TierRetentionSettings {
    /// The points themselves (daily partitions).
    pub raw_days: u32,
    /// The 1-minute roll-up (daily partitions).
    pub minute_days: u32,
    /// The 1-hour roll-up (monthly partitions).
    pub hour_days: u32,
}

impl Default for TierRetentionSettings {
    fn default() -> Self {
        Self {
            raw_days: 7,
            minute_days: 90,
            hour_days: 730,
        }
    }
}

impl Validate for TierRetentionSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.raw_days).in_range(u64::from(self.raw_days), 1, 3650)?;
        key!(at, self.minute_days).in_range(u64::from(self.minute_days), 1, 3650)?;
        key!(at, self.hour_days).in_range(u64::from(self.hour_days), 1, 36_500)
    }
}

impl Default for AggregatorSettings {
    fn default() -> Self {
        Self {
            batch_max_messages: 500,
            batch_max_wait_ms: 200,
            ack_wait_seconds: 30,
            retention: TierRetentionSettings::default(),
            log_retention_days: 30,
        }
    }
}

impl Validate for AggregatorSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.batch_max_messages).in_range(self.batch_max_messages as u64, 1, 100_000)?;
        key!(at, self.batch_max_wait_ms).in_range(self.batch_max_wait_ms, 1, 60_000)?;
        key!(at, self.ack_wait_seconds).in_range(self.ack_wait_seconds, 1, 3600)?;
        self.retention.validate(&key!(at, self.retention))?;
        key!(at, self.log_retention_days).in_range(u64::from(self.log_retention_days), 1, 3650)
    }
}
