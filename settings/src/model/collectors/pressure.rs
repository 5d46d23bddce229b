//! `collectors.pressure:`: Linux pressure stall information (how long tasks waited for CPU,
//! memory or I/O), the kernel's own measure of a host that is too busy.

use std::path::PathBuf;

use serde::Deserialize;

use crate::SettingsError;
use crate::model::key_path::{KeyPath, Validate, key};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PressureCollectorSettings {
    /// Off by default; `exporter up` starts it when true.
    pub enabled: bool,
    /// Seconds between samples (1 to 3600).
    pub interval_seconds: u64,
    /// Where `pressure/{cpu,memory,io}` are read from (tests point it at a fixture).
    pub proc_root: PathBuf,
}

impl Default for PressureCollectorSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            interval_seconds: 5,
            proc_root: PathBuf::from("/proc"),
        }
    }
}

impl Validate for PressureCollectorSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.interval_seconds).in_range(self.interval_seconds, 1, 3600)
    }
}
