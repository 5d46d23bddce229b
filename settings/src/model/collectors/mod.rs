//! `collectors:`: what every collector shares (heartbeats, the buffer while NATS is away), and
//! one file per collector that has settings of its own.

mod hardware;
mod logs;
mod notifications;
mod system;

use serde::Deserialize;

pub use hardware::*;
pub use logs::*;
pub use notifications::*;
pub use system::*;

use super::key_path::{KeyPath, Validate, key};
use crate::SettingsError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorsSettings {
    /// Seconds between heartbeats of every process.
    pub heartbeat_interval_seconds: u64,
    /// Samples a collector keeps while NATS is away; the oldest is dropped (and counted) beyond.
    pub buffer_max_samples: usize,
    pub system: SystemCollectorSettings,
    pub hardware: HardwareCollectorSettings,
    pub logs: LogsCollectorSettings,
    pub notifications: NotificationsCollectorSettings,
}

impl Default for CollectorsSettings {
    fn default() -> Self {
        Self {
            heartbeat_interval_seconds: 5,
            buffer_max_samples: 10_000,
            system: SystemCollectorSettings::default(),
            hardware: HardwareCollectorSettings::default(),
            logs: LogsCollectorSettings::default(),
            notifications: NotificationsCollectorSettings::default(),
        }
    }
}

/// Where a followed file starts when no read position was saved for it yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartPosition {
    /// Read the whole file.
    Beginning,
    /// Only what is written from now on.
    End,
}

impl Validate for CollectorsSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.heartbeat_interval_seconds).in_range(
            self.heartbeat_interval_seconds,
            1,
            3600,
        )?;
        key!(at, self.buffer_max_samples).in_range(
            self.buffer_max_samples as u64,
            1,
            10_000_000,
        )?;
        self.system.validate(&key!(at, self.system))?;
        self.hardware.validate(&key!(at, self.hardware))?;
        self.logs.validate(&key!(at, self.logs))?;
        self.notifications.validate(&key!(at, self.notifications))
    }
}
