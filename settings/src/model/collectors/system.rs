//! `collectors.system:`: CPU, memory, disks and network every few seconds, and the processes to
//! watch (is the trading engine alive?).

use serde::Deserialize;

use crate::SettingsError;
use crate::model::key_path::{KeyPath, Validate, key};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemCollectorSettings {
    pub enabled: bool,
    /// Seconds between samples (1 to 3600).
    pub interval_seconds: u64,
    /// Mount points to leave out (pseudo filesystems are always left out).
    pub ignore_mount_points: Vec<String>,
    /// Processes to watch: is the trading engine alive?
    pub watch_processes: Vec<ProcessWatch>,
}

impl Default for SystemCollectorSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_seconds: 5,
            ignore_mount_points: Vec::new(),
            watch_processes: Vec::new(),
        }
    }
}

/// One process watch: matches by exact process name, or by a regular expression on the command
/// line, or both (then both must match).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessWatch {
    /// Name shown in samples and used as the series label.
    pub name: String,
    #[serde(default)]
    pub process_name: Option<String>,
    #[serde(default)]
    pub cmdline_pattern: Option<String>,
}

impl Validate for SystemCollectorSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.interval_seconds).in_range(self.interval_seconds, 1, 3600)?;
        key!(at, self.watch_processes).each(&self.watch_processes, |at, watch| watch.validate(at))
    }
}

impl Validate for ProcessWatch {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.name).check(!self.name.is_empty(), "must not be empty")?;
        at.check(
            self.process_name.is_some() || self.cmdline_pattern.is_some(),
            "needs process_name, cmdline_pattern or both",
        )?;
        match self.cmdline_pattern.as_deref().map(regex_syntax_ok) {
            Some(Err(message)) => Err(key!(at, self.cmdline_pattern).invalid(message)),
            _ => Ok(()),
        }
    }
}

/// Compiles a pattern to report a syntax error at load time rather than in the collector.
fn regex_syntax_ok(pattern: &str) -> Result<(), String> {
    regex::Regex::new(pattern)
        .map(|_| ())
        .map_err(|err| err.to_string())
}
