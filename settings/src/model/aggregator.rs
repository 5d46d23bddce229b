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
    /// Most bytes of messages in one batch (the first message is always taken, however large):
    /// a flood of huge messages is written a few at a time, so the aggregator's memory stays
    /// near its working size.
    pub batch_max_bytes: usize,
    /// Longest one pull waits for its first message (a batch is then written with what is
    /// already there, never held back to fill).
    pub batch_max_wait_ms: u64,
    /// Seconds JetStream waits for an ack before redelivering: how soon the batch of an
    /// aggregator that died is given to another. A batch whose write takes longer is kept
    /// alive by in-progress acknowledgements, so this can stay short.
    pub ack_wait_seconds: u64,
    /// Most messages delivered and not yet acknowledged, across every aggregator. The batches
    /// of dead instances count against it until `ack_wait_seconds` passes, so it holds many
    /// batches (at least two): a few crashes in a row never stall ingest.
    pub max_ack_pending: u64,
    /// Seconds the oldest uncommitted message may wait in the stream before the aggregator
    /// logs that ingest is behind (the `exporter.ingest_lag_seconds` self-metric).
    pub lag_warn_seconds: u64,
    /// Seconds between sweeps for leftovers: messages the stream kept below the consumer's ack
    /// floor (after a NATS crash), removed when stored and published again when not.
    pub leftover_sweep_seconds: u64,
    /// Push-monitor URL (healthchecks.io, Uptime Kuma push, ...) pinged with a GET every
    /// `deadman_interval_seconds` while ingest and alert evaluation are healthy; the monitor
    /// pages when the pings stop. Unset: no pings. Its path is usually a secret token: keep the
    /// settings file private.
    pub deadman_url: Option<String>,
    /// Seconds between dead-man's switch pings, and between the `Watchdog` alerts sent to the
    /// alert receivers with `watchdog: true`.
    pub deadman_interval_seconds: u64,
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
            batch_max_bytes: 4 * 1024 * 1024,
            batch_max_wait_ms: 200,
            ack_wait_seconds: 5,
            max_ack_pending: 20_000,
            lag_warn_seconds: 30,
            leftover_sweep_seconds: 300,
            deadman_url: None,
            deadman_interval_seconds: 60,
            retention: TierRetentionSettings::default(),
            log_retention_days: 30,
        }
    }
}

impl Validate for AggregatorSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.batch_max_messages).in_range(self.batch_max_messages as u64, 1, 100_000)?;
        key!(at, self.batch_max_bytes).in_range(
            self.batch_max_bytes as u64,
            1024 * 1024,
            1024 * 1024 * 1024,
        )?;
        key!(at, self.batch_max_wait_ms).in_range(self.batch_max_wait_ms, 1, 60_000)?;
        key!(at, self.ack_wait_seconds).in_range(self.ack_wait_seconds, 1, 3600)?;
        key!(at, self.max_ack_pending).check(
            self.max_ack_pending >= 2 * self.batch_max_messages as u64
                && self.max_ack_pending <= 1_000_000,
            "must hold at least two batches (2 × batch_max_messages) and at most 1000000",
        )?;
        key!(at, self.lag_warn_seconds).in_range(self.lag_warn_seconds, 1, 86_400)?;
        key!(at, self.leftover_sweep_seconds).in_range(self.leftover_sweep_seconds, 1, 86_400)?;
        if let Some(url) = &self.deadman_url {
            key!(at, self.deadman_url).check(
                url.starts_with("http://") || url.starts_with("https://"),
                "must be an http:// or https:// URL",
            )?;
        }
        key!(at, self.deadman_interval_seconds).in_range(self.deadman_interval_seconds, 1, 3600)?;
        self.retention.validate(&key!(at, self.retention))?;
        key!(at, self.log_retention_days).in_range(u64::from(self.log_retention_days), 1, 3650)
    }
}
