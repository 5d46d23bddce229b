//! `collectors:`: what every collector shares (heartbeats, the buffer while NATS is away), and
//! one file per collector that has settings of its own.

mod hardware;
mod logs;
mod notifications;
mod pressure;
mod system;

use exporter_protocol::CollectorKind;
use serde::Deserialize;

pub use hardware::*;
pub use logs::*;
pub use notifications::*;
pub use pressure::*;
pub use system::*;

use super::key_path::{KeyPath, Validate, key};
use crate::{Settings, SettingsError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorsSettings {
    /// Seconds between heartbeats of every process.
    pub heartbeat_interval_seconds: u64,
    /// Seconds between self-metrics snapshots of every process (stored like samples: a
    /// shorter interval is finer history and more points).
    pub self_metrics_interval_seconds: u64,
    /// Samples a collector keeps while NATS is away; the oldest is dropped (and counted) beyond.
    pub buffer_max_samples: usize,
    pub system: SystemCollectorSettings,
    pub hardware: HardwareCollectorSettings,
    pub logs: LogsCollectorSettings,
    pub notifications: NotificationsCollectorSettings,
    pub pressure: PressureCollectorSettings,
}

impl Default for CollectorsSettings {
    fn default() -> Self {
        Self {
            heartbeat_interval_seconds: 5,
            self_metrics_interval_seconds: 15,
            buffer_max_samples: 10_000,
            system: SystemCollectorSettings::default(),
            hardware: HardwareCollectorSettings::default(),
            logs: LogsCollectorSettings::default(),
            notifications: NotificationsCollectorSettings::default(),
            pressure: PressureCollectorSettings::default(),
        }
    }
}

impl Settings {
    /// Collector kinds `exporter up` starts, in start order: the brokerage ones only when
    /// Alpaca keys are set, notifications only when a file is named.
    pub fn enabled_collector_kinds(&self) -> Vec<CollectorKind> {
        CollectorKind::ALL
            .into_iter()
            .filter(|kind| self.collector_enabled(*kind))
            .collect()
    }

    /// Whether `exporter up` starts the collector of `kind`.
    pub fn collector_enabled(&self, kind: CollectorKind) -> bool {
        let collectors = &self.collectors;
        match kind {
            CollectorKind::System => collectors.system.enabled,
            CollectorKind::Hardware => collectors.hardware.enabled,
            CollectorKind::Logs => collectors.logs.enabled,
            CollectorKind::Notifications => {
                collectors.notifications.enabled && collectors.notifications.file.is_some()
            }
            CollectorKind::Market => self.market.enabled,
            CollectorKind::Portfolio | CollectorKind::Trades => self.alpaca_keys.is_some(),
            CollectorKind::Pressure => collectors.pressure.enabled,
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
        key!(at, self.self_metrics_interval_seconds).in_range(
            self.self_metrics_interval_seconds,
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
        self.notifications.validate(&key!(at, self.notifications))?;
        self.pressure.validate(&key!(at, self.pressure))
    }
}
