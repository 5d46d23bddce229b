//! `collectors.hardware:`: sensors, power rails and the GPU (through NVML) every few seconds.

use std::path::PathBuf;

use serde::Deserialize;

use crate::SettingsError;
use crate::model::key_path::{KeyPath, Validate, key};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HardwareCollectorSettings {
    pub enabled: bool,
    /// Seconds between samples (1 to 3600).
    pub interval_seconds: u64,
    /// Root of the sysfs tree read for hwmon and thermal zones (tests point it at a fixture).
    pub sysfs_root: PathBuf,
    /// Seconds between attempts to load NVML while it is unavailable.
    pub nvml_retry_seconds: u64,
}

impl Default for HardwareCollectorSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_seconds: 5,
            sysfs_root: PathBuf::from("/sys"),
            nvml_retry_seconds: 300,
        }
    }
}

impl Validate for HardwareCollectorSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.interval_seconds).in_range(self.interval_seconds, 1, 3600)?;
        key!(at, self.nvml_retry_seconds).in_range(self.nvml_retry_seconds, 5, 86_400)
    }
}
