//! `supervisor:`: how `exporter up` stops and restarts its children, when it holds a crash-looping
//! one back, and how large each child's log file grows.

use serde::Deserialize;

use super::key_path::{KeyPath, Validate, key};
use crate::SettingsError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisorSettings {
    /// Seconds between SIGTERM and SIGKILL when stopping a child.
    pub stop_grace_seconds: u64,
    /// First restart delay after a crash; doubles per crash up to the maximum, with jitter.
    pub restart_initial_delay_ms: u64,
    pub restart_max_delay_seconds: u64,
    /// A child that ran this long without dying resets its backoff.
    pub restart_reset_after_seconds: u64,
    /// A child exiting this many times within `crash_loop_window_seconds` is held back.
    pub crash_loop_max_exits: u32,
    pub crash_loop_window_seconds: u64,
    /// How long a crash-looping child is held back before one more try.
    pub crash_loop_hold_seconds: u64,
    /// Longest wait for a child's first heartbeat before the next one is started anyway.
    pub readiness_timeout_seconds: u64,
    /// Each child's log file (`state_dir/logs/<name>.log`) is rotated to `.1` past this size.
    pub log_max_bytes: u64,
}

impl Default for SupervisorSettings {
    fn default() -> Self {
        Self {
            stop_grace_seconds: 10,
            restart_initial_delay_ms: 500,
            restart_max_delay_seconds: 30,
            restart_reset_after_seconds: 60,
            crash_loop_max_exits: 5,
            crash_loop_window_seconds: 120,
            crash_loop_hold_seconds: 600,
            readiness_timeout_seconds: 30,
            log_max_bytes: 10 * 1024 * 1024,
        }
    }
}

impl Validate for SupervisorSettings {
    fn validate(&self, at: &KeyPath) -> Result<(), SettingsError> {
        key!(at, self.crash_loop_max_exits).in_range(
            u64::from(self.crash_loop_max_exits),
            2,
            1000,
        )?;
        key!(at, self.crash_loop_window_seconds).in_range(
            self.crash_loop_window_seconds,
            1,
            86_400,
        )?;
        key!(at, self.crash_loop_hold_seconds).in_range(self.crash_loop_hold_seconds, 1, 86_400)?;
        key!(at, self.readiness_timeout_seconds).in_range(
            self.readiness_timeout_seconds,
            1,
            600,
        )?;
        key!(at, self.log_max_bytes).in_range(self.log_max_bytes, 4096, 1 << 40)?;
        key!(at, self.stop_grace_seconds).in_range(self.stop_grace_seconds, 1, 600)?;
        key!(at, self.restart_initial_delay_ms).in_range(
            self.restart_initial_delay_ms,
            10,
            600_000,
        )?;
        key!(at, self.restart_max_delay_seconds).in_range(
            self.restart_max_delay_seconds,
            1,
            3600,
        )?;
        key!(at, self.restart_reset_after_seconds).in_range(
            self.restart_reset_after_seconds,
            1,
            86_400,
        )
    }
}
